"""The one place that talks to Stripe, through the official SDK (DESIGN §6).

Nothing else in the addons imports ``stripe``. A :class:`StripeGateway` is
built from the resolved :class:`~.config.StripeConfig`: the secret key, the
pinned API version and the API base (Stripe itself, or the project's simulator
through ``STRIPE_API_BASE``). Every POST carries an idempotency key; every
Stripe failure becomes a :class:`StripeGatewayError` whose message is safe to
show and log (it never contains a key).
"""

import logging
import re

import stripe

from odoo.tools import config as odoo_config

_logger = logging.getLogger(__name__)

# Seconds for one HTTP exchange with Stripe, and the SDK's retries of network
# errors, 409/429/5xx answers (each retry reuses the idempotency key).
REQUEST_TIMEOUT = 10
MAX_NETWORK_RETRIES = 2

_KEY_PATTERN = re.compile(r"\b(sk|rk|pk|whsec)_(test_|live_)?[A-Za-z0-9_*]+")


class StripeGatewayError(Exception):
    """Stripe could not be reached or refused a request.

    :ivar str message: A human message, safe to show (keys are masked).
    :ivar str code: Stripe's error code when it gave one (``resource_missing``...).
    :ivar int http_status: Stripe's HTTP status, ``None`` when unreachable.
    """

    def __init__(self, message, code=None, http_status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


def safe_message(text):
    """Return ``text`` with anything shaped like a Stripe key or secret masked."""
    return _KEY_PATTERN.sub(lambda m: f"{m.group(1)}_{m.group(2) or ''}***", text or "")


def _translate_error(error):
    """Turn an SDK exception into a :class:`StripeGatewayError`."""
    if isinstance(error, stripe.APIConnectionError):
        message = "Stripe could not be reached; please try again in a moment."
        return StripeGatewayError(message)
    if isinstance(error, stripe.AuthenticationError):
        message = "Stripe refused the configured API key."
    elif isinstance(error, stripe.RateLimitError):
        message = "Stripe is rate limiting requests; please try again in a moment."
    elif (error.http_status or 0) >= 500:
        message = "Stripe is unavailable right now; please try again in a moment."
    else:
        detail = safe_message(getattr(error, "user_message", None) or str(error))
        message = f"Stripe refused the request: {detail}"
    if isinstance(error, stripe.IdempotencyError):
        code = "idempotency_error"  # the SDK leaves ``code`` empty for these
    else:
        code = getattr(error, "code", None)
    return StripeGatewayError(message, code=code, http_status=error.http_status)


def align_stripe_logging():
    """Make the ``stripe`` library log at Odoo's level.

    Odoo's ``--log-level`` sets the level of the ``odoo`` logger only; the SDK
    logs each request at INFO on its own ``stripe`` logger, which would then
    print under ``--log-level=warn``. An explicit ``--log-handler=stripe:...``
    still wins.
    """
    if any(
        handler.split(":")[0] == "stripe"
        for handler in odoo_config.get("log_handler") or ()
    ):
        return
    logging.getLogger("stripe").setLevel(logging.getLogger("odoo").getEffectiveLevel())


class StripeGateway:
    """Stripe API calls used by Omochi Payments, on one ``StripeClient``."""

    def __init__(self, config):
        """:param StripeConfig config: the company's resolved configuration."""
        if not config.secret_key:
            raise StripeGatewayError(
                "No Stripe secret key is configured (STRIPE_SECRET_KEY or "
                "Settings > Omochi Payments)."
            )
        align_stripe_logging()
        self._client = stripe.StripeClient(
            config.secret_key,
            stripe_version=config.api_version,
            base_addresses={"api": config.api_base.rstrip("/")},
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT),
        )

    def _call(self, operation, method, *args, **kwargs):
        """Run one SDK call, logging it and translating its errors.

        :param str operation: A name for the logs, e.g. ``checkout.session.create``.
        :return: The Stripe object as a plain dict (nested objects included).
        :rtype: dict
        """
        try:
            result = method(*args, **kwargs)
        except stripe.StripeError as error:
            translated = _translate_error(error)
            _logger.warning("Stripe %s failed: %s", operation, translated.message)
            raise translated from None
        result = result.to_dict()
        _logger.info("Stripe %s: %s", operation, result.get("id"))
        return result

    def create_checkout_session(self, params, idempotency_key):
        """Create a Checkout Session; return it as a dict."""
        return self._call(
            "checkout.session.create",
            self._client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )

    def retrieve_checkout_session(self, session_id):
        """Return a Checkout Session with its payment intent expanded."""
        return self._call(
            "checkout.session.retrieve",
            self._client.v1.checkout.sessions.retrieve,
            session_id,
            params={"expand": ["payment_intent"]},
        )

    def expire_checkout_session(self, session_id, idempotency_key):
        """Expire an open Checkout Session; return it."""
        return self._call(
            "checkout.session.expire",
            self._client.v1.checkout.sessions.expire,
            session_id,
            options={"idempotency_key": idempotency_key},
        )

    def create_refund(self, payment_intent_id, amount, idempotency_key, reason=None):
        """Refund ``amount`` (minor units) of a payment intent; return the refund
        with its ``charge`` expanded (the charge's refunded total).

        :param str reason: Stripe's ``duplicate``, ``fraudulent`` or
            ``requested_by_customer``, or ``None``.
        """
        params = {
            "payment_intent": payment_intent_id,
            "amount": amount,
            "expand": ["charge"],
        }
        if reason:
            params["reason"] = reason
        return self._call(
            "refund.create",
            self._client.v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )

    def create_webhook_endpoint(self, url, events, idempotency_key):
        """Create a webhook endpoint; the answer holds its signing ``secret``."""
        return self._call(
            "webhook_endpoint.create",
            self._client.v1.webhook_endpoints.create,
            params={"url": url, "enabled_events": list(events)},
            options={"idempotency_key": idempotency_key},
        )

    def find_webhook_endpoint(self, url):
        """Return the webhook endpoint listening at ``url``, or ``None``
        (Stripe lists at most 100 per page; an account has at most 16)."""
        endpoints = self._call(
            "webhook_endpoint.list",
            self._client.v1.webhook_endpoints.list,
            params={"limit": 100},
        )
        for endpoint in endpoints.get("data") or ():
            if endpoint.get("url") == url:
                return endpoint
        return None

    def update_webhook_endpoint(self, endpoint_id, url, events, idempotency_key):
        """Point an existing webhook endpoint at ``url`` with ``events``."""
        return self._call(
            "webhook_endpoint.update",
            self._client.v1.webhook_endpoints.update,
            endpoint_id,
            params={"url": url, "enabled_events": list(events), "disabled": False},
            options={"idempotency_key": idempotency_key},
        )
