"""Issue 10: never two payable sessions for one order, never an order paid
for a stale amount, company walls, ``state`` only through the actions."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .. import const
from ..exceptions import OrderNotPayableError
from ..tools.stripe_gateway import StripeGatewayError
from .test_checkout import SimulatorCase


class MoneySafetyCase(SimulatorCase):
    """Helpers to look at an order's sessions as Stripe holds them."""

    def open_sessions_at_stripe(self, order):
        """The sessions of ``order`` that a customer could still pay at the
        simulator."""
        return [
            session
            for session in self._stripe_sessions()
            if session["metadata"].get("order_id") == order.uuid
            and session["status"] == "open"
        ]

    def decline_card(self, transaction):
        """The customer's card is declined on the hosted page (the session
        stays open) and Odoo learns it."""
        self.complete_session(transaction.stripe_checkout_session_id, "failed")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_FAILED)

    def break_session(self, transaction):
        """Stripe cannot be asked about (or act on) this session."""
        return self.inject_fault(
            "server_error",
            count=None,
            path=f"/v1/checkout/sessions/{transaction.stripe_checkout_session_id}",
        )


@tagged("post_install", "-at_install")
class TestOnePayableSession(MoneySafetyCase):
    """§4: at most one payable session per order *at Stripe*."""

    def test_session_near_expiry_is_expired_at_stripe_before_a_new_one(self):
        # Issue 10, 1(a): the old session was marked expired in Odoo only.
        order = self._eur_order()
        old, _created = order._omochi_checkout()
        old.expires_at = fields.Datetime.now() + timedelta(minutes=4)
        new, created = order._omochi_checkout()
        self.assertTrue(created)
        self.assertNotEqual(new, old)
        self.assertEqual(old.status, const.STATUS_EXPIRED)
        self.assertEqual(
            self._stripe_object(old.stripe_checkout_session_id)["status"], "expired"
        )
        self.assertEqual(
            [s["id"] for s in self.open_sessions_at_stripe(order)],
            [new.stripe_checkout_session_id],
        )

    def test_declined_card_and_stripe_down_makes_no_second_session(self):
        # Issue 10, 1(b): Stripe could not say whether the session was still
        # open, and a second one was made.
        order = self._eur_order()
        first, _created = order._omochi_checkout()
        self.decline_card(first)
        self.break_session(first)
        sessions_before = len(self._stripe_sessions())
        with self.assertRaises(StripeGatewayError):
            order._omochi_checkout()
        self.simulator("DELETE", "faults")
        self.assertEqual(len(self._stripe_sessions()), sessions_before)
        self.assertEqual(order.transaction_ids, first)
        # Stripe back: the open session is reused, still the only one.
        again, created = order._omochi_checkout()
        self.assertEqual(again, first)
        self.assertFalse(created)
        self.assertEqual(len(self.open_sessions_at_stripe(order)), 1)

    def test_session_near_expiry_and_stripe_down_makes_no_second_session(self):
        order = self._eur_order()
        old, _created = order._omochi_checkout()
        old.expires_at = fields.Datetime.now() + timedelta(minutes=4)
        self.break_session(old)
        with self.assertRaises(StripeGatewayError):
            order._omochi_checkout()
        self.simulator("DELETE", "faults")
        self.assertEqual(order.transaction_ids, old)
        self.assertEqual(len(self._session_posts()), 1)

    def test_other_return_url_replaces_the_open_session(self):
        order = self._eur_order()
        first, _created = order._omochi_checkout()
        other_url = "http://localhost:3000/shop/thanks"
        second, created = order._omochi_checkout(return_url=other_url)
        self.assertTrue(created)
        self.assertNotEqual(second, first)
        self.assertEqual(second.return_url, other_url)
        self.assertTrue(
            self._session_posts()[-1]["params"]["success_url"].startswith(other_url)
        )
        self.assertEqual(first.status, const.STATUS_EXPIRED)
        self.assertEqual(
            [s["id"] for s in self.open_sessions_at_stripe(order)],
            [second.stripe_checkout_session_id],
        )
        # The same return_url again reuses the new session.
        third, created = order._omochi_checkout(return_url=other_url)
        self.assertEqual((third, created), (second, False))

    def test_session_found_paid_when_replacing_stops_the_payment(self):
        order = self._eur_order()
        old, _created = order._omochi_checkout()
        self.complete_session(old.stripe_checkout_session_id, "paid")
        old.expires_at = fields.Datetime.now() + timedelta(minutes=4)
        self._raised(OrderNotPayableError, order._omochi_checkout)
        self.assertEqual(old.status, const.STATUS_COMPLETED)
        self.assertEqual(order.state, "paid")
        self.assertEqual(len(self._session_posts()), 1)
