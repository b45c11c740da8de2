from odoo import api, fields, models
from odoo.exceptions import AccessError

from .. import const


class ResConfigSettings(models.TransientModel):
    """Settings > Omochi Payments: the company's Stripe configuration."""

    _inherit = "res.config.settings"

    omochi_stripe_publishable_key = fields.Char(
        related="company_id.omochi_stripe_publishable_key", readonly=False
    )
    omochi_stripe_secret_key = fields.Char(
        related="company_id.omochi_stripe_secret_key",
        readonly=False,
        groups="base.group_system",
    )
    omochi_stripe_webhook_secret = fields.Char(
        related="company_id.omochi_stripe_webhook_secret",
        readonly=False,
        groups="base.group_system",
    )
    omochi_stripe_api_version = fields.Char(
        related="company_id.omochi_stripe_api_version", readonly=False
    )
    omochi_stripe_api_base = fields.Char(
        related="company_id.omochi_stripe_api_base", readonly=False
    )
    omochi_frontend_url = fields.Char(
        related="company_id.omochi_frontend_url", readonly=False
    )
    omochi_allowed_origins = fields.Char(
        related="company_id.omochi_allowed_origins", readonly=False
    )
    omochi_stripe_webhook_endpoint_id = fields.Char(
        related="company_id.omochi_stripe_webhook_endpoint_id",
        groups="base.group_system",
    )
    omochi_webhook_secret_configured = fields.Boolean(compute="_compute_omochi_health")
    omochi_last_event_received_at = fields.Datetime(compute="_compute_omochi_health")
    omochi_failed_event_count = fields.Integer(compute="_compute_omochi_health")
    omochi_stuck_transaction_count = fields.Integer(compute="_compute_omochi_health")
    omochi_refused_delivery_count = fields.Integer(compute="_compute_omochi_health")
    omochi_reconcile_after_minutes = fields.Integer(
        string="Reconciliation Age (minutes)",
        config_parameter="omochi_payments.reconcile_after_minutes",
        default=const.RECONCILE_AFTER_MINUTES,
    )
    omochi_config_overrides = fields.Char(
        string="Overridden Settings",
        compute="_compute_omochi_config_overrides",
        help="Settings taken from the environment or odoo.conf, which take "
        "precedence over the values of this page.",
    )
    omochi_stripe_mode = fields.Selection(
        [("test", "Test"), ("live", "Live"), ("unset", "Not configured")],
        string="Stripe Mode",
        compute="_compute_omochi_config_overrides",
    )

    @api.depends("company_id")
    def _compute_omochi_config_overrides(self):
        """List the settings overridden outside of Odoo, and the Stripe mode."""
        labels = {
            const.SOURCE_ENVIRONMENT: self.env._("environment"),
            const.SOURCE_ODOO_CONF: self.env._("odoo.conf"),
        }
        for settings in self:
            config = settings.company_id._omochi_stripe_config()
            overrides = [
                f"{names[0]} ({labels[config.source(key)]})"
                for key, names in const.CONFIG_KEYS.items()
                if config.is_overridden(key)
            ]
            settings.omochi_config_overrides = ", ".join(overrides)
            if not config.secret_key:
                settings.omochi_stripe_mode = "unset"
            else:
                settings.omochi_stripe_mode = "live" if config.is_live_mode else "test"

    @api.depends("company_id")
    def _compute_omochi_health(self):
        """The health figures of Omochi Payments (one source: the health model)."""
        health = self.env["omochi.payment.health"]
        for settings in self:
            values = health._omochi_health_values(settings.company_id)
            settings.omochi_webhook_secret_configured = values[
                "webhook_secret_configured"
            ]
            settings.omochi_last_event_received_at = values["last_event_received_at"]
            settings.omochi_failed_event_count = values["failed_event_count"]
            settings.omochi_stuck_transaction_count = values["stuck_transaction_count"]
            settings.omochi_refused_delivery_count = values["refused_delivery_count"]

    def action_omochi_register_webhook(self):
        """Register (or update) this database's webhook endpoint at Stripe.

        :return: A notification with the endpoint id.
        :rtype: dict
        """
        self.ensure_one()
        if not self.env.is_admin():
            raise AccessError(self.env._("Only administrators may register webhooks."))
        endpoint_id = self.company_id._omochi_register_webhook()
        message = self.env._(
            "Stripe sends the payment events to %(url)s (endpoint %(endpoint)s).",
            url=self.company_id._omochi_webhook_url(),
            endpoint=endpoint_id,
        )
        if self.company_id._omochi_stripe_config().is_overridden("webhook_secret"):
            message += " " + self.env._(
                "STRIPE_WEBHOOK_SECRET is set outside of Odoo and takes precedence "
                "over the signing secret stored now."
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Webhook registered"),
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
