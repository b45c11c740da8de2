"""Issue 10: never two payable sessions for one order, never an order paid
for a stale amount, company walls, ``state`` only through the actions."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
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


@tagged("post_install", "-at_install")
class TestNoOrderPaidForAStaleAmount(MoneySafetyCase):
    """§4: a completion pays the order only for its *current* total, once;
    otherwise the payment completes, flagged for review."""

    def deliver_completion(self, transaction):
        """Deliver Stripe's ``checkout.session.completed`` of the payment."""
        session_id = transaction.stripe_checkout_session_id
        for event in self.sim_events_of(session_id, "checkout.session.completed"):
            self.assertEqual(self._deliver(event).state, "done")

    def health(self, user):
        return self.env["omochi.payment.health"].with_user(user).create({})

    def test_old_session_paid_after_the_order_changed(self):
        # Issue 10, 2: the old session of a changed order paid it for the old
        # total (the check compared with the payment's own snapshot).
        order = self._eur_order()
        old, _created = order._omochi_checkout()
        # Stripe could not be asked past the session's expiry: the
        # reconciliation gave up on it in Odoo.
        old._omochi_transition(const.STATUS_EXPIRED)
        order.action_draft()
        order.line_ids[0].quantity = 3
        order.action_confirm()
        self.complete_session(old.stripe_checkout_session_id, "paid")
        self.deliver_completion(old)
        self.assertEqual(old.status, const.STATUS_COMPLETED)
        self.assertEqual(order.state, "confirmed")
        self.assertEqual(order.payment_state, "not_paid")
        self.assertTrue(old.review_required)
        self.assertIn("now totals", old.review_reason)
        self.assertIn(self.manager, old.activity_ids.user_id)
        self.assertNotIn(self.other_company_manager, old.activity_ids.user_id)
        self.assertTrue(order.message_ids.filtered(lambda m: "did NOT pay" in m.body))
        self.assertEqual(self.health(self.manager).review_transaction_count, 1)
        # The order can still be paid for its current total.
        new, created = order._omochi_checkout()
        self.assertTrue(created)
        self.assertEqual(new.amount, order.amount_total)

    def test_payment_of_a_draft_order_is_flagged(self):
        order = self._eur_order()
        old, _created = order._omochi_checkout()
        old._omochi_transition(const.STATUS_CANCELLED)
        order.action_draft()
        self.complete_session(old.stripe_checkout_session_id, "paid")
        self.deliver_completion(old)
        self.assertEqual(order.state, "draft")
        self.assertTrue(old.review_required)

    def test_second_payment_of_a_paid_order_then_one_click_refund(self):
        order = self._eur_order()
        first, _created = order._omochi_checkout()
        # A second session made behind the order's back (an old bug, another
        # integration...): both get paid.
        second = self._create_transaction(order)
        config = order.company_id._omochi_stripe_config()
        second._stripe_create_checkout_session(
            config, second._omochi_return_urls(config)
        )
        self.complete_session(first.stripe_checkout_session_id, "paid")
        self.complete_session(second.stripe_checkout_session_id, "paid")
        self.deliver_completion(first)
        self.deliver_completion(second)
        self.assertEqual(order.state, "paid")
        self.assertFalse(first.review_required)
        self.assertEqual(second.status, const.STATUS_COMPLETED)
        self.assertTrue(second.review_required)
        self.assertIn("second payment", second.review_reason)
        health = self.health(self.manager)
        self.assertEqual(health.review_transaction_count, 1)
        listed = health.action_open_review_transactions()
        self.assertEqual(
            self.env["omochi.payment.transaction"].search(listed["domain"]), second
        )
        # A user may not refund; another company's manager may not either.
        for user in (self.user, self.other_company_manager):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                second.with_user(user).action_refund_for_review()
        second.with_user(self.manager).action_refund_for_review()
        self.assertEqual(second.status, const.STATUS_REFUNDED)
        self.assertFalse(second.review_required)
        self.assertFalse(second.activity_ids)
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "paid")
        self.assertEqual(self.health(self.manager).review_transaction_count, 0)
        refunds = self.simulator_requests("/v1/refunds", "POST")
        self.assertEqual(len(refunds), 1)
        self.assertEqual(refunds[0]["params"]["amount"], "13470")

    def test_matching_completion_pays_the_order(self):
        order = self._eur_order()
        transaction, _created = order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        self.deliver_completion(transaction)
        self.assertEqual(order.state, "paid")
        self.assertFalse(transaction.review_required)
        self.assertFalse(transaction.activity_ids)


