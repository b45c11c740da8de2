"""The reconciliation cron (DESIGN §4) against the project's Stripe simulator.

Open payments older than the reconciliation age are asked about at Stripe and
take Stripe's status; a session past its expiry that Stripe cannot tell about
is expired locally. Nothing of the ORM or of the ``stripe`` SDK is mocked.
"""

import uuid
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .. import const
from .common import OmochiPaymentsCase, StripeSimulatorMixin

CRON_LOGGER = "odoo.addons.omochi_payments.models.omochi_payment_transaction"
EVENT_LOGGER = "odoo.addons.omochi_payments.models.omochi_payment_event"
SESSIONS = "/v1/checkout/sessions"


class ReconcileCase(StripeSimulatorMixin, OmochiPaymentsCase):
    """Stale payments with a Checkout Session at the simulator."""

    def setUp(self):
        super().setUp()
        self.transactions = self.env["omochi.payment.transaction"].sudo()
        # Payments of the database (demo data...) are none of these tests'
        # business: the cron must not find them stale.
        self.env.cr.execute(
            "UPDATE omochi_payment_transaction SET last_reconciled_at = %s",
            [fields.Datetime.now() + timedelta(days=1)],
        )
        self.transactions.invalidate_model(["last_reconciled_at"])

    def _open_payment(self, age_minutes=30, price_unit=10.0):
        """A PENDING payment with an open session, created ``age_minutes`` ago."""
        order = self._create_order(self.customer_contact, price_unit=price_unit)
        transaction, _created = order._omochi_checkout()
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self._set(transaction, create_date=self._ago(age_minutes))
        return transaction

    @staticmethod
    def _ago(minutes):
        return fields.Datetime.now() - timedelta(minutes=minutes)

    def _set(self, transaction, **values):
        """Write columns with SQL (dates the ORM keeps for itself...), after
        the ORM's pending writes."""
        self.env.flush_all()
        assignments = ", ".join(f"{column} = %s" for column in values)
        self.env.cr.execute(
            f"UPDATE omochi_payment_transaction SET {assignments} WHERE id = %s",
            [*values.values(), transaction.id],
        )
        transaction.invalidate_recordset(list(values))

    def _expire_now(self, transaction):
        """Expire the payment's session at the simulator."""
        session_id = transaction.stripe_checkout_session_id
        self.simulator("POST", f"checkout/sessions/{session_id}/expire_now")

    def _session_gets(self, transaction):
        """The retrievals of the payment's session the simulator received."""
        return self.simulator_requests(
            f"{SESSIONS}/{transaction.stripe_checkout_session_id}", "GET"
        )

    def _cron(self, **kwargs):
        self.transactions._cron_omochi_reconcile(**kwargs)


