"""Refunds from the back-office wizard against the project's Stripe simulator.

A manager refunds all or part of a completed payment; the refund is created
at Stripe (``POST /v1/refunds``) with an idempotency key of the wizard, and
the payment and its order follow. Nothing of the ORM or of the ``stripe`` SDK
is mocked.
"""

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .. import const
from .common import OmochiPaymentsCase, StripeSimulatorMixin

REFUNDS = "/v1/refunds"
UNREACHABLE = "Stripe could not be reached; please try again in a moment."


class RefundCase(StripeSimulatorMixin, OmochiPaymentsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.currency_jpy = cls.env.ref("base.JPY")
        cls.currency_jpy.active = True

    def _paid_payment(self, price_unit=10.0, quantity=2, currency=None):
        """A payment COMPLETED at Stripe (the simulator) and in Odoo."""
        order = self._create_order(
            self.customer_contact,
            price_unit=price_unit,
            quantity=quantity,
            currency_id=(currency or self.currency_eur).id,
        )
        transaction, _created = order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(order.state, "paid")
        self.simulator("DELETE", "requests")
        return transaction

    def _wizard(self, transaction, user=None, **values):
        """The refund wizard as opened from the payment's form."""
        wizards = self.env["omochi.payment.refund.wizard"].with_user(
            user or self.manager
        )
        return wizards.with_context(
            active_model="omochi.payment.transaction", active_id=transaction.id
        ).create(values)

    def _refund_posts(self):
        return self.simulator_requests(REFUNDS, "POST")

    def _charge(self, transaction):
        """The payment's charge as Stripe holds it."""
        intent = self.simulator(
            "GET", f"objects/{transaction.stripe_payment_intent_id}"
        )
        return self.simulator("GET", f"objects/{intent['latest_charge']}")

    @staticmethod
    def _messages(record, text):
        return record.message_ids.filtered(lambda m: text in (m.body or ""))

    def _refused(self, wizard, exception_class=UserError):
        """Press Refund, expecting a refusal; return its message."""
        with self.assertRaises(exception_class) as refusal:
            wizard.action_refund()
        return str(refusal.exception)


@tagged("post_install", "-at_install")
class TestRefundWizard(RefundCase):
    def test_full_refund(self):
        transaction = self._paid_payment()
        order = transaction.order_id
        wizard = self._wizard(transaction)
        self.assertEqual(wizard.transaction_id, transaction)
        self.assertEqual(wizard.amount, 20.0)
        self.assertEqual(wizard.amount_remaining, 20.0)
        self.assertEqual(wizard.reason, "requested_by_customer")

        action = wizard.action_refund()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(
            action["params"]["next"], {"type": "ir.actions.act_window_close"}
        )
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 20.0)
        self.assertEqual(order.state, "refunded")
        self.assertEqual(order.payment_state, "refunded")
        self.assertEqual(len(self._messages(transaction, "Refunded at Stripe")), 1)
        self.assertEqual(len(self._messages(order, "fully refunded")), 1)

        [post] = self._refund_posts()
        params = post["params"]
        self.assertEqual(
            {key: params.get(key) for key in ("payment_intent", "amount", "reason")},
            {
                "payment_intent": transaction.stripe_payment_intent_id,
                "amount": "2000",
                "reason": "requested_by_customer",
            },
        )
        self.assertEqual(
            post["idempotency_key"], f"omochi-{transaction.uuid}-refund-{wizard.id}"
        )
        self.assertEqual(post["status"], 200)
        charge = self._charge(transaction)
        self.assertEqual((charge["amount_refunded"], charge["refunded"]), (2000, True))

    def test_refund_through_the_form(self):
        transaction = self._paid_payment(price_unit=25.5)
        action = self.env.ref("omochi_payments.omochi_payment_refund_wizard_action")
        self.assertEqual(action.res_model, "omochi.payment.refund.wizard")
        wizards = self.env["omochi.payment.refund.wizard"].with_user(self.manager)
        with Form(
            wizards.with_context(
                active_model="omochi.payment.transaction",
                active_id=transaction.id,
                default_transaction_id=transaction.id,
            )
        ) as form:
            self.assertEqual(form.amount, 51.0)
            self.assertEqual(form.amount_remaining, 51.0)
            form.amount = 1.5
            form.reason = "duplicate"
        form.record.action_refund()
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 1.5)
        [post] = self._refund_posts()
        self.assertEqual(
            (post["params"]["amount"], post["params"]["reason"]), ("150", "duplicate")
        )

    def test_partial_then_rest_eur(self):
        transaction = self._paid_payment(price_unit=25.5)  # 51.00 EUR
        order = transaction.order_id
        first = self._wizard(transaction, amount=10.25, reason="fraudulent")
        action = first.action_refund()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn(
            transaction.currency_id.format(10.25), action["params"]["message"]
        )
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)
        self.assertEqual(transaction.amount_received, 51.0)
        self.assertEqual(transaction.amount_refunded, 10.25)
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "partially_refunded")
        self.assertEqual(self._charge(transaction)["amount_refunded"], 1025)

        rest = self._wizard(transaction)
        self.assertEqual(rest.amount, 40.75)
        self.assertEqual(rest.amount_remaining, 40.75)
        rest.action_refund()
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 51.0)
        self.assertEqual(order.state, "refunded")
        self.assertEqual(order.payment_state, "refunded")

        posts = self._refund_posts()
        self.assertEqual([post["params"]["amount"] for post in posts], ["1025", "4075"])
        self.assertEqual(posts[0]["params"]["reason"], "fraudulent")
        self.assertEqual(
            [post["idempotency_key"] for post in posts],
            [
                f"omochi-{transaction.uuid}-refund-{first.id}",
                f"omochi-{transaction.uuid}-refund-{rest.id}",
            ],
        )
        charge = self._charge(transaction)
        self.assertEqual((charge["amount_refunded"], charge["refunded"]), (5100, True))

    def test_partial_then_rest_jpy(self):
        transaction = self._paid_payment(
            price_unit=750, quantity=2, currency=self.currency_jpy
        )  # 1,500 JPY: zero-decimal, sent in whole yen
        self._wizard(transaction, amount=500).action_refund()
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 500)
        rest = self._wizard(transaction)
        self.assertEqual(rest.amount, 1000)
        rest.action_refund()
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 1500)
        self.assertEqual(
            [post["params"]["amount"] for post in self._refund_posts()], ["500", "1000"]
        )
        self.assertEqual(self._charge(transaction)["amount_refunded"], 1500)

    def test_over_refund_refused(self):
        transaction = self._paid_payment()
        message = self._refused(self._wizard(transaction, amount=20.01))
        self.assertIn("You cannot refund", message)
        self.assertIn("20.01", message)
        self.assertIn("20.00", message)
        self.assertFalse(self._refund_posts())

        self._wizard(transaction, amount=15).action_refund()
        self.simulator("DELETE", "requests")
        message = self._refused(self._wizard(transaction, amount=5.01))
        self.assertIn("only", message)
        self.assertIn("5.00", message)
        self.assertFalse(self._refund_posts())
        self.assertEqual(transaction.amount_refunded, 15)
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)

    def test_zero_and_negative_refused(self):
        transaction = self._paid_payment()
        for amount in (0, -5, 0.001):
            with self.subTest(amount=amount):
                message = self._refused(self._wizard(transaction, amount=amount))
                self.assertEqual(message, "The amount to refund must be positive.")
        self.assertFalse(self._refund_posts())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_payment_not_completed_refused(self):
        order = self._create_order(self.customer_contact)
        pending, _created = order._omochi_checkout()
        message = self._refused(self._wizard(pending, amount=5))
        self.assertEqual(message, "Only completed payments can be refunded.")

        refunded = self._paid_payment()
        self._wizard(refunded).action_refund()
        self.assertEqual(refunded.status, const.STATUS_REFUNDED)
        self.simulator("DELETE", "requests")
        message = self._refused(self._wizard(refunded, amount=1))
        self.assertEqual(message, "Only completed payments can be refunded.")
        self.assertFalse(self._refund_posts())

    def test_plain_user_refused(self):
        transaction = self._paid_payment()
        with self.assertRaises(AccessError):
            self._wizard(transaction, user=self.user, amount=5)
        wizard = self._wizard(transaction, amount=5)
        with self.assertRaises(AccessError):
            wizard.with_user(self.user).action_refund()
        self.assertFalse(self._refund_posts())
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_stripe_down(self):
        transaction = self._paid_payment()
        wizard = self._wizard(transaction, amount=5)
        self.inject_fault("drop_connection", count=None)
        message = self._refused(wizard)
        self.assertEqual(message, UNREACHABLE)
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(transaction.amount_refunded, 0)
        self.assertFalse(self._messages(transaction, "Refunded"))
        self.simulator("DELETE", "faults")
        self.assertEqual(self._charge(transaction)["amount_refunded"], 0)

        # Pressing again once Stripe is back refunds once.
        wizard.action_refund()
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 5)
        self.assertEqual(self._charge(transaction)["amount_refunded"], 500)

    def test_stripe_refusal_message_is_safe(self):
        transaction = self._paid_payment()
        self.company.omochi_stripe_secret_key = "sk_test_not_the_simulators_key_123"
        message = self._refused(self._wizard(transaction, amount=5))
        self.assertEqual(message, "Stripe refused the configured API key.")
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_refunded_elsewhere_meanwhile(self):
        """Stripe refuses more than the charge has left: a clear refusal and
        nothing changed here."""
        transaction = self._paid_payment()
        wizard = self._wizard(transaction, amount=15)
        # Refunded from the Stripe Dashboard, the webhook not arrived yet.
        self.simulator("DELETE", "requests")
        response = self._stripe_refund(transaction, 1000)
        self.assertEqual(response["amount"], 1000)
        message = self._refused(wizard)
        self.assertIn("Stripe refused the request", message)
        self.assertEqual(transaction.amount_refunded, 0)
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def _stripe_refund(self, transaction, amount):
        """Refund at Stripe directly, as from the Stripe Dashboard."""
        gateway = transaction._stripe_gateway()
        return gateway.create_refund(
            transaction.stripe_payment_intent_id, amount, f"dashboard-{amount}"
        )

    def test_same_wizard_pressed_twice(self):
        """A second press of one wizard replays the refund at Stripe (same
        idempotency key): refunded once there, counted once here."""
        transaction = self._paid_payment()
        wizard = self._wizard(transaction, amount=5)
        wizard.action_refund()
        wizard.action_refund()
        posts = self._refund_posts()
        self.assertEqual(len(posts), 2)
        self.assertEqual(posts[0]["idempotency_key"], posts[1]["idempotency_key"])
        self.assertEqual(self._charge(transaction)["amount_refunded"], 500)
        self.assertEqual(transaction.amount_refunded, 5)
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)


