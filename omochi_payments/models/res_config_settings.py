from odoo import api, fields, models

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