@tagged("post_install", "-at_install")
class TestReconcile(ReconcileCase):
    def test_paid_session_completes_the_payment(self):
        transaction = self._open_payment()
        order = transaction.order_id
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertTrue(transaction.completed_at)
        self.assertTrue(transaction.stripe_payment_intent_id.startswith("pi_"))
        self.assertTrue(transaction.stripe_charge_id.startswith("ch_"))
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "paid")
        self.assertTrue(transaction.last_reconciled_at)
        self.assertEqual(len(self._session_gets(transaction)), 1)
        completions = transaction.message_ids.filtered(
            lambda message: "Payment of" in (message.body or "")
        )
        self.assertEqual(len(completions), 1)

    def test_unpaid_session_makes_the_payment_processing(self):
        transaction = self._open_payment()
        self.complete_session(transaction.stripe_checkout_session_id, "unpaid")
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        self.assertEqual(transaction.order_id.state, "confirmed")

    def test_processing_payment_settled_later_completes(self):
        transaction = self._open_payment()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "unpaid")
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "succeeded"},
        )
        # Not asked again before the age passes...
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        # ... then it is.
        self._set(transaction, last_reconciled_at=self._ago(20))
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_session_expired_at_stripe(self):
        transaction = self._open_payment()
        self._expire_now(transaction)
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)
        self.assertEqual(transaction.order_id.state, "confirmed")
        self.assertEqual(transaction.order_id.payment_state, "not_paid")

    def test_session_past_its_expiry_with_stripe_down_expires_locally(self):
        expired = self._open_payment()
        self._set(expired, expires_at=self._ago(10))
        still_open = self._open_payment()
        self.inject_fault("drop_connection", count=None)
        with self.assertLogs(CRON_LOGGER, "WARNING") as logs:
            self._cron()
        self.assertIn("Stripe could not be reached", "\n".join(logs.output))
        self.assertEqual(expired.status, const.STATUS_EXPIRED)
        # Stripe down, session not past its expiry: nothing known, nothing changed.
        self.assertEqual(still_open.status, const.STATUS_PENDING)
        self.assertTrue(still_open.last_reconciled_at)

    def test_session_within_the_grace_period_is_not_expired_locally(self):
        transaction = self._open_payment()
        self._set(transaction, expires_at=self._ago(2))
        self.inject_fault("drop_connection", count=None)
        with self.assertLogs(CRON_LOGGER, "WARNING"):
            self._cron()
        self.assertEqual(transaction.status, const.STATUS_PENDING)

    def test_paid_session_past_its_expiry_completes(self):
        transaction = self._open_payment()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        self._set(transaction, expires_at=self._ago(60))
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_failed_payment_paid_later_completes(self):
        """A declined card leaves the session open (FAILED is not final, §4):
        a later payment on it that no webhook reported is found by the cron."""
        transaction = self._open_payment()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "failed")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self.complete_session(session_id, "paid")
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(transaction.order_id.state, "paid")

    def test_failed_payment_with_an_expired_session_expires(self):
        transaction = self._open_payment()
        self.complete_session(transaction.stripe_checkout_session_id, "failed")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self._expire_now(transaction)
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)

    def test_failed_payment_long_expired_is_left_alone(self):
        transaction = self._open_payment(age_minutes=48 * 60)
        self.complete_session(transaction.stripe_checkout_session_id, "failed")
        transaction._stripe_refresh()
        self._set(transaction, expires_at=self._ago(24 * 60))
        self._cron()
        self.assertFalse(transaction.last_reconciled_at)
        self.assertEqual(transaction.status, const.STATUS_FAILED)

    def test_async_payment_failed_stays_failed(self):
        """A failed asynchronous payment leaves a complete, unpaid session:
        asking Stripe again must not bring the payment back to PROCESSING."""
        transaction = self._open_payment()
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "unpaid")
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "failed"},
        )
        self._set(transaction, last_reconciled_at=self._ago(20))
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self.assertIn("could not be debited", transaction.error_message)
        self._set(transaction, last_reconciled_at=self._ago(20))
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self.assertFalse(transaction._stripe_refresh())
        self.assertEqual(transaction.status, const.STATUS_FAILED)

    def test_young_payment_left_alone(self):
        young = self._open_payment(age_minutes=1)
        self.complete_session(young.stripe_checkout_session_id, "paid")
        self._cron()
        self.assertEqual(young.status, const.STATUS_PENDING)
        self.assertFalse(young.last_reconciled_at)
        self.assertFalse(self._session_gets(young))

    def test_final_payments_left_alone(self):
        transaction = self._open_payment()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.simulator("DELETE", "requests")
        self._cron()
        self.assertFalse(self._session_gets(transaction))
        self.assertFalse(transaction.last_reconciled_at)

    def test_not_asked_again_before_the_age_passes(self):
        transaction = self._open_payment()
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        first = transaction.last_reconciled_at
        self.assertTrue(first)
        self.assertEqual(len(self._session_gets(transaction)), 1)
        self.assertNotIn(transaction, self.transactions.search(self._stale_domain()))

        self._cron()
        self.assertEqual(len(self._session_gets(transaction)), 1)
        self.assertEqual(transaction.last_reconciled_at, first)

        self._set(transaction, last_reconciled_at=self._ago(16))
        self.assertIn(transaction, self.transactions.search(self._stale_domain()))
        self._cron()
        self.assertEqual(len(self._session_gets(transaction)), 2)

    def _stale_domain(self):
        return self.transactions._omochi_stale_domain()

    def test_reconciliation_age_parameter(self):
        parameters = self.env["ir.config_parameter"].sudo()
        key = "omochi_payments.reconcile_after_minutes"
        transaction = self._open_payment(age_minutes=30)
        parameters.set_param(key, "60")
        self.assertEqual(self.transactions._omochi_reconcile_age(), 60)
        self._cron()
        self.assertFalse(transaction.last_reconciled_at)
        self.assertFalse(self._session_gets(transaction))
        parameters.set_param(key, "20")
        self._cron()
        self.assertTrue(transaction.last_reconciled_at)
        for invalid in ("", "soon", False):
            parameters.set_param(key, invalid)
            self.assertEqual(
                self.transactions._omochi_reconcile_age(),
                const.RECONCILE_AFTER_MINUTES,
            )
        parameters.set_param(key, "-5")
        self.assertEqual(self.transactions._omochi_reconcile_age(), 1)

    def test_payment_without_session_past_its_expiry(self):
        """A session creation that never succeeded: nothing to ask Stripe."""
        order = self._create_order(self.customer_contact)
        transaction = self._create_transaction(order)
        self._set(transaction, create_date=self._ago(120), expires_at=self._ago(60))
        self._cron()
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)
        self.assertFalse(self.simulator_requests(SESSIONS, "GET"))


