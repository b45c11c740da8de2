from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .. import const


class OmochiPaymentWebhookRefusal(models.Model):
    """Webhook deliveries refused before verification, counted per hour and
    reason. The unverified bodies are never stored (anybody can post them);
    one row per hour and reason keeps the table small whatever arrives."""

    _name = "omochi.payment.webhook.refusal"
    _description = "Refused Stripe Webhook Deliveries (hourly count)"
    _order = "hour desc, reason"
    _rec_name = "hour"

    _sql_constraints = (
        (
            "hour_reason_uniq",
            "UNIQUE(hour, reason)",
            "One counter per hour and reason.",
        ),
    )

    hour = fields.Datetime(required=True, readonly=True, index=True)
    reason = fields.Selection(
        const.WEBHOOK_REFUSAL_REASONS, required=True, readonly=True
    )
    count = fields.Integer(readonly=True)

    @api.model
    def _omochi_count(self, reason):
        """Count one refused delivery for ``reason`` in the current hour.

        One upsert: concurrent refusals add up instead of racing. The webhook
        controller's single call, whatever else it does.

        :param str reason: A key of ``const.WEBHOOK_REFUSAL_REASONS``.
        """
        if reason not in dict(const.WEBHOOK_REFUSAL_REASONS):
            reason = const.WEBHOOK_REFUSAL_BAD_SIGNATURE
        hour = fields.Datetime.now().replace(minute=0, second=0, microsecond=0)
        self.env.cr.execute(
            SQL(
                """INSERT INTO omochi_payment_webhook_refusal
                       (hour, reason, count, create_uid, create_date,
                        write_uid, write_date)
                   VALUES (%(hour)s, %(reason)s, 1, %(uid)s, NOW() AT TIME ZONE 'UTC',
                           %(uid)s, NOW() AT TIME ZONE 'UTC')
                   ON CONFLICT (hour, reason) DO UPDATE
                   SET count = omochi_payment_webhook_refusal.count + 1,
                       write_date = EXCLUDED.write_date""",
                hour=hour,
                reason=reason,
                uid=self.env.uid,
            )
        )
        self.invalidate_model(["count"])

    @api.model
    def _omochi_recent_domain(self, hours=24):
        """The counters of the last ``hours`` hours (the current one included)."""
        since = fields.Datetime.now() - timedelta(hours=hours)
        return [("hour", ">=", since.replace(minute=0, second=0, microsecond=0))]

    @api.model
    def _omochi_recent_counts(self, hours=24):
        """Return ``{reason: count}`` of the last ``hours`` hours.

        :rtype: dict
        """
        groups = self.sudo()._read_group(
            self._omochi_recent_domain(hours), ["reason"], ["count:sum"]
        )
        return {reason: total for reason, total in groups if total}

    @api.autovacuum
    def _gc_old_counters(self):
        """Forget the counters older than 30 days."""
        old = fields.Datetime.now() - timedelta(days=30)
        self.sudo().search([("hour", "<", old)]).unlink()
