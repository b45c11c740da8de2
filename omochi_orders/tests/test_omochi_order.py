import re
import uuid
from datetime import datetime

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import OmochiOrderCommon


@tagged("post_install", "-at_install")
class TestOmochiOrder(OmochiOrderCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Allow unit prices with three decimals, to exercise currency rounding.
        cls.env.ref("product.decimal_price").digits = 3

    # -- amounts and rounding ---------------------------------------------

    def test_amounts_eur_rounding(self):
        order = self._create_order(lines=((3, 0.335), (2, 10.1)), currency=self.eur)
        first, second = order.line_ids
        self.assertEqual(first.price_unit, 0.335)
        # 3 × 0.335 = 1.005, rounded half-up to the cent
        self.assertEqual(first.price_subtotal, 1.01)
        self.assertEqual(second.price_subtotal, 20.2)
        self.assertEqual(order.amount_total, 21.21)
        self.assertEqual(first.currency_id, self.eur)

    def test_amounts_jpy_rounding(self):
        order = self._create_order(lines=((3, 33.5), (1, 99.4)), currency=self.jpy)
        first, second = order.line_ids
        # 3 × 33.5 = 100.5, JPY has no decimals
        self.assertEqual(first.price_subtotal, 101.0)
        self.assertEqual(second.price_subtotal, 99.0)
        self.assertEqual(order.amount_total, 200.0)
        self.assertEqual(first.currency_id, self.jpy)

    def test_amount_total_follows_lines(self):
        order = self._create_order(lines=((2, 5.0), (1, 7.5)))
        self.assertEqual(order.amount_total, 17.5)
        order.line_ids[0].quantity = 4
        self.assertEqual(order.amount_total, 27.5)
        order.line_ids[1].unlink()
        self.assertEqual(order.amount_total, 20.0)
        order.write(
            {"line_ids": [Command.create({"name": "Extra", "price_unit": 1.25})]}
        )
        self.assertEqual(order.amount_total, 21.25)

    def test_currency_change_on_draft_rounds_again(self):
        order = self._create_order(lines=((3, 33.5),), currency=self.eur)
        self.assertEqual(order.amount_total, 100.5)
        order.currency_id = self.jpy
        self.assertEqual(order.line_ids.currency_id, self.jpy)
        self.assertEqual(order.line_ids.price_subtotal, 101.0)
        self.assertEqual(order.amount_total, 101.0)

    def test_line_defaults_from_product(self):
        order = self.env["omochi.order"].create(
            {
                "partner_id": self.customer.id,
                "currency_id": self.company.currency_id.id,
                "line_ids": [Command.create({"product_id": self.product.id})],
            }
        )
        line = order.line_ids
        self.assertEqual(line.name, "[TMOCHI] Test Mochi")
        self.assertEqual(line.quantity, 1.0)
        self.assertEqual(line.price_unit, 10.0)
        self.assertEqual(line.price_subtotal, 10.0)
        self.assertEqual(line.company_id, self.company)

    def test_defaults(self):
        order = self.env["omochi.order"].create({"partner_id": self.customer.id})
        self.assertEqual(order.state, "draft")
        self.assertEqual(order.payment_state, "not_paid")
        self.assertEqual(order.company_id, self.company)
        self.assertEqual(order.currency_id, self.company.currency_id)
        self.assertTrue(order.date_order)
        self.assertEqual(order.amount_total, 0.0)
        self.assertEqual(order.access_url, f"/my/omochi_orders/{order.id}")

    def test_form(self):
        with Form(self.env["omochi.order"]) as form:
            # Like Odoo's documents: "New" until saved, and no UUID shown
            # before it is final.
            self.assertEqual(form.name, "New")
            self.assertTrue(form._get_modifier("uuid", "invisible"))
            form.partner_id = self.customer
            form.currency_id = self.company.currency_id
            with form.line_ids.new() as line:
                line.product_id = self.product
                self.assertEqual(line.name, "[TMOCHI] Test Mochi")
                self.assertEqual(line.price_unit, 10.0)
                line.quantity = 3
            self.assertEqual(form.amount_total, 30.0)
        order = form.record
        self.assertRegex(order.name, r"^OM/\d{4}/\d{5}$")
        self.assertFalse(Form(order)._get_modifier("uuid", "invisible"))
        self.assertEqual(order.amount_total, 30.0)
        order.action_confirm()
        form = Form(order)
        self.assertTrue(form._get_modifier("line_ids", "readonly"))

    # -- constraints --------------------------------------------------------

    def test_quantity_must_be_positive(self):
        for quantity in (0, -1):
            with self.assertRaises(ValidationError):
                self._create_order(lines=((quantity, 10.0),))
        order = self._create_order()
        with self.assertRaises(ValidationError):
            order.line_ids.quantity = 0

    def test_price_unit_cannot_be_negative(self):
        with self.assertRaises(ValidationError):
            self._create_order(lines=((1, -0.01),))
        order = self._create_order(lines=((1, 0.0),))
        self.assertEqual(order.amount_total, 0.0)
        with self.assertRaises(ValidationError):
            order.line_ids.price_unit = -5

    # -- workflow -----------------------------------------------------------

    def test_workflow(self):
        order = self._create_order()
        order.action_confirm()
        self.assertEqual(order.state, "confirmed")
        order.action_draft()
        self.assertEqual(order.state, "draft")
        order.action_cancel()
        self.assertEqual(order.state, "cancelled")
        order.action_draft()
        self.assertEqual(order.state, "draft")
        order.action_confirm()
        order.action_cancel()
        self.assertEqual(order.state, "cancelled")

    def test_confirm_without_lines(self):
        order = self._create_order(lines=())
        with self.assertRaisesRegex(UserError, "no lines"):
            order.action_confirm()
        self.assertEqual(order.state, "draft")

    def test_confirm_refused_outside_draft(self):
        order = self._create_order()
        order.action_confirm()
        with self.assertRaises(UserError):
            order.action_confirm()
        order.action_cancel()
        with self.assertRaises(UserError):
            order.action_confirm()
        self.assertEqual(order.state, "cancelled")

    def test_cancel_refused_for_paid_and_refunded(self):
        for state in ("paid", "refunded", "cancelled"):
            order = self._create_order()
            order.action_confirm()
            order._omochi_set_state(state)
            with self.assertRaises(UserError):
                order.action_cancel()
            self.assertEqual(order.state, state)

    def test_draft_refused_for_draft_paid_refunded(self):
        for state in ("draft", "paid", "refunded"):
            order = self._create_order()
            order._omochi_set_state(state)
            with self.assertRaises(UserError):
                order.action_draft()
            self.assertEqual(order.state, state)

    def test_lines_locked_once_confirmed(self):
        order = self._create_order(lines=((2, 5.0),))
        order.action_confirm()
        line = order.line_ids
        with self.assertRaises(UserError):
            line.quantity = 3
        with self.assertRaises(UserError):
            line.price_unit = 1.0
        with self.assertRaises(UserError):
            line.name = "Changed"
        with self.assertRaises(UserError):
            order.write({"line_ids": [Command.create({"name": "X", "price_unit": 1})]})
        with self.assertRaises(UserError):
            line.unlink()
        with self.assertRaises(UserError):
            order.currency_id = self.jpy
        other = self._create_order()
        with self.assertRaises(UserError):
            other.line_ids.order_id = order
        self.assertEqual(order.line_ids, line)
        self.assertEqual(line.quantity, 2.0)
        self.assertEqual(order.amount_total, 10.0)
        # reset to draft: lines are editable again
        order.action_draft()
        line.quantity = 3
        self.assertEqual(order.amount_total, 15.0)

    def test_unlink(self):
        draft = self._create_order()
        cancelled = self._create_order()
        cancelled.action_cancel()
        lines = (draft | cancelled).line_ids
        (draft | cancelled).unlink()
        self.assertFalse(draft.exists())
        self.assertFalse(lines.exists())
        for state in ("confirmed", "paid", "refunded"):
            order = self._create_order()
            order.action_confirm()
            order._omochi_set_state(state)
            with self.assertRaises(UserError):
                order.unlink()
            self.assertTrue(order.exists())

    # -- name and uuid ------------------------------------------------------

    def test_sequence_name(self):
        first = self._create_order()
        second = self._create_order()
        year = fields.Date.context_today(first).year
        pattern = rf"^OM/{year}/(\d{{5}})$"
        self.assertRegex(first.name, pattern)
        self.assertRegex(second.name, pattern)
        number = int(re.match(pattern, first.name).group(1))
        self.assertEqual(second.name, f"OM/{year}/{number + 1:05d}")
        self.assertEqual(first.display_name, first.name)

    def test_sequence_uses_order_year(self):
        order = self._create_order(date_order=datetime(2020, 6, 15, 12, 0))
        self.assertRegex(order.name, r"^OM/2020/\d{5}$")

    def test_explicit_name_kept(self):
        order = self._create_order(name="LEGACY-1")
        self.assertEqual(order.name, "LEGACY-1")

    def test_uuid(self):
        order = self._create_order()
        self.assertEqual(str(uuid.UUID(order.uuid)), order.uuid)
        self.assertEqual(uuid.UUID(order.uuid).version, 4)
        copy = order.copy()
        self.assertNotEqual(copy.uuid, order.uuid)
        self.assertNotEqual(copy.name, order.name)
        self.assertEqual(copy.state, "draft")
        self.assertEqual(copy.amount_total, order.amount_total)
        self.assertEqual(len(copy.line_ids), 1)
        self.assertEqual(
            self.env["omochi.order"].search([("uuid", "=", order.uuid)]), order
        )

    def test_uuid_unique(self):
        order = self._create_order()
        other = self._create_order()
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            other.uuid = order.uuid
            other.flush_recordset(["uuid"])
