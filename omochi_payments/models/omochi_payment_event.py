import heapq
import json
import logging
import os
import random
import threading
import time

import psycopg2

from odoo import SUPERUSER_ID, api, fields, models, sql_db
from odoo.exceptions import UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

from .. import const

_logger = logging.getLogger(__name__)


class OmochiPaymentEvent(models.Model):
    """A verified Stripe webhook event, stored once (DESIGN §8).

    The webhook request only stores the event ``pending`` and wakes the cron
    workers; :meth:`_omochi_process_pending`, run by the processing crons on
    any server, applies it. The unique ``stripe_event_id`` makes redeliveries
    no-ops. Events are kept
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
    stripe_created = fields.Integer(
        string="Created at Stripe",
        readonly=True,
        help="Stripe's creation time of the event (Unix time): the events of "
        "one payment are applied in this order.",
    )
    stripe_object_id = fields.Char(
        readonly=True,
        index=True,
        help="The id of the event's object (data.object.id).",
    )
    change_key = fields.Char(
        readonly=True,
        index=True,
        help="Type, object and state of the change the event reports: two "
        "Stripe events with the same key are one change, applied once.",
    )
    livemode = fields.Boolean(string="Live Mode", readonly=True)
    signature_scope = fields.Selection(
        const.SIGNATURE_SCOPE_SELECTION,
        readonly=True,
        help="Which configuration's webhook secret verified the signature: a "
        "secret of the server (environment or odoo.conf) applies to every "
        "company, a company's own secret to that company only.",
    )
    signature_company_ids = fields.Many2many(
        "res.company",
        "omochi_payment_event_signature_company_rel",
        "event_id",
        "company_id",
        string="Signed For",
        readonly=True,
        help="The companies whose webhook secret verified the signature.",
    )

    # ------------------------------------------------------------------
    # Acknowledgement (DESIGN §8): the webhook request's whole work
    # ------------------------------------------------------------------

    @api.model
    def _omochi_acknowledge(self, event, payload, company_ids):
        """Store a verified event ``pending`` and wake the cron workers.

        Meant for a cursor in autocommit mode (the webhook's, see its
        controller): the event is then written by one statement that commits
        on its own, at READ COMMITTED, so that a concurrent or repeated
        delivery of the same event waits on the unique index and then does
        nothing, it never fails to serialize. The statement stores the event,
        whom its secret belongs to and, unless a delivery of the last moments
        did, the processing crons' triggers, due at the end of the wake window
        (``const.EVENT_WAKE_WINDOW_SECONDS``); a NOTIFY then wakes the workers
        when they are due.

        :param dict event: The parsed, verified event.
        :param str payload: The raw JSON body, stored as received.
        :param tuple company_ids: The companies whose secret verified the
            signature; empty for a secret of the server (every company).
        :return: Whether the event was stored already (a duplicate).
        :rtype: bool
        """
        stored, triggered = self._omochi_insert_pending(
            self.env.cr, event, payload, company_ids
        )
        if triggered:
            self._omochi_wake_cron_workers()
        return not stored

    @api.model
    def _omochi_insert_pending(self, cr, event, payload, company_ids):
        """Insert the event ``pending`` with ``cr`` unless it is stored
        already; when it is new, trigger each processing cron that has no
        trigger due after the first half of the wake window.

        A trigger due that late can only be deleted by a job that starts after
        it is due (Odoo deletes the triggers due before a job's start when it
        ends), so after this statement has committed, unless the statement
        took half the window: that job claims the event. In that rare case,
        the next delivery's trigger or the crons' 1-minute interval applies
        it. Concurrent deliveries may both add a trigger (harmless).

        :return: ``(whether the event was inserted, whether a trigger was)``
        :rtype: tuple[bool, bool]
        """
        stripe_object = event["data"]["object"]
        now = fields.Datetime.now()
        cr.execute(
            """
            WITH new_event AS (
                INSERT INTO omochi_payment_event
                    (stripe_event_id, type, payload, state, attempts, received_at,
                     stripe_created, stripe_object_id, change_key, livemode,
                     signature_scope, create_uid, write_uid, create_date, write_date)
                VALUES (%(id)s, %(type)s, %(payload)s, 'pending', 0, %(now)s,
                        %(created)s, %(object_id)s, %(change_key)s, %(livemode)s,
                        %(scope)s, %(uid)s, %(uid)s, %(now)s, %(now)s)
                ON CONFLICT (stripe_event_id) DO NOTHING
                RETURNING id
            ), signed_for AS (
                INSERT INTO omochi_payment_event_signature_company_rel
                    (event_id, company_id)
                SELECT new_event.id, company_id
                  FROM new_event, unnest(%(company_ids)s::int[]) AS company_id
            ), wake AS (
                INSERT INTO ir_cron_trigger
                    (cron_id, call_at, create_uid, write_uid, create_date, write_date)
                -- The database's clock, to the microsecond: a running job
                -- deletes the triggers older than its start when it ends,
                -- and Odoo's now() (whole seconds) could fall before it.
                SELECT cron.id,
                       now() AT TIME ZONE 'UTC' + make_interval(secs => %(window)s),
                       %(uid)s, %(uid)s, %(now)s, %(now)s
                  FROM new_event, unnest(%(cron_ids)s::int[]) AS cron(id)
                 WHERE NOT EXISTS (
                        SELECT 1 FROM ir_cron_trigger due
                         WHERE due.cron_id = cron.id
                           AND due.call_at > now() AT TIME ZONE 'UTC'
                                             + make_interval(secs => %(window)s / 2)
                       )
                RETURNING cron_id
            )
            SELECT (SELECT count(*) FROM new_event), (SELECT count(*) FROM wake)
            """,
            {
                "id": event["id"],
                "type": event["type"],
                "payload": payload,
                "now": now,
                "created": _as_int(event.get("created")),
                "object_id": _as_str(stripe_object.get("id")),
                "change_key": _change_key(event["type"], stripe_object),
                "livemode": event.get("livemode") is True,
                "scope": const.SIGNATURE_SCOPE_COMPANY
                if company_ids
                else const.SIGNATURE_SCOPE_PROCESS,
                "company_ids": list(company_ids),
                "cron_ids": list(self._omochi_processing_cron_ids()),
                "uid": self.env.uid or SUPERUSER_ID,
                "window": const.EVENT_WAKE_WINDOW_SECONDS,
            },
        )
        inserted, triggered = cr.fetchone()
        return bool(inserted), bool(triggered)

    @api.model
    def _omochi_processing_cron_ids(self):
        """The ids of the processing crons that exist (ormcached lookups,
        unlike ``env.ref()``, which reads each record).

        :rtype: tuple[int]
        """
        xmlid_to_res_id = self.env["ir.model.data"]._xmlid_to_res_id
        # A cron deleted by hand is left out: the event is still stored.
        cron_ids = (xmlid_to_res_id(xmlid) for xmlid in const.EVENT_PROCESSING_CRONS)
        return tuple(cron_id for cron_id in cron_ids if cron_id)

    @api.model
    def _omochi_wake_cron_workers(self):
        """Wake the cron workers of every server, as ``ir.cron._trigger()``
        does (PostgreSQL NOTIFY on ``cron_trigger``, which Odoo's cron threads
        listen to on the ``postgres`` database), from this process's waker
        thread (see ``_CronWaker``), once the trigger just stored is due."""
        _CRON_WAKER.wake(self.env.cr.dbname, const.EVENT_WAKE_WINDOW_SECONDS)

    # ------------------------------------------------------------------
    # Processing (DESIGN §8): Odoo's cron workers, on any server
    # ------------------------------------------------------------------

    @api.model
    def _omochi_process_pending(self, batch_size=const.EVENT_BATCH_SIZE):
        """Apply one batch of pending events (the processing crons' job).

        The batch is claimed ``FOR UPDATE SKIP LOCKED``: several workers, on
        one server or several, each take other events. A batch that meets a
        concurrent update of one of its payments is rolled back and claimed
        again (ir.cron's progress API then calls the job again while events
        remain; Odoo commits between calls).

        :return: The number of events processed.
        :rtype: int
        """
        return self._omochi_claim_and_apply("state = 'pending'", batch_size)

    @api.model
    def _omochi_claim_and_apply(self, condition, batch_size):
        """Claim and apply one batch of the events matching ``condition``
        (SQL), claimed again when it meets a concurrent update; report the
        progress to ir.cron (which calls again while events remain).

        :return: The number of events processed.
        :rtype: int
        """
        for attempt in range(const.EVENT_BATCH_TRIES):
            try:
                events = self._omochi_claim(condition, batch_size)
                events._omochi_apply_batch()
                break
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                if attempt + 1 == const.EVENT_BATCH_TRIES:
                    raise
                self.env.cr.rollback()
                self.env.invalidate_all()
                time.sleep(random.uniform(0.0, 0.05 * 2**attempt))
        self.env.cr.execute(
            SQL("SELECT count(*) FROM omochi_payment_event WHERE %s", SQL(condition))
        )
        self.env["ir.cron"]._notify_progress(
            done=len(events), remaining=self.env.cr.fetchone()[0]
        )
        return len(events)

    @api.model
    def _omochi_claim(self, condition, limit):
        """Lock and return up to ``limit`` unlocked events matching
        ``condition`` (SQL), oldest at Stripe first.

        An event another worker applied after this transaction's snapshot
        fails to serialize here (REPEATABLE READ): an expected conflict that
        the caller retries, so it is not logged as an error."""
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM omochi_payment_event
                 WHERE %s
                 ORDER BY stripe_created, id
                 LIMIT %s
                   FOR NO KEY UPDATE SKIP LOCKED
                """,
                SQL(condition),
                limit,
            ),
            log_exceptions=False,
        )
        return self.sudo().browse(row[0] for row in self.env.cr.fetchall())

    def _omochi_apply_batch(self):
        """Apply the (claimed) events, each in a savepoint, in Stripe's order.

        Their payments are found first and locked in id order (one query, no
        deadlock between workers); an event Stripe sent twice as two Event
        objects (same change key) applies once.
        """
        parsed = {}
        for event in self:
            try:
                parsed[event] = json.loads(event.payload)
                parsed[event]["data"]["object"].get(parsed[event]["type"])
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                # Never verified as stored (written by hand?): set aside, so
                # that it does not block the events behind it.
                event.write(
                    {
                        "state": "failed",
                        "attempts": const.EVENT_MAX_ATTEMPTS,
                        "error": f"Unreadable payload: {error!r}",
                    }
                )
        readable = self.filtered(lambda event: event in parsed)
        handled = readable.filtered(
            lambda event: parsed[event]["type"] in const.HANDLED_WEBHOOK_EVENTS
        )
        transactions = dict(
            zip(
                handled,
                self.env["omochi.payment.transaction"]._stripe_find_for_objects(
                    [parsed[event]["data"]["object"] for event in handled]
                ),
                strict=True,
            )
        )
        found = (
            self.env["omochi.payment.transaction"].sudo().union(*transactions.values())
        )
        if found:
            self.env.cr.execute(
                """
                SELECT id FROM omochi_payment_transaction
                 WHERE id IN %s ORDER BY id FOR NO KEY UPDATE
                """,
                [tuple(found.ids)],
                log_exceptions=False,
            )
            found.invalidate_recordset()
        applied = readable._omochi_applied_changes()
        ordered = readable.sorted(lambda event: (event.stripe_created, event.id))
        transaction_model = self.env["omochi.payment.transaction"]
        applied_meanwhile = dict(applied)  # not the failed attempt's
        try:
            # Usually every event applies: the whole batch in one savepoint,
            # its writes flushed together.
            with (
                self.env.cr.savepoint(),
                transaction_model._omochi_collect_chatter() as chatter_log,
            ):
                for event in ordered:
                    event._omochi_process(
                        parsed[event],
                        transactions.get(event),
                        applied_meanwhile,
                        chatter_log,
                        isolated=False,
                    )
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception:  # noqa: BLE001 - each event again, alone: its error is recorded
            # One failed: again, each event in a savepoint of its own, so that
            # the others apply and the failure is recorded on its event (the
            # savepoint's rollback has cleared the caches).
            with transaction_model._omochi_collect_chatter() as chatter_log:
                for event in ordered:
                    event._omochi_process(
                        parsed[event], transactions.get(event), applied, chatter_log
                    )
        # The chatter messages of the batch are written at its end, together.
        transaction_model._omochi_log_batch_as_stripe(chatter_log)
        self.env.flush_all()

    def _omochi_applied_changes(self):
        """Return ``{change key: stripe event id}`` of the changes of these
        events that another event applied already."""
        keys = tuple({key for key in self.mapped("change_key") if key})
        if not keys:
            return {}
        self.env.cr.execute(
            """
            SELECT change_key, stripe_event_id FROM omochi_payment_event
             WHERE change_key IN %s AND state = 'done'
            """,
            [keys],
        )
        return dict(self.env.cr.fetchall())

    def _omochi_process(self, event, transaction, applied, chatter_log, isolated=True):
        """Apply one event, recording the outcome on it.

        Isolated, in a savepoint of its own: concurrency errors are raised
        again (the batch is claimed again); any other error marks the event
        ``failed`` with the error and leaves the transaction untouched (the
        retry cron tries again later). Not isolated, every error is raised.

        :param dict event: The parsed event.
        :param transaction: Its payment (locked), or ``None``.
        :param dict applied: ``{change key: stripe event id}`` applied so far.
        :param list chatter_log: The batch's collected chatter entries (an
            event that fails takes its own back).
        :param bool isolated: Whether to apply it in a savepoint of its own.
        """
        self.ensure_one()
        values = {"attempts": self.attempts + 1}
        logged_before = len(chatter_log)
        try:
            if not isolated:
                values.update(self._omochi_outcome(event, transaction, applied))
            else:
                with self.env.cr.savepoint():
                    values.update(self._omochi_outcome(event, transaction, applied))
                    self.env.flush_all()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except Exception as error:
            if not isolated:
                raise
            # Recorded as the event's error; the retry cron tries again.
            _logger.warning(
                "Stripe event %s (%s) failed: %s",
                self.stripe_event_id,
                self.type,
                error,
            )
            values.update(state="failed", error=f"{type(error).__name__}: {error}")
            del chatter_log[logged_before:]  # rolled back with the savepoint
        if values.get("state") == "done" and self.change_key:
            applied[self.change_key] = self.stripe_event_id
        self.write(values)

    def _omochi_outcome(self, event, transaction, applied):
        """Apply one event unless Stripe sent its change before; return the
        event's new ``state``/``error`` values.

        :rtype: dict
        """
        duplicate_of = applied.get(self.change_key)
        if duplicate_of and duplicate_of != self.stripe_event_id:
            return {
                "state": "ignored",
                "error": self.env._(
                    "Stripe sent this change before, as event %s.", duplicate_of
                ),
            }
        return self._omochi_apply(event, transaction)

    def _omochi_apply(self, event, transaction):
        """Apply one event; return the event's new ``state``/``error`` values.

        :rtype: dict
        """
        if event["type"] not in const.HANDLED_WEBHOOK_EVENTS:
            return {"state": "ignored", "error": False}
        stripe_object = event["data"]["object"]
        if not transaction:
            metadata = stripe_object.get("metadata") or {}
            if metadata.get("payment_id") or stripe_object.get("client_reference_id"):
                # Ours, but its payment is not visible yet: retried by the cron.
                raise UserError(self.env._("No payment matches this event yet."))
            return {"state": "ignored", "error": "No matching payment."}
        refusal = self._omochi_scope_refusal(transaction.company_id)
        if refusal:
            return {"state": "ignored", "error": refusal}
        transaction._stripe_apply_event(event["type"], stripe_object)
        return {"state": "done", "error": False, "transaction_id": transaction.id}

    def _omochi_scope_refusal(self, company):
        """Return why the event may not change a payment of ``company``, or
        ``False`` (DESIGN §5): a company's secret speaks for that company
        only, and a test event never changes a live payment (nor the reverse).
        """
        if (
            self.signature_scope == const.SIGNATURE_SCOPE_COMPANY
            and company not in self.signature_company_ids
        ):
            return self.env._(
                "Signed with the webhook secret of %(signers)s, not of the "
                "payment's company %(company)s.",
                signers=", ".join(self.signature_company_ids.mapped("name")),
                company=company.name,
            )
        live_key = company._omochi_stripe_config().is_live_mode
        if bool(self.livemode) != live_key:
            return self.env._(
                "A %(event_mode)s event for a company whose Stripe key is a "
                "%(key_mode)s key.",
                event_mode="live-mode" if self.livemode else "test-mode",
                key_mode="live" if live_key else "test",
            )
        return False

    @api.model
    def _omochi_pending_backlog(self):
        """Return the number of pending events (every company's: an event
        has no company before it is applied) and the age in seconds of the
        oldest (0 when none), by the database's clock.

        :rtype: tuple[int, int]
        """
        self.env.cr.execute(
            """
            SELECT count(*),
                   COALESCE(EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC')
                                                - min(received_at)), 0)
              FROM omochi_payment_event WHERE state = 'pending'
            """
        )
        count, age = self.env.cr.fetchone()
        return count, max(int(age), 0)

    @api.model
    def _omochi_retry_due_condition(self):
        """SQL condition of failed events due for a retry: fewer than
        ``EVENT_MAX_ATTEMPTS`` attempts, the last one ``2**attempts`` minutes
        ago or more (exponential back-off)."""
        return (
            f"state = 'failed' AND attempts < {int(const.EVENT_MAX_ATTEMPTS)}"
            " AND write_date < (now() AT TIME ZONE 'UTC')"
            " - interval '1 minute' * power(2, attempts)"
        )

    @api.model
    def _cron_omochi_retry_failed(self, batch_size=const.CRON_BATCH_SIZE):
        """Process again one batch of failed events due for a retry, as the
        processing job does pending ones (ir.cron progress API: Odoo commits
        each batch and calls again while some remain)."""
        self._omochi_claim_and_apply(self._omochi_retry_due_condition(), batch_size)