@tagged("post_install", "-at_install")
class TestRefundWebhook(RefundCase):
    """The ``charge.refunded`` events Stripe sends for the wizard's refunds
    change nothing more: refunded totals only grow."""

    def _charge_refunded_events(self):
        return self.simulator("GET", "events?type=charge.refunded")["data"]

    def _receive(self, event):
        record, duplicate = self.receive_event(event)
        self.assertFalse(duplicate)
        self.assertEqual(record.state, "done")
        return record

    def test_webhook_of_a_full_refund(self):
        transaction = self._paid_payment()
        self._wizard(transaction).action_refund()
        messages = transaction.message_ids | transaction.order_id.message_ids
        [event] = self._charge_refunded_events()
        self._receive(event)
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
        self.assertEqual(transaction.amount_refunded, 20)
        self.assertEqual(transaction.order_id.state, "refunded")
        self.assertEqual(
            transaction.message_ids | transaction.order_id.message_ids, messages
        )

    def test_late_webhooks_of_partial_refunds(self):
        transaction = self._paid_payment(price_unit=25.5)
        self._wizard(transaction, amount=10).action_refund()
        self._wizard(transaction, amount=20).action_refund()
        self.assertEqual(transaction.amount_refunded, 30)
        messages = transaction.message_ids
        first, second = self._charge_refunded_events()
        self.assertEqual(
            (
                first["data"]["object"]["amount_refunded"],
                second["data"]["object"]["amount_refunded"],
            ),
            (1000, 3000),
        )
        # Out of order, then in order: nothing changes.
        self._receive(second)
        self._receive(first)
        self.assertEqual(transaction.amount_refunded, 30)
        self.assertEqual(transaction.status, const.STATUS_PARTIALLY_REFUNDED)
        self.assertEqual(transaction.message_ids, messages)
        # The rest, whose webhook arrives before the wizard's answer counted:
        self._wizard(transaction).action_refund()
        [*_older, last] = self._charge_refunded_events()
        self._receive(last)
        self.assertEqual(transaction.amount_refunded, 51)
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
