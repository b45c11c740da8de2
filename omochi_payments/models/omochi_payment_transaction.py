import contextlib
import logging
import uuid
import weakref
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from markupsafe import escape

from odoo import api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.tools import email_normalize

from .. import const
from ..exceptions import ReturnUrlNotAllowedError
from ..tools.config import url_origin
from ..tools.stripe_amounts import from_minor_units, to_minor_units
from ..tools.stripe_gateway import StripeGateway, StripeGatewayError

_logger = logging.getLogger(__name__)


class OmochiPaymentTransaction(models.Model):
    """A payment of an Omochi order through one Stripe Checkout Session.

    ``uuid`` is the public identifier used by the API (its ``payment_id``);
    ``reference`` is the human reference taken from a sequence. The amount, the
    currency, the customer and the company are a snapshot of the order taken at
    creation: later changes of the order never alter a payment.
    """

    _name = "omochi.payment.transaction"
    _description = "Omochi Payment Transaction"
    # Activities: payments flagged for review go to the managers' to-do lists.
    _inherit = ("mail.thread", "mail.activity.mixin")
    _order = "id desc"
    _rec_name = "reference"
    _check_company_auto = True
    # Users only read transactions; they may still log notes in the chatter.
    _mail_post_access = "read"

    _sql_constraints = (
        ("uuid_uniq", "UNIQUE(uuid)", "The payment UUID must be unique."),
        (
            "stripe_checkout_session_id_uniq",
            "UNIQUE(stripe_checkout_session_id)",
            "A Stripe Checkout Session belongs to one transaction only.",
        ),
        ("amount_positive", "CHECK(amount > 0)", "The amount must be positive."),
        (
            "amount_refunded_bounds",
            "CHECK(amount_refunded >= 0 AND amount_refunded <= amount)",
            "The refunded amount must lie between zero and the amount.",
        ),
    )

    uuid = fields.Char(
        string="UUID",
        required=True,
        readonly=True,
        copy=False,
        # No index=True: the UNIQUE constraint's index serves the lookups.
        default=lambda self: str(uuid.uuid4()),
        help="Public identifier of the payment, used by the API (payment_id).",
    )
    reference = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        index="trigram",
        default="/",
    )
    order_id = fields.Many2one(
        "omochi.order",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
        check_company=True,
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        readonly=True,
        index=True,
        help="The customer of the order when the payment was created.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
    )
    amount = fields.Monetary(
        required=True,
        readonly=True,
        help="Amount of the order when the payment was created.",
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        readonly=True,
    )
    status = fields.Selection(
        const.STATUS_SELECTION,
        required=True,
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
        default=const.STATUS_PENDING,
    )
    stripe_checkout_session_id = fields.Char(
        string="Checkout Session ID",
        readonly=True,
        copy=False,
    )
    stripe_payment_intent_id = fields.Char(
        string="Payment Intent ID",
        readonly=True,
        copy=False,
        index="btree_not_null",
    )
    stripe_charge_id = fields.Char(string="Charge ID", readonly=True, copy=False)
    checkout_url = fields.Char(string="Checkout URL", readonly=True, copy=False)
    return_url = fields.Char(
        string="Return URL",
        readonly=True,
        copy=False,
        help="The frontend URL the customer returns to after the checkout.",
    )
    expires_at = fields.Datetime(
        readonly=True,
        copy=False,
        help="When the Stripe Checkout Session expires.",
    )
    amount_refunded = fields.Monetary(readonly=True, copy=False, tracking=True)
    amount_received = fields.Monetary(
        string="Received",
        compute="_compute_amount_received",
        store=True,
        help="The amount Stripe collected: the amount once the payment "
        "completed (refunds included, see Refunded), zero otherwise.",
    )
    error_message = fields.Text(readonly=True, copy=False)
    completed_at = fields.Datetime(readonly=True, copy=False)
    pay_user_id = fields.Many2one(
        "res.users",
        string="Started By",
        readonly=True,
        copy=False,
        help="The back-office user who pressed Pay: Odoo notifies them when "
        "the payment completes or fails.",
    )
    review_required = fields.Boolean(
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
        help="Money was taken but the order was not paid by it (its amount is "
        "not the order's current total, or the order was already paid): a "
        "manager refunds it or marks it reviewed (DESIGN §4).",
    )
    review_reason = fields.Text(readonly=True, copy=False)
    event_ids = fields.One2many(
        "omochi.payment.event",
        "transaction_id",
        string="Webhook Events",
        readonly=True,
        groups="omochi_orders.group_omochi_manager",
    )
    stripe_checkout_attempt = fields.Integer(
        string="Checkout Attempt",
        readonly=True,
        copy=False,
        help="Counts the Checkout Session creations asked for this payment; part "
        "of their idempotency key, so a retry after a failure replays the same "
        "request while a new attempt makes a new session.",
    )
    last_reconciled_at = fields.Datetime(
        readonly=True,
        copy=False,
        help="When the reconciliation cron last asked Stripe about this payment.",
    )
    stripe_checkout_session_url = fields.Char(
        string="Session in Stripe",
        compute="_compute_stripe_dashboard_urls",
    )
    stripe_payment_intent_url = fields.Char(
        string="Payment in Stripe",
        compute="_compute_stripe_dashboard_urls",
    )
    api_status = fields.Char(
        string="API Status",
        compute="_compute_api_status",
        help="The status as exposed by the API (upper-case).",
    )

    @api.depends("status", "amount")
    def _compute_amount_received(self):
        """Count the amount only of the payments whose money was collected."""
        for transaction in self:
            paid = transaction.status in const.PAID_STATUSES
            transaction.amount_received = transaction.amount if paid else 0.0

    @api.depends("status")
    def _compute_api_status(self):
        """Expose the upper-case API value of the status."""
        for transaction in self:
            transaction.api_status = transaction._get_api_status()

    @api.depends(
        "stripe_checkout_session_id", "stripe_payment_intent_id", "checkout_url"
    )
    def _compute_stripe_dashboard_urls(self):
        """Link the Stripe ids to the Stripe Dashboard, in the key's mode, or
        to the simulator's own page of the object in simulator mode."""
        for transaction in self:
            session_id = transaction.stripe_checkout_session_id
            intent_id = transaction.stripe_payment_intent_id
            config = transaction.company_id._omochi_stripe_config()
            if config.is_real_stripe:
                base = const.STRIPE_DASHBOARD_URL + (
                    "" if config.is_live_mode else "/test"
                )
                session_url = f"{base}/checkout/sessions/{session_id}"
                intent_url = f"{base}/payments/{intent_id}"
            else:
                # The browser reaches the simulator where its checkout page is.
                origin = url_origin(transaction.checkout_url or "") or config.api_base
                base = origin.rstrip("/") + const.SIMULATOR_DASHBOARD_PATH
                session_url = f"{base}/{session_id}"
                intent_url = f"{base}/{intent_id}"
            transaction.stripe_checkout_session_url = session_id and session_url
            transaction.stripe_payment_intent_url = intent_id and intent_url

    @api.model_create_multi
    def create(self, vals_list):
        """Snapshot the order and assign the sequence reference.

        The customer, company, amount and currency default to the order's
        values at creation time.
        """
        for vals in vals_list:
            if vals.get("order_id"):
                order = self.env["omochi.order"].browse(vals["order_id"])
                for key, value in self._prepare_order_snapshot(order).items():
                    vals.setdefault(key, value)
            if vals.get("reference", "/") == "/":
                vals["reference"] = self._next_reference(vals)
        return super().create(vals_list)

    @api.model
    def _prepare_order_snapshot(self, order):
        """Return the values a new transaction copies from its order.

        :param order: The ``omochi.order`` record being paid.
        :return: The ``partner_id``, ``company_id``, ``amount`` and
            ``currency_id`` values.
        :rtype: dict
        """
        order = order.sudo()
        return {
            "partner_id": order.partner_id.id,
            "company_id": order.company_id.id,
            "amount": order.amount_total,
            "currency_id": order.currency_id.id,
        }

    @api.model
    def _next_reference(self, vals):
        """Return the next ``omochi.payment.transaction`` sequence value.

        :param dict vals: The creation values (for the company).
        :rtype: str
        """
        company = self.env["res.company"].browse(vals.get("company_id"))
        sequence = (
            self.env["ir.sequence"].sudo().with_company(company or self.env.company)
        )
        return sequence.next_by_code("omochi.payment.transaction") or "/"

    def _get_api_status(self):
        """Return the API value of the transaction status (e.g. ``COMPLETED``).

        :rtype: str
        """
        self.ensure_one()
        return const.api_status(self.status)

    def _is_final(self):
        """Return whether the status is final (see ``const.FINAL_STATUSES``).

        :rtype: bool
        """
        self.ensure_one()
        return self.status in const.FINAL_STATUSES

    # ------------------------------------------------------------------
    # Status machine (DESIGN §4)
    # ------------------------------------------------------------------

    def _omochi_transition(self, status, values=None):
        """Move the transaction to ``status`` if §4 allows it from its status.

        :param str status: The target status.
        :param dict values: More fields to write along with the status.
        :return: Whether the transaction moved (``False`` when §4 does not
            allow it from the current status, e.g. COMPLETED -> FAILED).
        :rtype: bool
        """
        self.ensure_one()
        if self.status not in const.TRANSITIONS[status]:
            _logger.info(
                "Payment %s: %s -> %s ignored", self.reference, self.status, status
            )
            return False
        self.write({**(values or {}), "status": status})
        self._omochi_notify_status()
        return True

    def _omochi_notify_status(self):
        """Tell the open back-office tabs (Odoo's bus, sent on commit): the
        forms showing the payment or its order reload, and whoever pressed
        Pay gets a notification once the outcome is known."""
        self.ensure_one()
        payload = {
            "transaction_id": self.id,
            "order_id": self.order_id.id,
            "status": self.status,
        }
        group_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "omochi_orders.group_omochi_user"
        )
        self.env["res.groups"].browse(group_id)._bus_send(
            const.BUS_STATUS_NOTIFICATION, payload
        )
        if not self.pay_user_id:
            return
        message = self._omochi_outcome_message()
        if message:
            self.pay_user_id._bus_send("simple_notification", message)

    def _omochi_outcome_message(self):
        """The ``simple_notification`` of a known outcome, or ``None``."""
        values = {
            "amount": self.currency_id.format(self.amount),
            "order": self.order_id.name,
            "error": self.error_message or "",
        }
        if self.status == const.STATUS_COMPLETED:
            kind, title = "success", self.env._("Payment received")
            text = self.env._("%(order)s: %(amount)s paid.", **values)
        elif self.status == const.STATUS_FAILED:
            kind, title = "danger", self.env._("Payment failed")
            text = self.env._("%(order)s: %(amount)s not paid. %(error)s", **values)
        elif self.status == const.STATUS_EXPIRED:
            kind, title = "warning", self.env._("Payment expired")
            text = self.env._("%(order)s: the checkout page expired.", **values)
        else:
            return None
        return {"type": kind, "title": title, "message": text.strip()}

    def _omochi_complete(self, amount_minor, currency_code, values=None):
        """Complete the payment if Stripe's amount and currency are ours.

        On a mismatch the error is recorded and nothing completes. A
        completed payment marks the order paid, with a chatter message on
        both records.

        :param int amount_minor: The amount Stripe collected, in minor units.
        :param str currency_code: Stripe's currency code (any case).
        :param dict values: Stripe ids to store along with the status.
        :return: Whether the transaction completed now.
        :rtype: bool
        """
        self.ensure_one()
        expected = to_minor_units(self.amount, self.currency_id.name)
        if (currency_code or "").upper() != self.currency_id.name or (
            amount_minor != expected
        ):
            self.error_message = self.env._(
                "Stripe reported %(got)s %(got_currency)s where %(expected)s "
                "%(currency)s (minor units) were expected; the payment was not "
                "completed.",
                got=amount_minor,
                got_currency=(currency_code or "").upper(),
                expected=expected,
                currency=self.currency_id.name,
            )
            return False
        values = {
            **(values or {}),
            "completed_at": fields.Datetime.now(),
            "error_message": False,
        }
        if not self._omochi_transition(const.STATUS_COMPLETED, values):
            return False
        self._omochi_post_completion_messages()
        return True

    def _omochi_post_completion_messages(self):
        """Mark the order paid and say so in both chatters, unless this
        payment cannot pay the order as it is now: then it is flagged for
        review instead (DESIGN §4)."""
        order = self.order_id
        amount = self.currency_id.format(self.amount)
        self._omochi_log_as_stripe(
            self, self.env._("Payment of %s completed at Stripe.", amount)
        )
        reason = self._omochi_review_reason()
        if reason:
            self._omochi_flag_for_review(reason)
            return
        order._omochi_set_state("paid")
        self._omochi_log_as_stripe(
            order,
            self.env._(
                "Order paid: %(amount)s by payment %(reference)s.",
                amount=amount,
                reference=self.reference,
            ),
        )

    @api.model
    def _omochi_stripe_author(self):
        """The partner that signs what Stripe caused: OdooBot, not the user
        whose request or cron happened to apply Stripe's news."""
        # ormcached id: env.ref() would read the partner on every call.
        return self.env["res.partner"].browse(
            self.env["ir.model.data"]._xmlid_to_res_id("base.partner_root")
        )

    def _omochi_track_as_stripe(self):
        """Sign the tracking messages of the transaction and its order, in
        this database transaction, as Stripe's author (see above)."""
        author = self._omochi_stripe_author()
        self._track_set_author(author)
        self.order_id._track_set_author(author)

    @api.model
    def _omochi_log_as_stripe(self, record, body):
        """Log ``body`` in ``record``'s chatter as Stripe's author, together
        with the tracked changes of ``record`` so far in this database
        transaction: one message where Odoo would write two (the note, then
        the tracking at commit). A note nobody is notified of
        (``_message_log``, not ``message_post``: no recipients to compute;
        open forms reload on the status bus message)."""
        record = record.sudo()
        tracking = _take_tracking_values(record)
        collected = _COLLECTED_CHATTER.get(self.env.cr)
        if collected is not None:  # applying a batch of events: logged at its end
            collected.append((record, body, tracking))
            return
        record._message_log(
            body=escape(body),
            author_id=self._omochi_stripe_author().id,
            tracking_value_ids=tracking,
        )

    @api.model
    @contextlib.contextmanager
    def _omochi_collect_chatter(self):
        """Collect, instead of writing, what :meth:`_omochi_log_as_stripe`
        logs meanwhile on this cursor; yield the list of entries, for
        :meth:`_omochi_log_batch_as_stripe` to write them together."""
        entries = _COLLECTED_CHATTER[self.env.cr] = []
        try:
            yield entries
        finally:
            _COLLECTED_CHATTER.pop(self.env.cr, None)

    @api.model
    def _omochi_log_batch_as_stripe(self, entries):
        """Log many ``(record, body, tracking commands)`` as
        :meth:`_omochi_log_as_stripe` does, with one ``mail.message`` and one
        ``mail.tracking.value`` creation per model (per round, when a record
        has several entries: they keep their order)."""
        author_id = self._omochi_stripe_author().id
        tracking_values = []
        while entries:
            this_round, later, seen = [], [], set()
            for entry in entries:
                key = (entry[0]._name, entry[0].id)
                (later if key in seen else this_round).append(entry)
                seen.add(key)
            by_model = {}
            for record, body, tracking in this_round:
                by_model.setdefault(record._name, []).append((record, body, tracking))
            for model_entries in by_model.values():
                records = (
                    self.env[model_entries[0][0]._name]
                    .sudo()
                    .browse([record.id for record, _body, _tracking in model_entries])
                )
                messages = records._message_log_batch(
                    {record.id: body for record, body, _tracking in model_entries},
                    author_id=author_id,
                )
                for message, (_record, _body, tracking) in zip(
                    messages, model_entries, strict=True
                ):
                    tracking_values += [
                        {**values, "mail_message_id": message.id}
                        for _create, _id, values in tracking or ()
                    ]
            entries = later
        if tracking_values:
            self.env["mail.tracking.value"].sudo().create(tracking_values)

    def _omochi_review_reason(self):
        """Why this completed payment may not pay its order, or ``None``.

        The order must be confirmed, not paid by another payment, and its
        *current* total and currency must be what this payment collected.

        :rtype: str | None
        """
        order = self.order_id
        others = order.transaction_ids.filtered(
            lambda tx: (
                tx != self
                and tx.status in const.PAID_STATUSES
                and not tx.review_required
            )
        )
        if order.state in ("paid", "refunded") or others:
            return self.env._(
                "Order %(order)s was already paid by %(others)s: this is a second "
                "payment of it.",
                order=order.name,
                others=", ".join(others.mapped("reference")) or order.name,
            )
        if order.state != "confirmed":
            return self.env._(
                "Order %(order)s is %(state)s: it changed after this payment's "
                "checkout was opened.",
                order=order.name,
                state=order._state_label(),
            )
        if order.currency_id != self.currency_id or (
            to_minor_units(order.amount_total, order.currency_id.name)
            != to_minor_units(self.amount, self.currency_id.name)
        ):
            return self.env._(
                "Order %(order)s now totals %(total)s, not the %(amount)s this "
                "payment collected.",
                order=order.name,
                total=order.currency_id.format(order.amount_total),
                amount=self.currency_id.format(self.amount),
            )
        return None

    def _omochi_flag_for_review(self, reason):
        """Flag the payment for review: a chatter message on both records and
        a to-do activity for each Omochi manager of the company."""
        self.write({"review_required": True, "review_reason": reason})
        body = self.env._(
            "Payment %(reference)s was completed but did NOT pay the order: %(reason)s "
            "A manager must refund it or mark it reviewed.",
            reference=self.reference,
            reason=reason,
        )
        self._omochi_log_as_stripe(self, body)
        self.order_id.sudo().message_post(
            body=body, author_id=self._omochi_stripe_author().id
        )
        group = self.env.ref("omochi_orders.group_omochi_manager")
        managers = group.sudo().users
        for manager in managers.filtered(
            lambda user: not user.share and self.company_id in user.company_ids
        ):
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Review payment %s", self.reference),
                note=reason,
                user_id=manager.id,
            )

    def action_refund_for_review(self):
        """One click for managers: refund at Stripe what remains of a payment
        flagged for review.

        :raise AccessError: the user is not an Omochi manager of its company.
        :raise UserError: the payment is not flagged, or Stripe refused.
        """
        self.ensure_one()
        self._omochi_check_manager_access()
        if not self.review_required:
            raise UserError(self.env._("This payment is not flagged for review."))
        wizard = (
            self.env["omochi.payment.refund.wizard"]
            .with_context(active_id=self.id)
            .create({"transaction_id": self.id, "reason": "duplicate"})
        )
        wizard.action_refund()
        return True

    def action_mark_reviewed(self):
        """A manager keeps the money of a flagged payment (e.g. agreed with
        the customer): the flag and its activities are cleared."""
        self._omochi_check_manager_access()
        for transaction in self.sudo().filtered("review_required"):
            transaction._omochi_clear_review(
                self.env._("Reviewed by %s.", self.env.user.name)
            )
        return True

    def _omochi_clear_review(self, note):
        """Clear the review flag and mark its activities done."""
        self.ensure_one()
        self.review_required = False
        self.activity_ids.filtered(
            lambda activity: (
                activity.activity_type_id
                == self.env.ref("mail.mail_activity_data_todo")
            )
        ).action_feedback(feedback=note)

    def _omochi_check_manager_access(self):
        """Refuse unless the user is an Omochi manager who may write these
        payments (their company included)."""
        if not self.env.su and not self.env.user.has_group(
            "omochi_orders.group_omochi_manager"
        ):
            raise AccessError(self.env._("Only Omochi managers may do this."))
        self.check_access("write")

    def _stripe_apply_checkout_session(self, session):
        """Bring the transaction in line with a Checkout Session from Stripe.

        :param dict session: A ``checkout.session`` object, its
            ``payment_intent`` expanded or not.
        :return: Whether the status changed.
        :rtype: bool
        """
        self.ensure_one()
        self._omochi_track_as_stripe()
        intent = session.get("payment_intent")
        ids = {}
        if isinstance(intent, dict):
            ids["stripe_payment_intent_id"] = intent["id"]
            if isinstance(intent.get("latest_charge"), str):
                ids["stripe_charge_id"] = intent["latest_charge"]
        elif intent:
            ids["stripe_payment_intent_id"] = intent
        ids = {key: value for key, value in ids.items() if self[key] != value}
        if ids:
            self.write(ids)
        status, payment_status = session.get("status"), session.get("payment_status")
        if status == "complete" and payment_status in ("paid", "no_payment_required"):
            return self._omochi_complete(session["amount_total"], session["currency"])
        if status == "expired":
            return self._omochi_transition(const.STATUS_EXPIRED)
        # A declined card (open session) or a failed asynchronous payment
        # (complete, unpaid session): the payment intent says why.
        error = isinstance(intent, dict) and intent.get("last_payment_error")
        if error:
            return self._omochi_transition(
                const.STATUS_FAILED, {"error_message": error.get("message")}
            )
        if status == "complete":
            if self.status == const.STATUS_FAILED and self._omochi_async_failed():
                # A late "completed, unpaid" event of a session whose
                # asynchronous payment already failed: it cannot be paid again.
                return False
            return self._omochi_transition(const.STATUS_PROCESSING)
        return False

    def _omochi_async_failed(self):
        """Whether Stripe told us (webhook) that the asynchronous payment of
        the transaction's session failed.

        :rtype: bool
        """
        self.ensure_one()
        return bool(
            self.env["omochi.payment.event"]
            .sudo()
            .search_count(
                [
                    ("transaction_id", "=", self.id),
                    ("type", "=", "checkout.session.async_payment_failed"),
                    ("state", "=", "done"),
                ],
                limit=1,
            )
        )

    def _omochi_refund_progress(self, refunded_minor):
        """Record Stripe's refunded total (minor units) of the payment.

        Refunded totals only grow, so events in any order converge; the full
        amount makes the transaction REFUNDED and the order ``refunded``.

        :param int refunded_minor: The charge's ``amount_refunded``.
        :return: Whether the transaction changed.
        :rtype: bool
        """
        self.ensure_one()
        currency = self.currency_id.name
        if refunded_minor <= to_minor_units(self.amount_refunded, currency):
            return False
        full = refunded_minor >= to_minor_units(self.amount, currency)
        status = const.STATUS_REFUNDED if full else const.STATUS_PARTIALLY_REFUNDED
        refunded = (
            self.amount if full else float(from_minor_units(refunded_minor, currency))
        )
        if not self._omochi_transition(status, {"amount_refunded": refunded}):
            return False
        amount = self.currency_id.format(refunded)
        self._omochi_log_as_stripe(
            self, self.env._("Refunded at Stripe: %s in total.", amount)
        )
        if full and self.review_required:
            self._omochi_clear_review(self.env._("Refunded in full."))
        elif full and self.order_id.state == "paid":
            self.order_id._omochi_set_state("refunded")
            self._omochi_log_as_stripe(
                self.order_id, self.env._("Order fully refunded (%s).", amount)
            )
        return True

    # ------------------------------------------------------------------
    # Webhook events (DESIGN §8)
    # ------------------------------------------------------------------

    @api.model
    def _stripe_find_for_object(self, stripe_object):
        """Find the transaction a Stripe object is about (DESIGN §8 order):
        metadata ``payment_id``, ``client_reference_id``, session id, payment
        intent id.

        :param dict stripe_object: A session, payment intent or charge.
        :return: The transaction (sudo), or an empty recordset.
        """
        return self._stripe_find_for_objects([stripe_object])[0]

    @api.model
    def _stripe_find_for_objects(self, stripe_objects):
        """:meth:`_stripe_find_for_object` for many objects at once: one
        query per kind of reference, whatever their number.

        :param list stripe_objects: Sessions, payment intents or charges.
        :return: Their transactions (sudo, empty when none), in their order.
        :rtype: list
        """
        candidates = [_stripe_references(obj) for obj in stripe_objects]
        wanted = {}
        for references in candidates:
            for field_name, value in references:
                wanted.setdefault(field_name, set()).add(value)
        transactions = self.sudo()
        found = {}
        for field_name, values in wanted.items():
            for record in transactions.search([(field_name, "in", list(values))]):
                # The first in _order wins, as with search(limit=1).
                found.setdefault((field_name, record[field_name]), record)
        return [
            next(
                (found[ref] for ref in references if ref in found),
                transactions,
            )
            for references in candidates
        ]

    def _omochi_lock(self):
        """Lock the transaction row until the end of the database transaction,
        so that concurrent writers apply one after the other: a concurrent
        update makes the later one fail to serialize here, before it changes
        anything, and Odoo retries its request (an expected retry, so the
        failure is not logged as an error)."""
        self.env.cr.execute(
            "SELECT id FROM omochi_payment_transaction WHERE id = %s FOR NO KEY UPDATE",
            [self.id],
            log_exceptions=False,
        )
        self.invalidate_recordset()

    def _stripe_apply_event(self, event_type, stripe_object):
        """Apply a handled webhook event to the transaction (DESIGN §4).

        :param str event_type: One of ``const.HANDLED_WEBHOOK_EVENTS``.
        :param dict stripe_object: The event's ``data.object``.
        :return: Whether the transaction changed.
        :rtype: bool
        """
        self.ensure_one()
        self._omochi_track_as_stripe()
        if event_type == "checkout.session.async_payment_failed":
            return self._omochi_transition(
                const.STATUS_FAILED,
                {"error_message": self.env._("The asynchronous payment failed.")},
            )
        if event_type.startswith("checkout.session."):
            return self._stripe_apply_checkout_session(stripe_object)
        if event_type == "payment_intent.succeeded":
            ids = {"stripe_payment_intent_id": stripe_object["id"]}
            if isinstance(stripe_object.get("latest_charge"), str):
                ids["stripe_charge_id"] = stripe_object["latest_charge"]
            return self._omochi_complete(
                stripe_object["amount_received"], stripe_object["currency"], ids
            )
        if event_type == "payment_intent.payment_failed":
            error = stripe_object.get("last_payment_error") or {}
            return self._omochi_transition(
                const.STATUS_FAILED,
                {
                    "stripe_payment_intent_id": stripe_object["id"],
                    "error_message": error.get("message")
                    or self.env._("The payment failed."),
                },
            )
        if event_type == "charge.refunded":
            if not self.stripe_charge_id:
                self.stripe_charge_id = stripe_object["id"]
            completed = False
            if self.status not in const.PAID_STATUSES and stripe_object.get("paid"):
                # The refund arrived before the payment's own event: the paid
                # charge proves the money was taken, so complete first, or the
                # refund would be lost (events converge in any order, §4).
                intent = stripe_object.get("payment_intent")
                completed = self._omochi_complete(
                    stripe_object["amount"],
                    stripe_object["currency"],
                    {"stripe_payment_intent_id": intent}
                    if isinstance(intent, str)
                    else {},
                )
            refunded = self._omochi_refund_progress(stripe_object["amount_refunded"])
            return completed or refunded
        raise ValueError(f"Unhandled Stripe event type {event_type}")

    # ------------------------------------------------------------------
    # Stripe Checkout
    # ------------------------------------------------------------------

    def _stripe_gateway(self):
        """Return a Stripe gateway configured for the transaction's company."""
        return StripeGateway(self.company_id._omochi_stripe_config())

    def _stripe_create_checkout_session(self, config, return_urls, return_url=None):
        """Create the transaction's Checkout Session at Stripe (DESIGN §6).

        The parameters of a failed attempt are kept (same ``expires_at``,
        same idempotency key), so that retrying replays the request at Stripe
        instead of making a second session. A new attempt (a new key) starts
        when that ``expires_at`` would be too close, or when Stripe refuses
        the key because the parameters changed since (another ``return_url``
        or customer e-mail): the earlier request made no session then.

        :param StripeConfig config: The company's configuration.
        :param tuple return_urls: ``(success_url, cancel_url)`` from
            ``_omochi_return_urls``.
        :param str return_url: The caller's ``return_url``, kept for reference.
        :raise StripeGatewayError: Stripe failed; recorded in ``error_message``.
        """
        self.ensure_one()
        self.return_url = return_url or False
        gateway = StripeGateway(config)
        min_expiry = fields.Datetime.now() + timedelta(
            minutes=const.CHECKOUT_SESSION_MIN_LIFETIME_MINUTES
        )
        new_attempt = not self.expires_at or self.expires_at < min_expiry
        while True:
            if new_attempt:
                self.write(
                    {
                        "stripe_checkout_attempt": self.stripe_checkout_attempt + 1,
                        "expires_at": fields.Datetime.now()
                        + timedelta(minutes=const.CHECKOUT_SESSION_LIFETIME_MINUTES),
                    }
                )
            params = self._stripe_checkout_session_params(*return_urls)
            key = (
                f"omochi-{self.uuid}-checkout-session-create-"
                f"{self.stripe_checkout_attempt}"
            )
            try:
                session = gateway.create_checkout_session(params, key)
                break
            except StripeGatewayError as error:
                if error.code == "idempotency_error" and not new_attempt:
                    new_attempt = True
                    continue
                self.error_message = error.message
                raise
        self.write(
            {
                "stripe_checkout_session_id": session["id"],
                "checkout_url": session["url"],
                "expires_at": _from_unix_time(session["expires_at"]),
                "error_message": False,
            }
        )

    def _stripe_checkout_session_params(self, success_url, cancel_url):
        """Return the Checkout Session parameters of DESIGN §6.

        :rtype: dict
        """
        order = self.order_id
        metadata = {
            "payment_id": self.uuid,
            "order_id": order.uuid,
            "order_name": order.name,
        }
        params = {
            "mode": "payment",
            "line_items": order._stripe_line_items(),
            "client_reference_id": self.uuid,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": _to_unix_time(self.expires_at),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        email = email_normalize(self.partner_id.email or "")
        if email:
            params["customer_email"] = email
        return params

    @api.model
    def _omochi_return_urls(self, config, return_url=None):
        """Return the ``(success_url, cancel_url)`` of a Checkout Session.

        Both are the frontend's ``/payment/status`` page of the integration
        guide, or ``return_url`` when given, with the guide's query
        parameters added (``{CHECKOUT_SESSION_ID}`` is filled in by Stripe).

        :param StripeConfig config: The company's configuration.
        :param str return_url: An absolute URL on an allowed origin, or None.
        :raise ReturnUrlNotAllowedError: when ``return_url`` is not.
        :rtype: tuple[str, str]
        """
        if return_url:
            if not self._omochi_is_return_url_allowed(config, return_url):
                raise ReturnUrlNotAllowedError(
                    self.env._(
                        "return_url must be an http(s) URL on an allowed origin "
                        "(FRONTEND_URL or the configured allowed origins)."
                    )
                )
            base = return_url
        else:
            base = config.frontend_url + const.FRONTEND_STATUS_PATH
        return (
            _add_query(base, const.SUCCESS_PATH_QUERY),
            _add_query(base, const.CANCEL_PATH_QUERY),
        )

    @api.model
    def _omochi_is_return_url_allowed(self, config, return_url):
        """Whether ``return_url`` may receive the customer (no open redirect):
        an http(s) URL on an allowed origin or on this database's own origin
        (the Odoo-hosted status page).

        :rtype: bool
        """
        if not isinstance(return_url, str) or len(return_url) > 2000:
            return False
        if any(ord(char) < 33 or char == "\\" for char in return_url):
            return False
        own_origin = url_origin(self.get_base_url())
        return config.is_origin_allowed(return_url) or (
            url_origin(return_url) == own_origin
        )

    # ------------------------------------------------------------------
    # Status refresh and cancellation
    # ------------------------------------------------------------------

    def _stripe_refresh(self):
        """Update a non-final transaction from its Checkout Session at Stripe.

        Stripe being unreachable is logged and leaves the transaction as it
        is: the webhook or the reconciliation cron brings the news later.

        :return: Whether the status changed.
        :rtype: bool
        """
        self.ensure_one()
        if self._is_final() or not self.stripe_checkout_session_id:
            return False
        try:
            session = self._stripe_gateway().retrieve_checkout_session(
                self.stripe_checkout_session_id
            )
        except StripeGatewayError as error:
            _logger.warning(
                "Payment %s not refreshed: %s", self.reference, error.message
            )
            return False
        # Locked after the call to Stripe, to hold the lock briefly.
        self._omochi_lock()
        if self._is_final():
            return False
        return self._stripe_apply_checkout_session(session)

    def _stripe_refresh_on_request(self):
        """Refresh the payment from Stripe for a request asking its status,
        at most once per ``const.REFRESH_MIN_INTERVAL_SECONDS`` however many
        requests ask (the others answer from the database).

        :return: Whether the status changed.
        :rtype: bool
        """
        self.ensure_one()
        if self._is_final() or not self.stripe_checkout_session_id:
            return False
        if not self.env["omochi.payment.refresh.claim"]._omochi_claim(self.id):
            return False
        return self._stripe_refresh()

    def _omochi_is_reusable(self, return_url, reuse_until):
        """Whether the customer may be sent to this transaction's session
        again instead of a new one (see ``omochi.order._omochi_open_transaction``).

        :param str return_url: The ``return_url`` the caller asks for now.
        :param datetime reuse_until: The session must stay open until then.
        :raise StripeGatewayError: Stripe cannot tell whether the session of a
            failed payment is still open.
        :rtype: bool
        """
        self.ensure_one()
        pending = self.status == const.STATUS_PENDING
        if not self.stripe_checkout_session_id:
            return pending
        if (self.return_url or None) != (return_url or None) or not (
            self.expires_at and self.expires_at > reuse_until
        ):
            return False
        if pending:
            return True
        # A declined card: the customer may try another card on the same
        # session while Stripe keeps it open.
        session = self._stripe_gateway().retrieve_checkout_session(
            self.stripe_checkout_session_id
        )
        if session.get("status") == "open":
            return True
        self._stripe_apply_checkout_session(session)
        return False

    def _stripe_close_checkout_session(self):
        """Expire the transaction's session at Stripe and mark it EXPIRED
        (unless Stripe reports it paid or processing, which then applies).

        :raise StripeGatewayError: Stripe did not confirm the session closed.
        """
        self.ensure_one()
        self._stripe_expire_checkout_session()
        if self.status in (const.STATUS_PENDING, const.STATUS_FAILED):
            self._omochi_transition(const.STATUS_EXPIRED)

    def _omochi_status_payload(self):
        """Return the ``check_status`` answer of DESIGN §7.

        ``amount`` is a decimal string in major units with the currency's
        decimals (``"25.00"``, ``"1500"`` for JPY), never a float.

        :rtype: dict
        """
        self.ensure_one()
        updated_at = self.write_date or self.create_date
        return {
            "payment_id": self.uuid,
            "order_id": self.order_id.uuid,
            "status": self._get_api_status(),
            "amount": f"{self.amount:.{self.currency_id.decimal_places}f}",
            "currency": self.currency_id.name,
            "checkout_session_id": self.stripe_checkout_session_id or None,
            "error_message": self.error_message or None,
            "updated_at": updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _omochi_checkout_payload(self):
        """Return the answer of the pay routes (DESIGN §7).

        :rtype: dict
        """
        self.ensure_one()
        return {
            "payment_id": self.uuid,
            "checkout_session_id": self.stripe_checkout_session_id,
            "checkout_url": self.checkout_url,
        }

    @api.model
    def omochi_check_status(self, session_id):
        """JSON-RPC entry point of ``GET /api/payments/check_status/``.

        ``execute_kw(db, uid, api_key, "omochi.payment.transaction",
        "omochi_check_status", ["cs_test_..."])``

        :param str session_id: A Stripe Checkout Session id (``cs_...``).
        :return: The dict of ``_omochi_status_payload`` (refreshed from Stripe
            while not final).
        :rtype: dict
        :raise UserError: ``session_id`` is not a Checkout Session id.
        :raise MissingError: no payment of that session the caller may see.
        """
        if not isinstance(
            session_id, str
        ) or not const.CHECKOUT_SESSION_ID_PATTERN.match(session_id):
            raise UserError(
                self.env._(
                    "'session_id' must be a Stripe Checkout Session id (cs_...)."
                )
            )
        try:
            transaction = self.search(
                [("stripe_checkout_session_id", "=", session_id)], limit=1
            )
        except AccessError:
            transaction = self.browse()
        if not transaction:
            raise MissingError(self.env._("No such payment."))
        transaction = transaction.sudo()
        transaction._stripe_refresh_on_request()
        return transaction._omochi_status_payload()

    def action_cancel(self):
        """Cancel pending payments, expiring their Checkout Session at Stripe.

        A session that Stripe reports as already paid is not cancelled: the
        transaction takes Stripe's status instead.

        :raise AccessError: the user is not an Omochi user.
        :raise UserError: Stripe could not expire a session.
        """
        if not self.env.su and not self.env.user.has_group(
            "omochi_orders.group_omochi_user"
        ):
            raise AccessError(self.env._("Only Omochi users may cancel payments."))
        # Runs as superuser below: only payments the user may see (their
        # companies, record rules), §4.
        self.check_access("read")
        for transaction in self.sudo():
            if transaction.status not in (const.STATUS_PENDING, const.STATUS_FAILED):
                continue
            try:
                transaction._stripe_expire_checkout_session()
            except StripeGatewayError as error:
                raise UserError(error.message) from None
            transaction._omochi_transition(const.STATUS_CANCELLED)
        return True

    def _stripe_expire_checkout_session(self):
        """Expire the open Checkout Session at Stripe, if there is one, and
        see it closed.

        :raise StripeGatewayError: Stripe refused for another reason than the
            session being no longer open, or could not be reached.
        """
        self.ensure_one()
        if not self.stripe_checkout_session_id:
            return
        gateway = self._stripe_gateway()
        try:
            session = gateway.expire_checkout_session(
                self.stripe_checkout_session_id,
                f"omochi-{self.uuid}-checkout-session-expire",
            )
        except StripeGatewayError as error:
            if error.http_status != 400:
                raise
            # No longer open: take Stripe's word for what happened to it.
            session = gateway.retrieve_checkout_session(self.stripe_checkout_session_id)
            self._stripe_apply_checkout_session(session)
        if session.get("status") == "open":
            raise StripeGatewayError(
                self.env._(
                    "Stripe did not confirm that the checkout session of payment "
                    "%s is closed; please try again in a moment.",
                    self.reference,
                )
            )

    # ------------------------------------------------------------------
    # Reconciliation of the payments Stripe has not told us about
    # ------------------------------------------------------------------

    @api.model
    def _omochi_reconcile_age(self):
        """Minutes a payment may stay PENDING/PROCESSING before the cron asks
        Stripe about it (``omochi_payments.reconcile_after_minutes``)."""
        value = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(
                "omochi_payments.reconcile_after_minutes",
                const.RECONCILE_AFTER_MINUTES,
            )
        )
        try:
            return max(int(value), 1)
        except (TypeError, ValueError):
            return const.RECONCILE_AFTER_MINUTES

    @api.model
    def _omochi_stale_domain(self):
        """Domain of the open payments older than the reconciliation age and
        not asked about for as long. FAILED payments are open too while their
        session may still be paid on (§4), until an age past its expiry."""
        threshold = fields.Datetime.now() - timedelta(
            minutes=self._omochi_reconcile_age()
        )
        return [
            "|",
            ("status", "in", const.OPEN_STATUSES),
            "&",
            ("status", "=", const.STATUS_FAILED),
            ("expires_at", ">=", threshold),
            ("create_date", "<", threshold),
            "|",
            ("last_reconciled_at", "=", False),
            ("last_reconciled_at", "<", threshold),
        ]

    @api.model
    def _cron_omochi_reconcile(self, batch_size=const.CRON_BATCH_SIZE):
        """Reconcile one batch of stale open payments with Stripe.

        Called by the ``ir.cron`` progress API: each call handles one batch,
        which Odoo commits before calling again while some remain. One bad
        payment is logged and skipped; it does not stop the batch.
        """
        stale = self.sudo().search(
            self._omochi_stale_domain(), order="create_date", limit=batch_size
        )
        for transaction in stale:
            try:
                with self.env.cr.savepoint():
                    transaction._omochi_lock()
                    transaction._omochi_reconcile()
            except Exception:  # one payment must not stop the rest
                _logger.exception("Reconciliation of %s failed", transaction.reference)
            transaction.last_reconciled_at = fields.Datetime.now()
        remaining = self.sudo().search_count(self._omochi_stale_domain())
        self.env["ir.cron"]._notify_progress(done=len(stale), remaining=remaining)

    def _omochi_reconcile(self):
        """Ask Stripe about one open payment and apply the answer; a session
        past its expiry that Stripe cannot tell about is expired here (a
        payment found later still completes it, §4)."""
        self.ensure_one()
        if self._stripe_refresh():
            return
        grace = timedelta(minutes=const.CHECKOUT_SESSION_REUSE_MARGIN_MINUTES)
        if self.expires_at and self.expires_at + grace < fields.Datetime.now():
            self._omochi_transition(const.STATUS_EXPIRED)


# Chatter entries collected while a batch of webhook events is applied, by
# cursor (see _omochi_collect_chatter).
_COLLECTED_CHATTER = weakref.WeakKeyDictionary()
# Descriptions of tracked fields, by cursor (see _take_tracking_values).
_TRACKED_FIELD_DESCRIPTIONS = weakref.WeakKeyDictionary()


def _take_tracking_values(record):
    """The tracking values of ``record``'s tracked changes so far in this
    database transaction (``mail.thread``'s pending tracking), as creation
    commands; its tracking then starts again from its current values, so
    that Odoo logs only later changes at commit.

    :return: A list of ``(0, 0, values)`` commands, or ``False``.
    """
    pending = record.env.cr.precommit.data.get(f"mail.tracking.{record._name}", {})
    initial_values = pending.get(record.id)
    if not initial_values:  # nothing tracked, or tracking discarded (None)
        return False
    # Described once per transaction (fields_get is costly), as Odoo's own
    # tracking does once per commit.
    descriptions = _TRACKED_FIELD_DESCRIPTIONS.setdefault(record.env.cr, {})
    key = (record._name, frozenset(initial_values), record.env.lang)
    if key not in descriptions:
        descriptions[key] = record.fields_get(
            list(initial_values),
            attributes=("string", "type", "selection", "currency_field"),
        )
    _changes, commands = record._mail_track(descriptions[key], initial_values)
    pending[record.id] = {}
    return commands or False


def _stripe_references(stripe_object):
    """The ``(field, value)`` pairs that may name the transaction of a Stripe
    object, in the order they are tried (DESIGN §8)."""
    object_type = stripe_object.get("object")
    intent = stripe_object.get("payment_intent")
    pairs = (
        ("uuid", (stripe_object.get("metadata") or {}).get("payment_id")),
        ("uuid", stripe_object.get("client_reference_id")),
        (
            "stripe_checkout_session_id",
            object_type == "checkout.session" and stripe_object.get("id"),
        ),
        (
            "stripe_payment_intent_id",
            stripe_object.get("id") if object_type == "payment_intent" else intent,
        ),
    )
    return [(name, value) for name, value in pairs if isinstance(value, str) and value]


def _add_query(url, query):
    """Append a query string to a URL that may already have one.

    The guide's ``{CHECKOUT_SESSION_ID}`` placeholder must reach Stripe as is,
    so the query is not re-encoded.
    """
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


def _to_unix_time(value):
    """Return Stripe's Unix timestamp of one of Odoo's naive UTC datetimes."""
    return int(value.replace(tzinfo=timezone.utc).timestamp())


def _from_unix_time(timestamp):
    """Return Odoo's naive UTC datetime of a Stripe Unix timestamp."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)
