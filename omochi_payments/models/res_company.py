import uuid

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from .. import const
from ..tools.config import get_stripe_config
from ..tools.stripe_gateway import StripeGateway, StripeGatewayError


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

    omochi_stripe_webhook_endpoint_id = fields.Char(
        string="Stripe Webhook Endpoint",
        groups="base.group_system",
        copy=False,
        readonly=True,
        help="The webhook endpoint registered at Stripe for this database.",
    )

    # The settings the cached webhook secret scopes are made of.
    _OMOCHI_WEBHOOK_CACHE_FIELDS = frozenset(("omochi_stripe_webhook_secret", "active"))

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        if any(vals.get("omochi_stripe_webhook_secret") for vals in vals_list):
            self.env.registry.clear_cache()
        return companies

    def write(self, vals):
        result = super().write(vals)
        if self._OMOCHI_WEBHOOK_CACHE_FIELDS.intersection(vals):
            # Every worker of every server drops its copy (registry signaling).
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    @api.model
    def _omochi_webhook_secret_scopes(self):
        """Return the active webhook secrets and whom each belongs to (§5).

        Secrets of the environment or odoo.conf apply to every company (an
        empty company tuple); otherwise each company's own secrets belong to
        the companies they are configured for.

        :return: ``((secret, company ids), ...)``
        :rtype: tuple[tuple[str, tuple[int]]]
        """
        process_level = get_stripe_config().webhook_secrets
        if process_level:
            return tuple((secret, ()) for secret in process_level)
        return self._omochi_company_webhook_secret_scopes()

    @api.model
    @tools.ormcache()
    def _omochi_company_webhook_secret_scopes(self):
        """The companies' own webhook secrets, cached until a company's
        settings change (read once per worker, not once per delivery)."""
        owners = {}
        companies = self.sudo().search([("omochi_stripe_webhook_secret", "!=", False)])
        for company in companies:
            for secret in get_stripe_config(company).webhook_secrets:
                owners.setdefault(secret, []).append(company.id)
        return tuple((secret, tuple(ids)) for secret, ids in owners.items())

    def _omochi_stripe_config(self):
        """Return the effective Stripe configuration of the company.

        Shortcut for :func:`..tools.config.get_stripe_config`, the single
        resolver of the configuration.

        :rtype: odoo.addons.omochi_payments.tools.config.StripeConfig
        """
        self.ensure_one()
        return get_stripe_config(self)

    def _omochi_webhook_url(self):
        """Return this database's webhook URL (``/api/payments/webhook/``)."""
        self.ensure_one()
        return self.get_base_url().rstrip("/") + "/api/payments/webhook/"

    def _omochi_register_webhook(self):
        """Create or update the company's webhook endpoint at Stripe.

        It listens to exactly the handled events at this database's webhook
        URL. A first registration stores the endpoint id and its signing
        secret on the company; a later one updates the same endpoint (its
        secret does not change), so pressing again never duplicates it; an
        endpoint already listening at this URL is adopted; one deleted at
        Stripe meanwhile is registered anew.

        :return: The endpoint id.
        :rtype: str
        :raise UserError: Stripe refused or could not be reached.
        """
        self.ensure_one()
        company = self.sudo()
        url = company._omochi_webhook_url()
        events = const.HANDLED_WEBHOOK_EVENTS
        try:
            gateway = StripeGateway(company._omochi_stripe_config())
            # One endpoint per URL: an endpoint already listening here (made
            # in the Dashboard, by the simulator, or by an earlier press) is
            # updated; then the stored one, which may point elsewhere.
            endpoint = company._omochi_adopt_webhook_endpoint(gateway, url)
            if endpoint is None and company.omochi_stripe_webhook_endpoint_id:
                try:
                    endpoint = gateway.update_webhook_endpoint(
                        company.omochi_stripe_webhook_endpoint_id,
                        url,
                        events,
                        _webhook_endpoint_key(),
                    )
                except StripeGatewayError as error:
                    # Deleted at Stripe (Dashboard...): register a new one.
                    if error.http_status != 404:
                        raise
            if endpoint is None:
                endpoint = gateway.create_webhook_endpoint(
                    url, events, _webhook_endpoint_key()
                )
                company.write(
                    {
                        "omochi_stripe_webhook_endpoint_id": endpoint["id"],
                        "omochi_stripe_webhook_secret": endpoint["secret"],
                    }
                )
        except StripeGatewayError as error:
            raise UserError(error.message) from None
        return endpoint["id"]

    def _omochi_adopt_webhook_endpoint(self, gateway, url):
        """Take over an endpoint already listening at ``url`` (made in the
        Dashboard, or by the simulator at start-up) instead of adding a second
        one: Stripe would deliver each event twice, and the new endpoint's
        secret is not the one configured, so Odoo would refuse its deliveries.
        Its secret stays the configured one (Stripe shows it only at creation).

        :return: The updated endpoint, or ``None`` when there is none.
        """
        endpoint = gateway.find_webhook_endpoint(url)
        if endpoint is None:
            return None
        endpoint = gateway.update_webhook_endpoint(
            endpoint["id"],
            url,
            const.HANDLED_WEBHOOK_EVENTS,
            _webhook_endpoint_key(),
        )
        self.omochi_stripe_webhook_endpoint_id = endpoint["id"]
        return endpoint


def _webhook_endpoint_key():
    """A new idempotency key each press: the request differs when the URL
    changed."""
    return f"omochi-{uuid.uuid4()}-webhook-endpoint"
