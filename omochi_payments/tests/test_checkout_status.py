import requests

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .. import const
from ..exceptions import OmochiPaymentError, OrderNotPayableError
from ..tools import stripe_gateway
from .test_checkout import CheckoutCommon, SimulatorCase

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class StatusCase(SimulatorCase):
    def _open_session(self, order=None):
        """Create the Checkout Session of an order (134.70 EUR by default)."""
        transaction, created = (order or self._eur_order())._omochi_checkout()
        self.assertTrue(created)
        return transaction

    def _comments(self, record, text):
        """The chatter messages of ``record`` containing ``text``."""
        return record.message_ids.filtered(lambda m: text in (m.body or ""))

    def _gets(self, session_id):
        """The retrievals of a session the simulator received."""
        return self.simulator_requests(f"/v1/checkout/sessions/{session_id}", "GET")


@tagged("post_install", "-at_install")
class TestCheckoutStatus(StatusCase):
    def test_paid(self):
        transaction = self._open_session()
        order = transaction.order_id
        result = self.complete_session(transaction.stripe_checkout_session_id, "paid")
        before = fields.Datetime.now()
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertGreaterEqual(transaction.completed_at, before)
        self.assertLessEqual(transaction.completed_at, fields.Datetime.now())
        self.assertFalse(transaction.error_message)
        self.assertEqual(
            transaction.stripe_payment_intent_id, result["payment_intent"]["id"]
        )
        self.assertEqual(transaction.stripe_charge_id, result["charge"]["id"])
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "paid")
        amount = "134.70&nbsp;€"
        messages = self._comments(transaction, "completed at Stripe")
        self.assertEqual(len(messages), 1)
        self.assertEqual(
            messages.body, f"<p>Payment of {amount} completed at Stripe.</p>"
        )
        messages = self._comments(order, "Order paid")
        self.assertEqual(len(messages), 1)
        self.assertEqual(
            messages.body,
            f"<p>Order paid: {amount} by payment {transaction.reference}.</p>",
        )
        # The retrieval expanded the payment intent.
        retrievals = self._gets(transaction.stripe_checkout_session_id)
        self.assertEqual(len(retrievals), 1)
        self.assertEqual(retrievals[0]["params"], {"expand": ["payment_intent"]})

        # Final: no more calls to Stripe, no second message.
        self.assertFalse(transaction._stripe_refresh())
        self.assertEqual(len(self._gets(transaction.stripe_checkout_session_id)), 1)
        self.assertEqual(len(self._comments(transaction, "completed at Stripe")), 1)
        self.assertEqual(len(self._comments(order, "Order paid")), 1)

    def test_still_open(self):
        transaction = self._open_session()
        self.assertFalse(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertFalse(transaction.stripe_payment_intent_id)
        self.assertEqual(transaction.order_id.payment_state, "pending")

    def test_unpaid_then_async_success(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        result = self.complete_session(session_id, "unpaid")
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        self.assertFalse(transaction.completed_at)
        self.assertEqual(
            transaction.stripe_payment_intent_id, result["payment_intent"]["id"]
        )
        self.assertEqual(transaction.order_id.state, "confirmed")
        self.assertEqual(transaction.order_id.payment_state, "pending")
        # Refreshing again changes nothing.
        self.assertFalse(transaction._stripe_refresh())
        # The money is on its way: no second session may take it again.
        error = self._raised(
            OrderNotPayableError, transaction.order_id._omochi_checkout
        )
        self.assertEqual(
            error.args[0],
            f"Order {transaction.order_id.name} has a payment in progress.",
        )
        self.assertEqual(transaction.order_id.transaction_ids, transaction)
        self.assertEqual(len(self._session_posts()), 1)

        self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "succeeded"},
        )
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(transaction.order_id.state, "paid")

    def test_failed_then_paid(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(
            session_id, "failed", failure_message="Your card has insufficient funds."
        )
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self.assertEqual(transaction.error_message, "Your card has insufficient funds.")
        self.assertEqual(transaction.order_id.payment_state, "not_paid")
        self.assertEqual(transaction.order_id.state, "confirmed")
        self.assertFalse(transaction._stripe_refresh())

        # The customer tries another card on the same, still open, session.
        self.complete_session(session_id, "paid")
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertFalse(transaction.error_message)
        self.assertEqual(transaction.order_id.state, "paid")
        self.assertEqual(transaction.order_id.payment_state, "paid")

    def test_expired_at_stripe(self):
        transaction = self._open_session()
        self.simulator(
            "POST",
            f"checkout/sessions/{transaction.stripe_checkout_session_id}/expire_now",
        )
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)
        self.assertEqual(transaction.order_id.payment_state, "not_paid")
        self.assertEqual(transaction.order_id.state, "confirmed")

    def test_amount_mismatch(self):
        cases = [
            (
                {"amount_total": 13400},
                (
                    "Stripe reported 13400 EUR where 13470 EUR (minor units) were "
                    "expected; the payment was not completed."
                ),
            ),
            (
                {"currency": "usd"},
                (
                    "Stripe reported 13470 USD where 13470 EUR (minor units) were "
                    "expected; the payment was not completed."
                ),
            ),
        ]
        for values, message in cases:
            with self.subTest(values=values):
                transaction = self._open_session()
                self.complete_session(
                    transaction.stripe_checkout_session_id, "paid", **values
                )
                self.assertFalse(transaction._stripe_refresh())
                self.assertEqual(transaction.status, const.STATUS_PENDING)
                self.assertEqual(transaction.error_message, message)
                self.assertFalse(transaction.completed_at)
                order = transaction.order_id
                self.assertEqual(order.state, "confirmed")
                self.assertNotEqual(order.payment_state, "paid")
                self.assertFalse(self._comments(order, "Order paid"))

    def test_refresh_when_stripe_is_down(self):
        transaction = self._open_session()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        self.patch(stripe_gateway, "MAX_NETWORK_RETRIES", 0)
        self.inject_fault("server_error", method="GET")
        self.assertFalse(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertFalse(transaction.error_message)
        # The next refresh brings the news.
        self.assertTrue(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_final_statuses_never_regress(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "failed")
        failed_session = transaction._stripe_gateway().retrieve_checkout_session(
            session_id
        )
        self.assertEqual(failed_session["status"], "open")
        sessions = {
            "failed": failed_session,
            "unpaid": {
                **failed_session,
                "status": "complete",
                "payment_status": "unpaid",
            },
            "expired": {**failed_session, "status": "expired"},
            "paid": {
                **failed_session,
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": {
                    **failed_session["payment_intent"],
                    "last_payment_error": None,
                },
            },
        }
        stays = {
            const.STATUS_COMPLETED: ("failed", "unpaid", "expired", "paid"),
            const.STATUS_PARTIALLY_REFUNDED: ("failed", "unpaid", "expired", "paid"),
            const.STATUS_REFUNDED: ("failed", "unpaid", "expired", "paid"),
            const.STATUS_CANCELLED: ("failed", "unpaid", "expired"),
            const.STATUS_EXPIRED: ("failed", "unpaid", "expired"),
        }
        self.assertEqual(set(stays), set(const.FINAL_STATUSES))
        for status, outcomes in stays.items():
            for outcome in outcomes:
                with self.subTest(status=status, session=outcome):
                    transaction.write(
                        {
                            "status": status,
                            "error_message": "kept",
                            "completed_at": False,
                        }
                    )
                    changed = transaction._stripe_apply_checkout_session(
                        sessions[outcome]
                    )
                    self.assertFalse(changed)
                    self.assertEqual(transaction.status, status)
                    self.assertEqual(transaction.error_message, "kept")
                    self.assertFalse(transaction.completed_at)
            with self.subTest(status=status, refresh=True):
                # Final transactions are not even refreshed from Stripe.
                count = len(self._gets(session_id))
                self.assertFalse(transaction._stripe_refresh())
                self.assertEqual(len(self._gets(session_id)), count)

    def test_given_up_session_paid_is_recorded(self):
        # Money taken on a session we had expired or cancelled is recorded.
        for status in (const.STATUS_EXPIRED, const.STATUS_CANCELLED):
            with self.subTest(status=status):
                transaction = self._open_session()
                self.complete_session(transaction.stripe_checkout_session_id, "paid")
                transaction.status = status
                session = transaction._stripe_gateway().retrieve_checkout_session(
                    transaction.stripe_checkout_session_id
                )
                self.assertTrue(transaction._stripe_apply_checkout_session(session))
                self.assertEqual(transaction.status, const.STATUS_COMPLETED)
                self.assertEqual(transaction.order_id.state, "paid")

    def test_completed_stays_completed_whatever_stripe_says(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "paid")
        self.assertTrue(transaction._stripe_refresh())
        completed_at = transaction.completed_at
        session = transaction._stripe_gateway().retrieve_checkout_session(session_id)
        for changes in (
            {"status": "expired"},
            {"status": "open", "payment_status": "unpaid"},
            {"status": "complete", "payment_status": "unpaid"},
            {"amount_total": 1},
        ):
            with self.subTest(changes=changes):
                self.assertFalse(
                    transaction._stripe_apply_checkout_session({**session, **changes})
                )
                self.assertEqual(transaction.status, const.STATUS_COMPLETED)
                self.assertEqual(transaction.completed_at, completed_at)
                self.assertEqual(transaction.order_id.state, "paid")
        self.assertEqual(len(self._comments(transaction, "completed at Stripe")), 1)

    def test_status_payload(self):
        transaction = self._open_session()
        payload = transaction._omochi_status_payload()
        self.assertEqual(
            payload,
            {
                "payment_id": transaction.uuid,
                "order_id": transaction.order_id.uuid,
                "status": "PENDING",
                "amount": "134.70",
                "currency": "EUR",
                "checkout_session_id": transaction.stripe_checkout_session_id,
                "error_message": None,
                "updated_at": self.env.cr.now().strftime(ISO_UTC),
            },
        )
        self.assertRegex(payload["updated_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        transaction._stripe_refresh()
        payload = transaction._omochi_status_payload()
        self.assertEqual(payload["status"], "COMPLETED")
        self.assertEqual(payload["amount"], "134.70")

    def test_status_payload_currencies(self):
        cases = [
            (
                self._make_order(
                    [("Mochi", 3, 1200), ("Sencha", 1, 8800)], self.currency_jpy
                ),
                "12400",
                "JPY",
            ),
            (
                self._make_order(
                    [("Dates", 1.5, 0.33), ("Coffee", 1.5, 0.33)], self.currency_kwd
                ),
                "0.990",
                "KWD",
            ),
            (self._make_order([("Daifuku", 2, 10.0)]), "20.00", "EUR"),
        ]
        for order, amount, currency in cases:
            with self.subTest(currency=currency):
                transaction = self._create_transaction(
                    order, error_message="Stripe could not be reached."
                )
                self.assertEqual(
                    transaction._omochi_status_payload(),
                    {
                        "payment_id": transaction.uuid,
                        "order_id": order.uuid,
                        "status": "PENDING",
                        "amount": amount,
                        "currency": currency,
                        "checkout_session_id": None,
                        "error_message": "Stripe could not be reached.",
                        "updated_at": self.env.cr.now().strftime(ISO_UTC),
                    },
                )
        for status in const.STATUSES:
            with self.subTest(status=status):
                transaction.status = status
                self.assertEqual(
                    transaction._omochi_status_payload()["status"], status.upper()
                )


@tagged("post_install", "-at_install")
class TestCheckoutCancel(StatusCase):
    def _expire_posts(self, session_id):
        return self.simulator_requests(
            f"/v1/checkout/sessions/{session_id}/expire", "POST"
        )

    def test_order_cancel_expires_the_session(self):
        transaction = self._open_session()
        order = transaction.order_id
        session_id = transaction.stripe_checkout_session_id
        order.with_user(self.user).action_cancel()
        self.assertEqual(order.state, "cancelled")
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(order.payment_state, "not_paid")
        posts = self._expire_posts(session_id)
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]["status"], 200)
        self.assertEqual(
            posts[0]["idempotency_key"],
            f"omochi-{transaction.uuid}-checkout-session-expire",
        )
        self.assertEqual(self._stripe_object(session_id)["status"], "expired")

    def test_order_cancel_of_a_paid_session_is_refused(self):
        transaction = self._open_session()
        order = transaction.order_id
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        error = self._raised(UserError, order.with_user(self.user).action_cancel)
        self.assertNotIsInstance(error, OmochiPaymentError)
        self.assertEqual(
            error.args[0],
            "Only draft or confirmed orders can be cancelled; order "
            f"{order.name} is Paid.",
        )
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "paid")
        self.assertEqual(len(self._comments(order, "Order paid")), 1)

    def test_order_draft_cancels_the_pending_payment(self):
        transaction = self._open_session()
        order = transaction.order_id
        session_id = transaction.stripe_checkout_session_id
        order.with_user(self.user).action_draft()
        self.assertEqual(order.state, "draft")
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(len(self._expire_posts(session_id)), 1)
        self.assertEqual(self._stripe_object(session_id)["status"], "expired")
        # The lines may change; the next payment is a new session.
        order.line_ids[0].price_unit = 30.0
        order.action_confirm()
        new, created = order._omochi_checkout()
        self.assertTrue(created)
        self.assertNotEqual(new, transaction)
        self.assertEqual(new.amount, 143.7)

    def test_cancel_without_session(self):
        order = self._eur_order()
        transaction = self._create_transaction(order)
        failed = self._create_transaction(order, status=const.STATUS_FAILED)
        order.action_cancel()
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(failed.status, const.STATUS_CANCELLED)
        self.assertEqual(self.simulator_requests("/v1/"), [])

    def test_cancel_failed_transaction_expires_its_open_session(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "failed")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        transaction.order_id.action_cancel()
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(self._stripe_object(session_id)["status"], "expired")

    def test_cancel_with_session_already_expired(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        self.simulator("POST", f"checkout/sessions/{session_id}/expire_now")
        transaction.action_cancel()
        # Stripe refused to expire it again; its word (expired) is taken.
        self.assertEqual(self._expire_posts(session_id)[0]["status"], 400)
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)

    def test_cancel_when_stripe_is_down(self):
        transaction = self._open_session()
        self.patch(stripe_gateway, "MAX_NETWORK_RETRIES", 0)
        self.inject_fault("server_error", method="POST")
        error = self._raised(UserError, transaction.order_id.action_cancel)
        self.assertEqual(
            error.args[0],
            "Stripe is unavailable right now; please try again in a moment.",
        )
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(transaction.order_id.state, "confirmed")

    def test_transaction_cancel_access(self):
        transaction = self._open_session()
        session_id = transaction.stripe_checkout_session_id
        with self.assertRaises(AccessError):
            transaction.with_user(self.portal_user).action_cancel()
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(self._expire_posts(session_id), [])

        self.assertTrue(transaction.with_user(self.user).action_cancel())
        self.assertEqual(transaction.status, const.STATUS_CANCELLED)
        self.assertEqual(len(self._expire_posts(session_id)), 1)

    def test_cancel_ignores_other_statuses(self):
        order = self._eur_order()
        transactions = self.env["omochi.payment.transaction"]
        for status in const.STATUSES:
            if status not in (const.STATUS_PENDING, const.STATUS_FAILED):
                transactions |= self._create_transaction(
                    order, status=status, stripe_checkout_session_id=f"cs_test_{status}"
                )
        transactions.action_cancel()
        self.assertEqual(
            transactions.mapped("status"),
            [
                status
                for status in const.STATUSES
                if status not in (const.STATUS_PENDING, const.STATUS_FAILED)
            ],
        )
        self.assertEqual(self.simulator_requests("/v1/"), [])


