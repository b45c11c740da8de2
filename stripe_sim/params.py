"""What the simulated Stripe API accepts (parameter names, event types,
messages), the validation helpers its resources share, and the API request
being served."""

import contextvars
from collections.abc import Callable
from typing import Any

from .currencies import words as _words
from .errors import invalid_request, missing_param
from .validation import (
    as_bool,
    as_choice,
    as_dict,
    as_int,
    as_list,
    as_str,
    check_allowed,
    require,
)

DEFAULT_API_VERSION = "2023-10-16"
SESSION_MIN_LIFETIME = 30 * 60
SESSION_MAX_LIFETIME = 24 * 60 * 60
#: Seconds of slack on the ``expires_at`` bounds (transit time, clock skew).
EXPIRES_AT_GRACE = 5

#: Top-level parameters of ``POST /v1/checkout/sessions`` Stripe accepts.
SESSION_CREATE_PARAMS = _words("""
    mode line_items success_url cancel_url expires_at customer_email customer
    client_reference_id metadata payment_intent_data payment_method_types expand
    locale submit_type billing_address_collection allow_promotion_codes
    customer_creation phone_number_collection custom_text consent_collection
    payment_method_options automatic_tax tax_id_collection ui_mode after_expiration
    shipping_address_collection invoice_creation payment_method_collection
    """)
LINE_ITEM_PARAMS = _words(
    "price price_data quantity adjustable_quantity dynamic_tax_rates tax_rates"
)
PRICE_DATA_PARAMS = _words("""
    currency product product_data unit_amount unit_amount_decimal recurring
    tax_behavior""")
PRODUCT_DATA_PARAMS = _words("name description images metadata tax_code")
PAYMENT_INTENT_DATA_PARAMS = _words("""
    metadata description capture_method receipt_email setup_future_usage
    statement_descriptor statement_descriptor_suffix shipping transfer_data
    transfer_group on_behalf_of application_fee_amount""")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_PARAMS = _words("""
    payment_intent charge amount reason metadata expand instructions_email
    refund_application_fee reverse_transfer""")
WEBHOOK_PARAMS = _words(
    "url enabled_events description metadata api_version connect expand"
)
WEBHOOK_UPDATE_PARAMS = _words(
    "url enabled_events description metadata disabled expand"
)
EVENT_TYPES = _words("""
    checkout.session.completed checkout.session.expired
    checkout.session.async_payment_succeeded checkout.session.async_payment_failed
    payment_intent.created payment_intent.succeeded payment_intent.payment_failed
    payment_intent.processing payment_intent.canceled payment_intent.requires_action
    payment_intent.amount_capturable_updated payment_intent.partially_funded
    charge.succeeded charge.failed charge.pending charge.refunded charge.captured
    charge.expired charge.updated charge.refund.updated charge.dispute.created
    charge.dispute.closed refund.created refund.updated refund.failed
    customer.created customer.updated customer.deleted
    """)

#: Fields that ``expand`` may replace by the object whose id they hold.
EXPANDABLE = {
    "checkout.session": {"payment_intent", "line_items", "customer", "invoice"},
    "payment_intent": {"latest_charge", "customer", "payment_method"},
    "charge": {"payment_intent", "balance_transaction", "customer", "refunds"},
    "refund": {"charge", "payment_intent", "balance_transaction"},
}
#: The ``param`` Stripe names when an id in the URL is unknown.
MISSING_PARAM_NAME = {
    "checkout.session": "session",
    "payment_intent": "intent",
    "charge": "charge",
    "refund": "refund",
    "webhook_endpoint": "webhook_endpoint",
    "event": "id",
}
OUTCOMES = ("paid", "unpaid", "failed")
#: Intent statuses canceled when their session expires.
WAITING_INTENT_STATUSES = ("requires_payment_method", "requires_action")
DECLINE_MESSAGE = "Your card was declined."
AUTHENTICATION_FAILURE_MESSAGE = (
    "We are unable to authenticate your payment method. Please choose a "
    "different payment method and try again."
)
#: The card used when a test does not say which (``complete_checkout_session``).
DEFAULT_CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
#: The e-mail the customer types on the hosted page when the session has none.
DEFAULT_CUSTOMER_EMAIL = "customer@example.com"
#: The German test IBAN's bank of the asynchronous (``unpaid``) payments.
SEPA_DEBIT_BANK = {"bank_code": "37040044", "branch_code": "", "country": "DE"}
#: The API request being served by this thread (``request`` of its events).
CURRENT_REQUEST: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "stripe_sim_request", default=None
)


def optional_param(params: dict, name: str, convert: Callable[[Any, str], Any]):
    """``params[name]`` validated by ``convert(value, name)``, or ``None``."""
    value = params.get(name)
    return None if value in (None, "") else convert(value, name)


def one_of(*choices: str) -> Callable[[Any, str], str]:
    """A converter accepting one of ``choices``."""
    return lambda value, name: as_choice(value, name, choices)


def enabled_flag(value: Any, name: str) -> bool:
    """The ``enabled`` flag of a ``{"enabled": bool}`` parameter."""
    value = as_dict(value, name)
    check_allowed(value, ("enabled",), name)
    return as_bool(require(value, "enabled", f"{name}[enabled]"), f"{name}[enabled]")


def paginate(items: list[dict], params: dict) -> tuple[list[dict], bool]:
    """Apply Stripe's ``limit`` (1-100, default 10), ``starting_after`` and
    ``ending_before`` to ``items`` (already in list order)."""
    limit = as_int(params.get("limit", 10), "limit", 1)
    if limit > 100:
        raise invalid_request(
            "This value must be less than or equal to 100.",
            "limit",
            "parameter_invalid_integer",
        )
    ids = [item["id"] for item in items]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        if after not in ids:
            raise invalid_request(f"No such object: '{after}'", "starting_after")
        items = items[ids.index(after) + 1 :]
        return items[:limit], len(items) > limit
    if before:
        if before not in ids:
            raise invalid_request(f"No such object: '{before}'", "ending_before")
        items = items[: ids.index(before)]
        return items[-limit:], len(items) > limit
    return items[:limit], len(items) > limit


def created_filter(value: Any) -> Callable[[int], bool]:
    """The ``created`` list filter: an exact timestamp or a range hash."""
    if value in (None, ""):
        return lambda created: True
    if not isinstance(value, dict):
        exact = as_int(value, "created")
        return lambda created: created == exact
    check_allowed(value, ("gt", "gte", "lt", "lte"), "created")
    bounds = {op: as_int(v, f"created[{op}]") for op, v in value.items()}
    tests = {
        "gt": lambda c, b: c > b,
        "gte": lambda c, b: c >= b,
        "lt": lambda c, b: c < b,
        "lte": lambda c, b: c <= b,
    }
    return lambda created: all(tests[op](created, b) for op, b in bounds.items())


def enabled_events_param(value: Any) -> list[str]:
    """Validate ``enabled_events`` (known event types or ``*``)."""
    events = [as_str(e, "enabled_events") for e in as_list(value, "enabled_events")]
    if not events:
        raise missing_param("enabled_events")
    for index, event in enumerate(events):
        if event != "*" and event not in EVENT_TYPES:
            raise invalid_request(
                f"Invalid enabled_events[{index}]: must be one of the supported "
                f"event types or '*' (got {event}).",
                f"enabled_events[{index}]",
                "parameter_invalid",
            )
    return events
