from odoo import fields, models

from ..tools.config import get_stripe_config


class ResCompany(models.Model):
    """Per-company Stripe settings (the lowest configuration level, DESIGN §5)."""

    _inherit = "res.company"

    omochi_stripe_publishable_key = fields.Char(string="Stripe Publishable Key")
    omochi_stripe_secret_key = fields.Char(
        string="Stripe Secret Key", groups="base.group_system", copy=False
    )
    omochi_stripe_webhook_secret = fields.Char(
        string="Stripe Webhook Secret",
        groups="base.group_system",
        copy=False,
        help="Several secrets may be given, separated by commas, while a webhook "
        "signing secret is rotated.",
    )
    omochi_stripe_api_version = fields.Char(string="Stripe API Version")
    omochi_stripe_api_base = fields.Char(
        string="Stripe API Base URL",
        help="Base URL of the Stripe API; points the SDK at a simulator or a test "
        "double. Leave empty for Stripe's.",
    )
    omochi_frontend_url = fields.Char(
        string="Frontend URL",
        help="Base URL of the customer-facing frontend; the checkout success and "
        "cancel pages are built from it.",
    )
    omochi_allowed_origins = fields.Char(
        string="Allowed Origins",
        help="Extra origins, separated by commas, allowed for return URLs and "
        "cross-origin API calls besides the origin of the frontend URL.",
    )

    def _omochi_stripe_config(self):
        """Return the effective Stripe configuration of the company.

        Shortcut for :func:`..tools.config.get_stripe_config`, the single
        resolver of the configuration.

        :rtype: odoo.addons.omochi_payments.tools.config.StripeConfig
        """
        self.ensure_one()
        return get_stripe_config(self)
