import json
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from .. import const

_logger = logging.getLogger(__name__)


class OmochiPaymentEvent(models.Model):
    """A verified Stripe webhook event, stored once (DESIGN §8).

    The unique ``stripe_event_id`` makes redeliveries no-ops. Events are kept
    when their transaction disappears (``ondelete="set null"``): they are the
    audit trail of what Stripe sent and still guard against replays. Events are
    written by the webhook controller and the cron as superuser; back-office
    managers may only read them.
    """

    _name = "omochi.payment.event"
    _description = "Omochi Payment Webhook Event"
    _order = "received_at desc, id desc"
    _rec_name = "stripe_event_id"

    _sql_constraints = (
        (
            "stripe_event_id_uniq",
            "UNIQUE(stripe_event_id)",
            "A Stripe event is stored only once.",
        ),
    )

    stripe_event_id = fields.Char(
        string="Stripe Event ID", required=True, readonly=True
    )
    type = fields.Char(string="Event Type", readonly=True, index=True)
    transaction_id = fields.Many2one(
        "omochi.payment.transaction",
        readonly=True,
        index=True,
        ondelete="set null",
    )
    company_id = fields.Many2one(
        related="transaction_id.company_id",
        store=True,
        index=True,
    )
    payload = fields.Text(
        readonly=True, help="The raw JSON body of the verified webhook request."
    )
    received_at = fields.Datetime(
        required=True,
        readonly=True,
        default=fields.Datetime.now,
    )
    state = fields.Selection(
        const.EVENT_STATE_SELECTION,
        required=True,
        readonly=True,
        index=True,
        default="pending",
    )
    error = fields.Text(readonly=True)
    attempts = fields.Integer(
        readonly=True, help="Number of processing attempts of the event."
    )

    # ------------------------------------------------------------------
    # Reception and processing (DESIGN §8)
    # ------------------------------------------------------------------

    @api.model
    def _omochi_receive(self, event, payload):
        """Store a verified Stripe event once and process it.

        A repeat of a stored event changes nothing. Processing runs in a
        savepoint after the event row is written: a failure marks the event
        ``failed`` (the cron retries it) and the event is still answered.

        :param dict event: The parsed, verified event.
        :param str payload: The raw JSON body, stored as received.
        :return: ``(event record, duplicate)``.
        """
        self.env.cr.execute(
            "SELECT id, state FROM omochi_payment_event WHERE stripe_event_id = %s",
            [event["id"]],
        )
        if self.env.cr.rowcount:
            # The state goes in the cache: the answer needs no second read.
            event_id, state = self.env.cr.fetchone()
            record = self.browse(event_id)
            self.env.cache.update(record, self._fields["state"], [state])
            return record, True
        # Raw INSERT: a concurrent delivery of the same event waits on the
        # unique index and then conflicts (a serialization failure Odoo
        # retries), without an error in the logs.
        self.env.cr.execute(
            """
            INSERT INTO omochi_payment_event
                (stripe_event_id, type, payload, state, attempts, received_at,
                 create_uid, write_uid, create_date, write_date)
            VALUES (%(id)s, %(type)s, %(payload)s, 'pending', 0,
                    %(now)s, %(uid)s, %(uid)s, %(now)s, %(now)s)
            ON CONFLICT (stripe_event_id) DO NOTHING
            RETURNING id
            """,
            {
                "id": event["id"],
                "type": event["type"],
                "payload": payload,
                "now": fields.Datetime.now(),
                "uid": self.env.uid,
            },
            log_exceptions=False,
        )
        if not self.env.cr.rowcount:
            self.env.cr.execute(
                "SELECT id FROM omochi_payment_event WHERE stripe_event_id = %s",
                [event["id"]],
            )
            return self.browse(self.env.cr.fetchone()[0]), True
        record = self.browse(self.env.cr.fetchone()[0])
        # Just inserted with no attempt: nothing to read back (the payload).
        self.env.cache.update(record, self._fields["attempts"], [0])
        record._omochi_process(event)
        return record, False

    def _omochi_process(self, event=None):
        """Apply the event to its transaction, recording the outcome.

        Concurrency errors are raised again, so that Odoo retries the whole
        request (the event row included); any other error marks the event
        ``failed`` with the error and leaves the transaction untouched.

        :param dict event: The parsed event (parsed from ``payload`` if None).
        """
        self.ensure_one()
        event = event if event is not None else json.loads(self.payload)
        values = {"attempts": self.attempts + 1}
        try:
            with self.env.cr.savepoint():
                values.update(self._omochi_apply(event))
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception as error:  # noqa: BLE001 - recorded as the event error, retried by the cron
            _logger.warning(
                "Stripe event %s (%s) failed: %s",
                self.stripe_event_id,
                self.type,
                error,
            )
            values.update(state="failed", error=f"{type(error).__name__}: {error}")
        self.write(values)

    def _omochi_apply(self, event):
        """Apply one event; return the event's new ``state``/``error`` values.

        :rtype: dict
        """
        if event["type"] not in const.HANDLED_WEBHOOK_EVENTS:
            return {"state": "ignored", "error": False}
        stripe_object = event["data"]["object"]
        transaction = self.env["omochi.payment.transaction"]._stripe_find_for_object(
            stripe_object
        )
        if not transaction:
            metadata = stripe_object.get("metadata") or {}
            if metadata.get("payment_id") or stripe_object.get("client_reference_id"):
                # Ours, but its payment is not visible yet: retried by the cron.
                raise UserError(self.env._("No payment matches this event yet."))
            return {"state": "ignored", "error": "No matching payment."}
        transaction._omochi_lock()
        transaction._stripe_apply_event(event["type"], stripe_object)
        return {"state": "done", "error": False, "transaction_id": transaction.id}

    @api.model
    def _omochi_retry_due_ids(self, limit):
        """Return ids of failed events due for a retry: fewer than
        ``EVENT_MAX_ATTEMPTS`` attempts, the last one ``2**attempts`` minutes
        ago or more (exponential back-off)."""
        self.env.cr.execute(
            """
            SELECT id FROM omochi_payment_event
             WHERE state = 'failed' AND attempts < %(max_attempts)s
               AND write_date < (now() AT TIME ZONE 'UTC')
                                - interval '1 minute' * power(2, attempts)
             ORDER BY write_date
             LIMIT %(limit)s
            """,
            {"max_attempts": const.EVENT_MAX_ATTEMPTS, "limit": limit},
        )
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _cron_omochi_retry_failed(self, batch_size=const.CRON_BATCH_SIZE):
        """Process again one batch of failed events (ir.cron progress API:
        Odoo commits each batch and calls again while some remain)."""
        events = self.sudo().browse(self._omochi_retry_due_ids(batch_size))
        for event in events:
            try:
                with self.env.cr.savepoint():
                    event._omochi_process()
            except Exception:  # a concurrent update: the next run retries it
                _logger.exception(
                    "Retry of Stripe event %s failed", event.stripe_event_id
                )
        remaining = len(self._omochi_retry_due_ids(batch_size))
        self.env["ir.cron"]._notify_progress(done=len(events), remaining=remaining)