@tagged("post_install", "-at_install")
class TestOrderStateOnlyThroughActions(MoneySafetyCase):
    """§3: ``state`` changes only through the actions and the payments."""

    def test_state_cannot_be_written(self):
        # Issue 10, 4: an Omochi user wrote 'paid' on an unpaid order.
        order = self._eur_order()
        for user, state in (
            (self.user, "paid"),
            (self.user, "draft"),
            (self.manager, "refunded"),
            (self.admin, "paid"),
        ):
            with self.subTest(user=user.login, state=state):
                with self.assertRaises(UserError):
                    order.with_user(user).write({"state": state})
                self.assertEqual(order.state, "confirmed")
        with self.assertRaises(UserError):
            self.env["omochi.order"].with_user(self.user).create(
                {"partner_id": self.customer.id, "state": "paid"}
            )

    def test_reset_to_draft_goes_through_the_action(self):
        order = self._eur_order()
        transaction, _created = order._omochi_checkout()
        order.with_user(self.user).action_draft()
        self.assertEqual(order.state, "draft")
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(
            self._stripe_object(transaction.stripe_checkout_session_id)["status"],
            "expired",
        )


@tagged("post_install", "-at_install")
class TestCompanyWalls(MoneySafetyCase):
    """§4: back-office actions on another company's payment are refused."""

    def paid_transaction(self):
        order = self._eur_order()
        transaction, _created = order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        return transaction

    def test_refund_wizard_of_another_company(self):
        # Issue 10, 3: the wizard acts with sudo; any manager could refund.
        transaction = self.paid_transaction()
        wizards = self.env["omochi.payment.refund.wizard"].with_user(
            self.other_company_manager
        )
        with self.assertRaises(AccessError):
            wizards.with_context(active_id=transaction.id).default_get(
                ["transaction_id", "amount"]
            )
        wizard = wizards.create(
            {"transaction_id": transaction.id, "amount": transaction.amount}
        )
        with self.assertRaises(AccessError):
            wizard.action_refund()
        self.assertEqual(self.simulator_requests("/v1/refunds"), [])
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        # The company's own manager may.
        own = (
            self.env["omochi.payment.refund.wizard"]
            .with_user(self.manager)
            .create({"transaction_id": transaction.id, "amount": transaction.amount})
        )
        own.action_refund()
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)

    def test_payment_link_of_another_company(self):
        """The Payment Link dialog's link carries the order's access token:
        a wizard made by hand for another company's order must not show it."""
        order = self._eur_order()
        order._portal_ensure_token()
        wizard = (
            self.env["omochi.payment.link.wizard"]
            .with_user(self.other_company_manager)
            .create({"order_id": order.id})
        )
        with self.assertRaises(AccessError):
            wizard.read(["link"])
        self.assertIn(
            order.access_token,
            self.env["omochi.payment.link.wizard"]
            .with_user(self.manager)
            .create({"order_id": order.id})
            .link,
        )

    def test_cancel_of_another_company(self):
        order = self._eur_order()
        transaction, _created = order._omochi_checkout()
        with self.assertRaises(AccessError):
            transaction.with_user(self.other_company_manager).action_cancel()
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(
            self._stripe_object(transaction.stripe_checkout_session_id)["status"],
            "open",
        )

    def test_health_of_another_company(self):
        health = (
            self.env["omochi.payment.health"]
            .with_user(self.other_company_manager)
            .create({"company_id": self.company.id})
        )
        with self.assertRaises(AccessError):
            health.read(["review_transaction_count"])