@tagged("post_install", "-at_install")
class TestReconcileBatches(ReconcileCase):
    def test_unknown_session_does_not_stop_the_batch(self):
        unknown = self._open_payment(age_minutes=50)
        self._set(unknown, stripe_checkout_session_id="cs_test_unknown_to_stripe")
        paid = self._open_payment(age_minutes=40)
        self.complete_session(paid.stripe_checkout_session_id, "paid")
        expired = self._open_payment(age_minutes=30)
        self._expire_now(expired)
        with self.assertLogs(CRON_LOGGER, "WARNING") as logs:
            self._cron()
        self.assertIn(unknown.reference, "\n".join(logs.output))
        self.assertEqual(unknown.status, const.STATUS_PENDING)
        self.assertTrue(unknown.last_reconciled_at)
        self.assertEqual(paid.status, const.STATUS_COMPLETED)
        self.assertEqual(expired.status, const.STATUS_EXPIRED)

    def test_failing_payment_is_rolled_back_and_skipped(self):
        """An error while applying Stripe's answer to one payment rolls back
        that payment only (savepoint); the next ones are reconciled."""
        bad = self._open_payment(age_minutes=50)
        good = self._open_payment(age_minutes=40)
        for transaction in bad | good:
            self.complete_session(transaction.stripe_checkout_session_id, "paid")
        # A currency code Stripe's amount rules cannot handle: completing the
        # payment raises after the payment intent id was written.
        broken = self.env["res.currency"].create({"name": "X1Y", "symbol": "¤"})
        self._set(bad, currency_id=broken.id)
        with self.assertLogs(CRON_LOGGER, "ERROR") as logs:
            self._cron()
        self.assertIn(f"Reconciliation of {bad.reference} failed", logs.output[0])
        self.assertEqual(bad.status, const.STATUS_PENDING)
        self.assertFalse(bad.stripe_payment_intent_id)  # rolled back
        self.assertTrue(bad.last_reconciled_at)  # not retried at once
        self.assertEqual(bad.order_id.state, "confirmed")
        self.assertEqual(good.status, const.STATUS_COMPLETED)

    def test_batches_report_progress(self):
        payments = self.transactions
        for age in (70, 60, 50, 40, 30):
            payments |= self._open_payment(age_minutes=age)
            self.complete_session(payments[-1].stripe_checkout_session_id, "paid")
        cron = self.env.ref("omochi_payments.ir_cron_omochi_reconcile")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        transactions = self.transactions.with_context(ir_cron_progress_id=progress.id)

        transactions._cron_omochi_reconcile(batch_size=2)
        # The oldest first.
        self.assertEqual(payments.mapped("status"), ["completed"] * 2 + ["pending"] * 3)
        self.assertEqual((progress.done, progress.remaining), (2, 3))
        self.assertEqual(self.transactions.search(self._stale_domain()), payments[2:])

        transactions._cron_omochi_reconcile(batch_size=2)
        self.assertEqual((progress.done, progress.remaining), (2, 1))
        transactions._cron_omochi_reconcile(batch_size=2)
        self.assertEqual((progress.done, progress.remaining), (1, 0))
        self.assertEqual(set(payments.mapped("status")), {const.STATUS_COMPLETED})
        transactions._cron_omochi_reconcile(batch_size=2)
        self.assertEqual((progress.done, progress.remaining), (0, 0))

    def _stale_domain(self):
        return self.transactions._omochi_stale_domain()

    def test_default_batch_size(self):
        payments = self.transactions
        for _index in range(3):
            payments |= self._open_payment()
        self._cron()
        self.assertTrue(all(payments.mapped("last_reconciled_at")))


