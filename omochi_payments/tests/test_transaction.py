import uuid

from psycopg2 import IntegrityError

from odoo.tests import tagged
from odoo.tools import mute_logger

from .. import const
from .common import OmochiPaymentsCase


@tagged("post_install", "-at_install")
class TestPaymentTransaction(OmochiPaymentsCase):
    def test_defaults_and_snapshot(self):
        transaction = self._create_transaction(self.order)
        self.assertEqual(str(uuid.UUID(transaction.uuid, version=4)), transaction.uuid)
        self.assertRegex(transaction.reference, r"^OMP/\d{4}/\d{5}$")
        self.assertEqual(transaction.display_name, transaction.reference)
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(transaction.amount, 51.0)
        self.assertEqual(transaction.amount, self.order.amount_total)
        self.assertEqual(transaction.currency_id, self.currency_eur)
        self.assertEqual(transaction.partner_id, self.customer_contact)
        self.assertEqual(transaction.company_id, self.order.company_id)
        self.assertEqual(transaction.amount_refunded, 0.0)
        self.assertFalse(transaction.error_message)

    def test_uuid_and_reference_are_unique(self):
        first = self._create_transaction(self.order)
        second = self._create_transaction(self.order)
        self.assertNotEqual(first.uuid, second.uuid)
        self.assertNotEqual(first.reference, second.reference)
        number = int(first.reference.rsplit("/", 1)[1])
        self.assertEqual(second.reference.rsplit("/", 1)[1], f"{number + 1:05d}")

    def test_explicit_values_win_over_snapshot(self):
        transaction = self._create_transaction(self.order, amount=10.0)
        self.assertEqual(transaction.amount, 10.0)

    def test_snapshot_survives_order_changes(self):
        order = self.env["omochi.order"].create(
            {
                "partner_id": self.customer.id,
                "currency_id": self.currency_eur.id,
                "line_ids": [(0, 0, {"name": "Mochi", "quantity": 1, "price_unit": 7})],
            }
        )
        transaction = self._create_transaction(order)
        order.line_ids.price_unit = 9.0
        order.partner_id = self.stranger
        self.assertEqual(order.amount_total, 9.0)
        self.assertEqual(transaction.amount, 7.0)
        self.assertEqual(transaction.partner_id, self.customer)

    def test_copy_gets_new_identifiers(self):
        transaction = self._create_transaction(
            self.order, stripe_checkout_session_id="cs_test_copy"
        )
        duplicate = transaction.copy()
        self.assertNotEqual(duplicate.uuid, transaction.uuid)
        self.assertNotEqual(duplicate.reference, transaction.reference)
        self.assertFalse(duplicate.stripe_checkout_session_id)
        self.assertEqual(duplicate.status, const.STATUS_PENDING)

    def test_api_status_and_final(self):
        transaction = self._create_transaction(self.order)
        expected_final = {
            "pending": False,
            "processing": False,
            "failed": False,
            "completed": True,
            "cancelled": True,
            "expired": True,
            "partially_refunded": True,
            "refunded": True,
        }
        self.assertEqual(set(expected_final), set(const.STATUSES))
        for status, final in expected_final.items():
            with self.subTest(status=status):
                transaction.status = status
                self.assertEqual(transaction._get_api_status(), status.upper())
                self.assertEqual(transaction.api_status, status.upper())
                self.assertEqual(transaction._is_final(), final)

    def test_unique_checkout_session(self):
        self._create_transaction(self.order, stripe_checkout_session_id="cs_test_1")
        # Transactions without session are allowed side by side.
        self._create_transaction(self.order)
        self._create_transaction(self.order)
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            self._create_transaction(self.order, stripe_checkout_session_id="cs_test_1")
            self.env.flush_all()

    def test_amount_must_be_positive(self):
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            self._create_transaction(self.order, amount=0.0)
            self.env.flush_all()

    def test_amount_refunded_bounds(self):
        transaction = self._create_transaction(self.order)
        transaction.amount_refunded = 51.0
        self.env.flush_all()
        for value in (-1.0, 51.01):
            with (
                self.subTest(amount_refunded=value),
                mute_logger("odoo.sql_db"),
                self.assertRaises(IntegrityError),
            ):
                transaction.amount_refunded = value
                self.env.flush_all()

    def test_order_with_payments_cannot_be_deleted(self):
        order = self._create_order(self.customer)
        self._create_transaction(order)
        order.action_cancel()
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            order.unlink()
            self.env.flush_all()

    def test_event_unique_and_company(self):
        transaction = self._create_transaction(self.order)
        Event = self.env["omochi.payment.event"]
        event = Event.create(
            {
                "stripe_event_id": "evt_1",
                "type": "checkout.session.completed",
                "transaction_id": transaction.id,
                "payload": '{"id": "evt_1"}',
            }
        )
        self.assertEqual(event.state, "pending")
        self.assertEqual(event.attempts, 0)
        self.assertTrue(event.received_at)
        self.assertEqual(event.company_id, transaction.company_id)
        self.assertEqual(transaction.event_ids, event)
        orphan = Event.create({"stripe_event_id": "evt_2", "type": "customer.created"})
        self.assertFalse(orphan.company_id)
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError):
            Event.create(
                {"stripe_event_id": "evt_1", "type": "payment_intent.succeeded"}
            )
            self.env.flush_all()

    def test_event_kept_when_transaction_deleted(self):
        transaction = self._create_transaction(self.order)
        event = self.env["omochi.payment.event"].create(
            {"stripe_event_id": "evt_keep", "transaction_id": transaction.id}
        )
        transaction.unlink()
        self.assertTrue(event.exists())
        self.assertFalse(event.transaction_id)
