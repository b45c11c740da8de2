from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError

from .. import const


class OmochiPaymentHealth(models.TransientModel):
    """Health of the Stripe integration at a glance, for managers.

    A read-only dashboard of the current company (the company switcher
    chooses it): the menu opens a fresh record in a form without edit, create
    or delete (:meth:`action_open_dashboard`). Each figure links to the
    records behind it. The figures come from :meth:`_omochi_health_values`,
    which Settings shows too: adding a figure is a computed field here, its
    value there, and a line in the view.
    """

    _name = "omochi.payment.health"
    _description = "Omochi Payments Health"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    refused_delivery_count = fields.Integer(
        string="Refused Deliveries (24 h)", compute="_compute_health"
    )
    refused_delivery_reasons = fields.Char(
        string="Refused Because", compute="_compute_health"
    )
    webhook_secret_configured = fields.Boolean(compute="_compute_health")
    last_event_received_at = fields.Datetime(
        string="Last Verified Event", compute="_compute_health"
    )
    failed_event_count = fields.Integer(
        string="Failed Events (24 h)", compute="_compute_health"
    )
    stuck_transaction_count = fields.Integer(
        string="Stuck Payments", compute="_compute_health"
    )
    review_transaction_count = fields.Integer(
        string="Payments to Review", compute="_compute_health"
    )
    reconcile_after_minutes = fields.Integer(
        string="Reconciliation Age (minutes)", compute="_compute_health"
    )
    pending_event_count = fields.Integer(
        string="Events Waiting to Be Applied",
        compute="_compute_health",
        help="Acknowledged webhook events that no cron worker has applied yet.",
    )
    oldest_pending_event_age = fields.Integer(
        string="Oldest Waiting Event (seconds)",
        compute="_compute_health",
        help="How long the oldest acknowledged event has waited to be applied.",
    )
    pending_backlog_warning = fields.Boolean(
        string="Backlog Too Old",
        compute="_compute_health",
        help="An event has waited more than a minute: usually no Odoo server "
        "runs cron workers (--max-cron-threads=0), or they are all busy.",
    )

    @api.model
    def action_open_dashboard(self):
        """Open the dashboard of the current company, read-only (menu).

        :return: An ``ir.actions.act_window`` of a fresh record.
        :rtype: dict
        """
        health = self.create({"company_id": self.env.company.id})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Payments Health"),
            "res_model": self._name,
            "res_id": health.id,
            "views": [(False, "form")],
            "target": "current",
        }

    @api.depends("company_id")
    def _compute_display_name(self):
        """The dashboard's title in the breadcrumb."""
        for health in self:
            health.display_name = self.env._("Payments Health")

    def action_refresh(self):
        """Reload the figures (the button's form reloads the record)."""
        return True

    @api.depends("company_id")
    def _compute_health(self):
        """Fill the figures from ``_omochi_health_values`` (read as superuser:
        only for the user's own companies)."""
        for health in self:
            if not self.env.su and health.company_id not in self.env.user.company_ids:
                raise AccessError(
                    self.env._("You may not see the payments of this company.")
                )
            health.update(self._omochi_health_values(health.company_id))

    @api.model
    def _omochi_failed_events_domain(self, company):
        """Events that failed in the last 24 hours (of ``company`` or none)."""
        since = fields.Datetime.now() - timedelta(hours=24)
        return [
            ("state", "=", "failed"),
            ("received_at", ">=", since),
            ("company_id", "in", [company.id, False]),
        ]

    @api.model
    def _omochi_stuck_transactions_domain(self, company):
        """Open payments of ``company`` older than the reconciliation age."""
        transactions = self.env["omochi.payment.transaction"]
        threshold = fields.Datetime.now() - timedelta(
            minutes=transactions._omochi_reconcile_age()
        )
        return [
            ("company_id", "=", company.id),
            ("status", "in", ("pending", "processing")),
            ("create_date", "<", threshold),
        ]

    @api.model
    def _omochi_review_transactions_domain(self, company):
        """Payments of ``company`` that took money without paying their order
        (DESIGN §4), until refunded or marked reviewed."""
        return [("company_id", "=", company.id), ("review_required", "=", True)]

    @api.model
    def _omochi_health_values(self, company):
        """Return the health figures of ``company``.

        :rtype: dict
        """
        events = self.env["omochi.payment.event"].sudo()
        transactions = self.env["omochi.payment.transaction"].sudo()
        backlog, oldest_age = events._omochi_pending_backlog()
        last_event = events.search(
            [("company_id", "in", [company.id, False])],
            order="received_at desc",
            limit=1,
        )
        return {
            "webhook_secret_configured": bool(
                company._omochi_stripe_config().webhook_secrets
            ),
            "last_event_received_at": last_event.received_at,
            "failed_event_count": events.search_count(
                self._omochi_failed_events_domain(company)
            ),
            "stuck_transaction_count": transactions.search_count(
                self._omochi_stuck_transactions_domain(company)
            ),
            "review_transaction_count": transactions.search_count(
                self._omochi_review_transactions_domain(company)
            ),
            "reconcile_after_minutes": transactions._omochi_reconcile_age(),
            "pending_event_count": backlog,
            "oldest_pending_event_age": oldest_age,
            "pending_backlog_warning": oldest_age > const.EVENT_BACKLOG_WARNING_SECONDS,
            **self._omochi_refusal_values(),
        }

    @api.model
    def _omochi_refusal_values(self):
        """The webhook deliveries refused in the last 24 hours, and why. They
        cannot be told apart by company: nothing unverified is trusted."""
        refusals = self.env["omochi.payment.webhook.refusal"]
        counts = refusals._omochi_recent_counts()
        labels = dict(refusals._fields["reason"]._description_selection(self.env))
        return {
            "refused_delivery_count": sum(counts.values()),
            "refused_delivery_reasons": ", ".join(
                f"{labels[reason]}: {count}" for reason, count in sorted(counts.items())
            ),
        }

    def _omochi_open(self, model, name, domain):
        """Return an action listing the ``model`` records of ``domain``."""
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": domain,
        }

    def action_open_failed_events(self):
        """List the events that failed in the last 24 hours."""
        self.ensure_one()
        return self._omochi_open(
            "omochi.payment.event",
            self.env._("Failed Events"),
            self._omochi_failed_events_domain(self.company_id),
        )

    def action_open_stuck_transactions(self):
        """List the payments stuck in PENDING/PROCESSING."""
        self.ensure_one()
        return self._omochi_open(
            "omochi.payment.transaction",
            self.env._("Stuck Payments"),
            self._omochi_stuck_transactions_domain(self.company_id),
        )

    def action_open_pending_events(self):
        """List the events waiting to be applied, oldest first."""
        self.ensure_one()
        action = self._omochi_open(
            "omochi.payment.event",
            self.env._("Events Waiting to Be Applied"),
            [("state", "=", "pending")],
        )
        action["context"] = {"search_default_pending": 1}
        return action

    def action_open_refusals(self):
        """List the hourly counters of refused deliveries (last 24 hours)."""
        self.ensure_one()
        refusals = self.env["omochi.payment.webhook.refusal"]
        return self._omochi_open(
            refusals._name,
            self.env._("Refused Webhook Deliveries"),
            refusals._omochi_recent_domain(),
        )

    def action_open_review_transactions(self):
        """List the payments flagged for review."""
        self.ensure_one()
        return self._omochi_open(
            "omochi.payment.transaction",
            self.env._("Payments to Review"),
            self._omochi_review_transactions_domain(self.company_id),
        )

    def action_open_events(self):
        """List the latest events."""
        self.ensure_one()
        return self._omochi_open(
            "omochi.payment.event",
            self.env._("Webhook Events"),
            [("company_id", "in", [self.company_id.id, False])],
        )