@tagged("post_install", "-at_install")
class TestRetryFailedEvents(ReconcileCase):
    """``_cron_omochi_retry_failed`` in batches with the ``ir.cron`` progress
    API (back-off and maximum attempts: ``test_webhook``)."""

    def setUp(self):
        super().setUp()
        self.events = self.env["omochi.payment.event"].sudo()
        # Failed events of the database are none of these tests' business.
        self.env.cr.execute(
            "UPDATE omochi_payment_event SET attempts = %s WHERE state = 'failed'",
            [const.EVENT_MAX_ATTEMPTS],
        )
        self.events.invalidate_model(["attempts"])

    def _failed_event(self):
        """A paid session whose ``checkout.session.completed`` arrived before
        its payment was visible: stored ``failed`` after one attempt."""
        order = self._create_order(self.customer_contact)
        transaction, _created = order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        events = self.simulator("GET", "events?type=checkout.session.completed")
        [event] = [
            event
            for event in events["data"]
            if event["data"]["object"]["id"] == transaction.stripe_checkout_session_id
        ]
        # The payment "is not visible yet".
        hidden = self._hide(transaction)
        with self.assertLogs(EVENT_LOGGER, "WARNING"):
            record, duplicate = self.receive_event(event)
        self.assertFalse(duplicate)
        self.assertEqual((record.state, record.attempts), ("failed", 1))
        self.assertIn("No payment matches", record.error)
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self._set(transaction, **hidden)
        return record, transaction

    def _hide(self, transaction):
        """Make the payment unfindable from the event; return what it was."""
        visible = {
            "uuid": transaction.uuid,
            "stripe_checkout_session_id": transaction.stripe_checkout_session_id,
        }
        self._set(
            transaction,
            uuid=str(uuid.uuid4()),
            stripe_checkout_session_id=f"cs_hidden_{uuid.uuid4().hex}",
        )
        return visible

    def _last_attempt(self, event, minutes_ago):
        """Date the event's last attempt ``minutes_ago`` (database clock)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE omochi_payment_event
               SET write_date = (now() AT TIME ZONE 'UTC')
                                - interval '1 minute' * %s
             WHERE id = %s
            """,
            [minutes_ago, event.id],
        )
        event.invalidate_recordset(["write_date"])

    def test_batches_report_progress(self):
        first, _transaction = self._failed_event()
        second, _transaction = self._failed_event()
        self._last_attempt(first, 5)
        self._last_attempt(second, 4)
        cron = self.env.ref("omochi_payments.ir_cron_omochi_retry_failed_events")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        events = self.events.with_context(ir_cron_progress_id=progress.id)
        events._cron_omochi_retry_failed(batch_size=1)
        self.assertEqual((first.state, second.state), ("done", "failed"))
        self.assertEqual((progress.done, progress.remaining), (1, 1))
        events._cron_omochi_retry_failed(batch_size=1)
        self.assertEqual(second.state, "done")
        self.assertEqual((progress.done, progress.remaining), (1, 0))