class _CronWaker:
    """Wakes Odoo's cron workers: a NOTIFY on ``cron_trigger`` in the
    ``postgres`` database, where they LISTEN, as ``ir.cron._trigger()`` does.

    One thread per process sends it, on a connection it keeps open (Odoo's
    pool closes a connection to ``postgres`` with its cursor, and a new one
    per delivery, a new server backend, cost more than the rest of the
    acknowledgement): the request does not wait for it. Each wake-up is sent
    when asked for (once the trigger it announces is due); the wake-ups due
    by then share one NOTIFY per database. The NOTIFY's commit need not reach
    the disk: a wake-up lost to a crash only waits for the next delivery's or
    the processing crons' interval.
    """

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        """Start afresh (also in a forked child: the parent's thread, lock
        and connection are not the child's)."""
        self._condition = threading.Condition()
        self._pending = []  # heap of (monotonic time due, dbname)
        self._thread = None
        self._connection = None

    def wake(self, dbname, delay=0.0):
        """Have the cron workers told, ``delay`` seconds from now, that
        ``dbname`` has jobs ready."""
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="omochi-cron-waker", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._pending, (time.monotonic() + delay, dbname))
            self._condition.notify()

    def _take_due(self):
        """Wait until a wake-up is due; return the databases due by then."""
        with self._condition:
            while True:
                now = time.monotonic()
                if self._pending and self._pending[0][0] <= now:
                    break
                next_due = self._pending[0][0] if self._pending else None
                self._condition.wait(None if next_due is None else next_due - now)
            dbnames = set()
            while self._pending and self._pending[0][0] <= now:
                dbnames.add(heapq.heappop(self._pending)[1])
            return dbnames

    def _run(self):
        while True:
            for dbname in self._take_due():
                try:
                    self._notify(dbname)
                except Exception:  # the crons' interval catches up
                    _logger.warning(
                        "Could not wake the cron workers of %s; the processing "
                        "crons will run at their next interval",
                        dbname,
                        exc_info=True,
                    )

    def _notify(self, dbname):
        statement = SQL(
            "SELECT %s('cron_trigger', %s)",
            SQL.identifier(ODOO_NOTIFY_FUNCTION),
            dbname,
        )
        for attempt in (1, 2):
            try:
                with self._open().cursor() as cursor:
                    cursor.execute(statement.code, statement.params)
                return
            except psycopg2.OperationalError:
                # The server closed it (restart, idle timeout): once more on
                # a new connection.
                self._close()
                if attempt == 2:
                    raise

    def _open(self):
        if self._connection is None or self._connection.closed:
            _dbname, info = sql_db.connection_info_for("postgres")
            self._connection = psycopg2.connect(**info)
            self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
        return self._connection

    def _close(self):
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None


_CRON_WAKER = _CronWaker()


def _as_int(value):
    """``value`` when it is an integer (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value):
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def _change_key(event_type, stripe_object):
    """The change an event reports: its type, its object's id and, for the
    types that report successive changes of one object (refunds, failed
    attempts), the state that tells them apart. ``None`` without an id."""
    object_id = _as_str(stripe_object.get("id"))
    if not object_id:
        return None
    parts = [event_type, object_id]
    field_name = const.EVENT_CHANGE_FIELDS.get(event_type)
    if field_name:
        parts.append(str(stripe_object.get(field_name)))
    return ":".join(parts)
