"""The customer portal of the orders: /my, /my/omochi_orders,
/my/omochi_orders/<id> and the "Send by Email" link, through Odoo's HTTP
stack; next to the portals of Odoo's own addons."""

from unittest.mock import patch

from lxml import html

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from ..controllers.portal import OmochiOrderPortal
from .common import OmochiOrderCommon


@tagged("post_install", "-at_install")
class TestOmochiOrderPortal(OmochiOrderCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A company customer whose contact has portal access...
        cls.customer_company = cls.env["res.partner"].create(
            {"name": "Portal Sweets Co.", "is_company": True}
        )
        cls.customer_contact = cls.env["res.partner"].create(
            {"name": "Portal Buyer", "parent_id": cls.customer_company.id}
        )
        cls.portal_user = new_test_user(
            cls.env,
            "omochi_portal_buyer",
            groups="base.group_portal",
            partner_id=cls.customer_contact.id,
        )
        # ... and another portal customer.
        cls.other_partner = cls.env["res.partner"].create(
            {"name": "Other Customer", "email": "other@example.com"}
        )
        cls.other_portal_user = new_test_user(
            cls.env,
            "omochi_portal_other",
            groups="base.group_portal",
            partner_id=cls.other_partner.id,
        )
        cls.omochi_user = new_test_user(
            cls.env, "omochi_portal_staff", groups="omochi_orders.group_omochi_user"
        )

        def confirmed(partner, lines, **vals):
            order = cls._create_order(lines=lines, partner=partner, **vals)
            order.action_confirm()
            return order

        cls.order_small = confirmed(cls.customer_company, ((1.0, 5.0),))
        cls.order_big = confirmed(cls.customer_contact, ((3.0, 40.0),))
        cls.order_paid = confirmed(cls.customer_company, ((2.0, 12.5),))
        cls.order_paid._omochi_set_state("paid")
        cls.order_cancelled = confirmed(cls.customer_company, ((1.0, 70.0),))
        cls.order_cancelled.action_cancel()
        cls.order_draft = cls._create_order(partner=cls.customer_company)
        cls.listed = (
            cls.order_small | cls.order_big | cls.order_paid | cls.order_cancelled
        )
        cls.order_other = confirmed(cls.other_partner, ((1.0, 99.0),))

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def get(self, url):
        response = self.url_open(url, allow_redirects=False)
        self.assertNotEqual(response.status_code, 500, response.text)
        return response

    def listed_ids(self, url):
        """The ids of the orders of the list at ``url``, in order."""
        response = self.get(url)
        self.assertEqual(response.status_code, 200)
        tree = html.fromstring(response.content)
        return [
            int(row.get("data-order-id"))
            for row in tree.xpath("//tr[hasclass('o_omochi_portal_order')]")
        ]

    # ------------------------------------------------------------------
    # /my
    # ------------------------------------------------------------------

    def test_home_orders_entry_and_count(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.get("/my")
        self.assertEqual(response.status_code, 200)
        self.assertIn('data-placeholder_count="omochi_order_count"', response.text)
        self.assertIn('href="/my/omochi_orders"', response.text)
        counters = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["omochi_order_count"]}
        )
        # Drafts are not listed; the other customer's order is not counted.
        self.assertEqual(counters, {"omochi_order_count": 4})

        self.authenticate(self.other_portal_user.login, self.other_portal_user.login)
        counters = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["omochi_order_count"]}
        )
        self.assertEqual(counters, {"omochi_order_count": 1})

    # ------------------------------------------------------------------
    # /my/omochi_orders
    # ------------------------------------------------------------------

    def test_list_only_own_orders(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        ids = self.listed_ids("/my/omochi_orders")
        self.assertEqual(set(ids), set(self.listed.ids))
        response = self.get("/my/omochi_orders")
        for order in self.listed:
            self.assertIn(order.name, response.text)
        self.assertNotIn(self.order_other.name, response.text)
        self.assertNotIn(self.order_draft.name, response.text)
        # each row links to the order page
        self.assertIn(
            f"/my/omochi_orders/{self.order_small.id}?access_token=", response.text
        )

        self.authenticate(self.other_portal_user.login, self.other_portal_user.login)
        self.assertEqual(self.listed_ids("/my/omochi_orders"), self.order_other.ids)

    def test_list_requires_login(self):
        response = self.get("/my/omochi_orders")
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])

    def test_list_pager(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        with patch.object(OmochiOrderPortal, "_items_per_page", 3):
            page1 = self.listed_ids("/my/omochi_orders?sortby=total")
            page2 = self.listed_ids("/my/omochi_orders/page/2?sortby=total")
            response = self.get("/my/omochi_orders?sortby=total")
        self.assertEqual(len(page1), 3)
        self.assertEqual(len(page2), 1)
        self.assertEqual(set(page1 + page2), set(self.listed.ids))
        tree = html.fromstring(response.content)
        links = tree.xpath("//ul[hasclass('pagination')]//a/@href")
        self.assertIn("/my/omochi_orders/page/2?sortby=total&filterby=all", links)

    def test_list_sorting(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        by_total = self.listed.sorted("amount_total", reverse=True).ids
        self.assertEqual(self.listed_ids("/my/omochi_orders?sortby=total"), by_total)
        by_name = self.listed.sorted("name", reverse=True).ids
        self.assertEqual(self.listed_ids("/my/omochi_orders?sortby=name"), by_name)
        by_date = self.listed.sorted(lambda o: (o.date_order, o.id), reverse=True).ids
        self.assertEqual(self.listed_ids("/my/omochi_orders?sortby=date"), by_date)
        by_state = self.listed_ids("/my/omochi_orders?sortby=state")
        states = [self.env["omochi.order"].browse(i).state for i in by_state]
        self.assertEqual(states, sorted(states))
        # an unknown key falls back to the default (newest first)
        self.assertEqual(
            self.listed_ids("/my/omochi_orders?sortby=amount_total"), by_date
        )

    def test_list_state_filter(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertEqual(
            set(self.listed_ids("/my/omochi_orders?filterby=to_pay")),
            {self.order_small.id, self.order_big.id},
        )
        self.assertEqual(
            self.listed_ids("/my/omochi_orders?filterby=paid"), self.order_paid.ids
        )
        self.assertEqual(
            self.listed_ids("/my/omochi_orders?filterby=cancelled"),
            self.order_cancelled.ids,
        )
        self.assertEqual(self.listed_ids("/my/omochi_orders?filterby=refunded"), [])
        self.assertEqual(
            set(self.listed_ids("/my/omochi_orders?filterby=nonsense")),
            set(self.listed.ids),
        )
        response = self.get("/my/omochi_orders?filterby=refunded")
        self.assertIn("There are currently no orders", response.text)
        self.assertIn("portal_searchbar_filters", response.text)

    # ------------------------------------------------------------------
    # /my/omochi_orders/<id>
    # ------------------------------------------------------------------

    def test_order_page_own(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        order = self.order_big
        response = self.get(f"/my/omochi_orders/{order.id}")
        self.assertEqual(response.status_code, 200)
        tree = html.fromstring(response.content)
        self.assertIn(order.name, response.text)
        self.assertIn(self.product.display_name, response.text)
        total = tree.xpath("//h2[@data-id='total_amount']")[0].text_content()
        self.assertIn("120.00", total)
        self.assertIn("€", total)
        self.assertEqual(
            tree.xpath("//*[hasclass('o_omochi_order_state')]/@data-state")[0],
            "confirmed",
        )
        self.assertEqual(
            tree.xpath(
                "//*[hasclass('o_omochi_order_payment_state')]/@data-payment-state"
            )[0],
            "not_paid",
        )
        self.assertTrue(tree.xpath("//div[@id='omochi_order_payment']"))
        # the draft of the customer is reachable too (not listed)
        self.assertEqual(
            self.get(f"/my/omochi_orders/{self.order_draft.id}").status_code, 200
        )

    def test_order_page_of_another_customer_is_404(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.get(f"/my/omochi_orders/{self.order_other.id}")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(self.order_other.name, response.text)
        self.assertNotIn("Other Customer", response.text)
        # an unknown id looks exactly the same
        missing = self.get("/my/omochi_orders/999999999")
        self.assertEqual(missing.status_code, 404)
        # a token of one's own order does not open another order
        own_token = self.order_small._portal_ensure_token()
        response = self.get(
            f"/my/omochi_orders/{self.order_other.id}?access_token={own_token}"
        )
        self.assertEqual(response.status_code, 404)

    def test_order_page_with_access_token_without_login(self):
        order = self.order_other
        token = order._portal_ensure_token()
        response = self.get(f"/my/omochi_orders/{order.id}?access_token={token}")
        self.assertEqual(response.status_code, 200)
        self.assertIn(order.name, response.text)
        self.assertEqual(self.get(f"/my/omochi_orders/{order.id}").status_code, 404)
        wrong = self.get(f"/my/omochi_orders/{order.id}?access_token={token[:-1]}x")
        self.assertEqual(wrong.status_code, 404)
        self.assertNotIn(order.name, wrong.text)
        self.assertEqual(
            self.get(f"/my/omochi_orders/{order.id}?access_token=").status_code, 404
        )
        # the token works for a logged-in customer who does not own the order
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.get(f"/my/omochi_orders/{order.id}?access_token={token}")
        self.assertEqual(response.status_code, 200)

    # ------------------------------------------------------------------
    # Send by Email
    # ------------------------------------------------------------------

    def test_send_by_email(self):
        order = self.order_big.with_user(self.omochi_user)
        action = order.action_send_by_email()
        self.assertEqual(action["res_model"], "mail.compose.message")
        template = self.env.ref("omochi_orders.mail_template_omochi_order")
        self.assertEqual(action["context"]["default_template_id"], template.id)
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.omochi_user)
            .with_context(**action["context"])
            .create({})
        )
        self.assertEqual(composer.template_id, template)
        link = (
            f"/my/omochi_orders/{order.id}?access_token={self.order_big.access_token}"
        )
        self.assertTrue(self.order_big.access_token)
        self.assertIn(link, composer.body)
        self.assertIn(order.name, composer.subject)
        self.assertEqual(composer.partner_ids, self.customer_contact)
        composer._action_send_mail()
        message = self.order_big.message_ids[0]
        self.assertIn(link, message.body)
        # the link opens the order without logging in
        response = self.get(link)
        self.assertEqual(response.status_code, 200)
        self.assertIn(order.name, response.text)

    def test_send_by_email_requires_write_access(self):
        with self.assertRaises(AccessError):
            self.order_big.with_user(self.portal_user).action_send_by_email()

    # ------------------------------------------------------------------
    # Next to Odoo's own portals
    # ------------------------------------------------------------------

    def test_odoo_portal_paths_left_to_their_owners(self):
        """``/my/orders`` belongs to ``sale``: with ``sale`` installed it lists
        the customer's sale orders and none of ours; without it, nothing is
        served there. Our pages list only our orders either way."""
        self.authenticate(self.portal_user.login, self.portal_user.login)
        if "sale.order" in self.env:
            sale_order = self.env["sale.order"].create(
                {
                    "partner_id": self.customer_company.id,
                    "order_line": [
                        Command.create(
                            {"product_id": self.product.id, "product_uom_qty": 2}
                        )
                    ],
                }
            )
            sale_order.action_confirm()
            response = self.get("/my/orders")
            self.assertEqual(response.status_code, 200)
            self.assertIn(sale_order.name, response.text)
            self.assertNotIn("o_omochi_portal_order", response.text)
            home = self.get("/my").text
            self.assertIn('href="/my/orders"', home)
            self.assertIn('href="/my/omochi_orders"', home)
        else:
            self.assertEqual(self.get("/my/orders").status_code, 404)
        self.assertEqual(
            set(self.listed_ids("/my/omochi_orders")), set(self.listed.ids)
        )
