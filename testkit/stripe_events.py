"""Stripe events as Stripe sends them (API version 2023-10-16), signed with
an endpoint's secret by the addon's own signing helper (loaded alone: no
Odoo in this process)."""

import importlib
import json
import os
import sys
import time
import types
from pathlib import Path

API_VERSION = "2023-10-16"
WEBHOOK_PATH = "/api/payments/webhook/"
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
_TOOLS = Path(__file__).resolve().parent.parent / "omochi_payments" / "tools"


_ADDON_PACKAGE = "testkit_omochi_payments"


def load_addon_tool(name):
    """A module of the addon's ``tools`` (with the addon's ``const`` it may
    import), loaded without the addon's ``__init__`` (which needs Odoo's
    registry): under a package of its own that only points at the folders."""
    for package, folder in (
        (_ADDON_PACKAGE, _TOOLS.parent),
        (f"{_ADDON_PACKAGE}.tools", _TOOLS),
    ):
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [str(folder)]
            sys.modules[package] = module
    return importlib.import_module(f"{_ADDON_PACKAGE}.tools.{name}")


signature = load_addon_tool("stripe_signature")
#: ``signature_header(payload, secret, timestamp=None)``: a ``Stripe-Signature``.
signature_header = signature.signature_header


def new_id(prefix):
    """A made-up Stripe id (``evt_…``, ``cs_test_…``)."""
    return f"{prefix}_{os.urandom(12).hex()}"


def event(event_type, stripe_object, event_id=None, created=None):
    """The Event envelope of ``stripe_object``."""
    return {
        "id": event_id or new_id("evt_test"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": stripe_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def paid_checkout_session(
    session_id,
    payment_id,
    order_uuid,
    amount_minor,
    currency,
    payment_intent=None,
    email="customer@example.com",
    order_name="OM/test",
):
    """A Checkout Session the customer paid, as Omochi created it (metadata
    ``payment_id``, ``order_id``, ``order_name``; ``client_reference_id``)."""
    now = int(time.time())
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": amount_minor,
        "amount_total": amount_minor,
        "client_reference_id": payment_id,
        "created": now - 60,
        "currency": currency.lower(),
        "customer_email": email,
        "expires_at": now + 86000,
        "livemode": False,
        "metadata": {
            "payment_id": payment_id,
            "order_id": order_uuid,
            "order_name": order_name,
        },
        "mode": "payment",
        "payment_intent": payment_intent or new_id("pi_test"),
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "success_url": "http://localhost:3000/payment/status?status=success",
        "cancel_url": "http://localhost:3000/payment/status?status=cancelled",
        "url": None,
    }


def checkout_completed(session, event_id=None):
    """``checkout.session.completed`` of a (paid) ``session``."""
    return event("checkout.session.completed", session, event_id)


def signed_headers(body, secret, timestamp=None):
    """The headers of a delivery of ``body`` (bytes) signed with ``secret``."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, secret, timestamp),
        "User-Agent": USER_AGENT,
    }


def encode(stripe_event, secret, timestamp=None):
    """``(body, headers)`` of a delivery of ``stripe_event``."""
    body = json.dumps(stripe_event).encode()
    return body, signed_headers(body, secret, timestamp)


def deliver(base_url, stripe_event, secret, timeout=120, session=None):
    """POST ``stripe_event`` signed to the webhook of the server at
    ``base_url`` as Stripe does; return the ``requests`` response."""
    import requests  # the tests' HTTP client (requirements.txt)

    body, headers = encode(stripe_event, secret)
    return (session or requests).post(
        f"{base_url}{WEBHOOK_PATH}", data=body, headers=headers, timeout=timeout
    )
