from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import OmochiOrderCommon


@tagged("post_install", "-at_install")
class TestOmochiOrderAccess(OmochiOrderCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env, "omochi_test_user", groups="omochi_orders.group_omochi_user"
        )
        cls.manager = new_test_user(
            cls.env, "omochi_test_manager", groups="omochi_orders.group_omochi_manager"
        )
        cls.employee = new_test_user(cls.env, "omochi_test_employee")

        # A company customer with a contact who has portal access, and a
        # second portal customer.
        cls.customer_company = cls.env["res.partner"].create(
            {"name": "Portal Company", "is_company": True}
        )
        cls.customer_contact = cls.env["res.partner"].create(
            {"name": "Portal Contact", "parent_id": cls.customer_company.id}
        )
        cls.portal_user = new_test_user(
            cls.env,
            "omochi_test_portal",
            groups="base.group_portal",
            partner_id=cls.customer_contact.id,
        )
        cls.other_portal_user = new_test_user(
            cls.env, "omochi_test_portal2", groups="base.group_portal"
        )

        cls.company_b = cls.env["res.company"].create(
            {"name": "Omochi Company B", "currency_id": cls.jpy.id}
        )
        cls.user_b = new_test_user(
            cls.env,
            "omochi_test_user_b",
            groups="omochi_orders.group_omochi_user",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )

        cls.order_company = cls._create_order(partner=cls.customer_company)
        cls.order_contact = cls._create_order(partner=cls.customer_contact)
        cls.order_other = cls._create_order(partner=cls.customer)
        cls.orders_a = cls.order_company | cls.order_contact | cls.order_other
        cls.order_b = cls._create_order(
            partner=cls.customer, currency=cls.jpy, company_id=cls.company_b.id
        )

    def _orders_domain(self):
        """Domain restricting searches to the orders of this test."""
        return [("id", "in", (self.orders_a | self.order_b).ids)]

    def test_groups(self):
        manager_group = self.env.ref("omochi_orders.group_omochi_manager")
        user_group = self.env.ref("omochi_orders.group_omochi_user")
        self.assertIn(user_group, manager_group.implied_ids)
        self.assertTrue(self.manager.has_group("omochi_orders.group_omochi_user"))
        self.assertFalse(self.user.has_group("omochi_orders.group_omochi_manager"))
        self.assertTrue(
            self.env.ref("base.user_admin").has_group(
                "omochi_orders.group_omochi_manager"
            )
        )
        self.assertEqual(user_group.category_id.name, "Omochi")

    def test_user_workflow(self):
        Order = self.env["omochi.order"].with_user(self.user)
        order = Order.create(
            {
                "partner_id": self.customer.id,
                "line_ids": [Command.create({"name": "Mochi", "price_unit": 2.5})],
            }
        )
        self.assertEqual(order.amount_total, 2.5)
        order.line_ids.quantity = 2
        self.assertEqual(order.amount_total, 5.0)
        order.action_confirm()
        self.assertEqual(order.state, "confirmed")
        with self.assertRaises(UserError):
            order.unlink()
        order.action_cancel()
        self.assertEqual(order.state, "cancelled")
        order.unlink()
        self.assertFalse(order.exists())
        self.assertEqual(Order.search_count(self._orders_domain()), 3)

    def test_manager(self):
        Order = self.env["omochi.order"].with_user(self.manager)
        self.assertEqual(Order.search(self._orders_domain()), self.orders_a)
        order = self.order_other.with_user(self.manager)
        order.action_confirm()
        self.assertEqual(order.state, "confirmed")
        order.action_draft()
        order.line_ids.unlink()
        order.unlink()
        self.assertFalse(order.exists())

    def test_employee_without_group(self):
        with self.assertRaises(AccessError):
            self.env["omochi.order"].with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.order_other.with_user(self.employee).read(["name"])

    def test_portal_sees_own_commercial_partner_orders(self):
        Order = self.env["omochi.order"].with_user(self.portal_user)
        own = self.order_company | self.order_contact
        self.assertEqual(Order.search(self._orders_domain()), own)
        self.assertEqual(Order.search_count(self._orders_domain()), 2)
        self.assertEqual(
            self.order_contact.with_user(self.portal_user).read(["amount_total"])[0][
                "amount_total"
            ],
            10.0,
        )
        Line = self.env["omochi.order.line"].with_user(self.portal_user)
        self.assertEqual(
            Line.search([("order_id", "in", self.orders_a.ids)]), own.line_ids
        )
        with self.assertRaises(AccessError):
            self.order_other.with_user(self.portal_user).read(["name"])
        with self.assertRaises(AccessError):
            self.order_other.line_ids.with_user(self.portal_user).read(["name"])

    def test_portal_other_customer_sees_nothing(self):
        Order = self.env["omochi.order"].with_user(self.other_portal_user)
        self.assertEqual(Order.search_count(self._orders_domain()), 0)
        with self.assertRaises(AccessError):
            self.order_company.with_user(self.other_portal_user).read(["name"])

    def test_portal_cannot_write(self):
        order = self.order_contact.with_user(self.portal_user)
        with self.assertRaises(AccessError):
            order.write({"note": "changed"})
        with self.assertRaises(AccessError):
            order.line_ids.write({"quantity": 5})
        with self.assertRaises(AccessError):
            self.env["omochi.order"].with_user(self.portal_user).create(
                {"partner_id": self.customer_contact.id}
            )
        with self.assertRaises(AccessError):
            order.unlink()
        self.assertEqual(self.order_contact.line_ids.quantity, 1.0)

    def test_other_company_user(self):
        Order = self.env["omochi.order"].with_user(self.user_b)
        self.assertEqual(Order.search(self._orders_domain()), self.order_b)
        self.assertEqual(
            Order.search_count([("id", "in", self.orders_a.ids)]),
            0,
        )
        Line = self.env["omochi.order.line"].with_user(self.user_b)
        self.assertEqual(Line.search_count([("order_id", "in", self.orders_a.ids)]), 0)
        with self.assertRaises(AccessError):
            self.order_other.with_user(self.user_b).read(["name"])
        with self.assertRaises(AccessError):
            self.order_other.line_ids.with_user(self.user_b).read(["name"])
        # and the user of the main company does not see company B's order
        user_orders = self.env["omochi.order"].with_user(self.user)
        self.assertEqual(user_orders.search(self._orders_domain()), self.orders_a)