@tagged("post_install", "-at_install")
class TestDashboardLinks(CheckoutCommon):
    def _check_links(self, key, prefix):
        self.company.omochi_stripe_api_base = "https://api.stripe.com"
        self.company.omochi_stripe_secret_key = key
        session_id = f"cs_test_{len(self.order.transaction_ids)}a1B2c3"
        transaction = self._create_transaction(
            self.order,
            stripe_checkout_session_id=session_id,
            stripe_payment_intent_id="pi_3Nx9",
        )
        self.assertEqual(
            transaction.stripe_checkout_session_url,
            f"{prefix}/checkout/sessions/{session_id}",
        )
        self.assertEqual(
            transaction.stripe_payment_intent_url, f"{prefix}/payments/pi_3Nx9"
        )

    def test_test_mode(self):
        for key in ("sk_test_abc", "rk_test_abc", False):
            with self.subTest(key=key):
                self._check_links(key, "https://dashboard.stripe.com/test")

    def test_live_mode(self):
        for key in ("sk_live_abc", "rk_live_abc"):
            with self.subTest(key=key):
                self._check_links(key, "https://dashboard.stripe.com")

    def test_no_stripe_ids(self):
        self.company.omochi_stripe_api_base = "https://api.stripe.com"
        transaction = self._create_transaction(self.order)
        self.assertFalse(transaction.stripe_checkout_session_url)
        self.assertFalse(transaction.stripe_payment_intent_url)
        transaction.stripe_checkout_session_id = "cs_test_later"
        self.assertEqual(
            transaction.stripe_checkout_session_url,
            "https://dashboard.stripe.com/test/checkout/sessions/cs_test_later",
        )
        self.assertFalse(transaction.stripe_payment_intent_url)


@tagged("post_install", "-at_install")
class TestSimulatorDashboardLinks(SimulatorCase):
    def test_simulator_links_to_its_own_pages(self):
        """No dead links to dashboard.stripe.com for the simulator's objects."""
        transaction, _created = self.order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id)
        transaction._stripe_refresh()
        for url in (
            transaction.stripe_checkout_session_url,
            transaction.stripe_payment_intent_url,
        ):
            self.assertTrue(url.startswith(f"{self.simulator_url}/dashboard/"), url)
            page = requests.get(url, timeout=10)
            self.assertEqual(page.status_code, 200)
            self.assertIn(url.rsplit("/", 1)[1], page.text)
