"""In-memory, thread-safe state of the simulated Stripe account.

Objects are stored as the plain dicts Stripe would send (``checkout.session``,
``payment_intent``, ``charge``, ``refund``, ``webhook_endpoint``, ``event``);
readers always get deep copies. Every public method takes the lock, so the
state can be used from the server's request threads and from tests at once.

Methods whose names match API operations validate decoded parameters like Stripe
and raise :class:`~stripe_sim.errors.StripeError`. The ``complete_*``,
``expire_now``, ``settle_async_payment`` and ``advance_time`` methods simulate
what the customer (or time) does; the ``/_sim`` control endpoints call them.
"""

import base64
import contextlib
import contextvars
import copy
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import currencies
from .currencies import words as _words
from .errors import doc_url, invalid_request, missing_param, resource_missing
from .ids import new_id
from .validation import (
    as_bool,
    as_choice,
    as_dict,
    as_email,
    as_int,
    as_list,
    as_metadata,
    as_str,
    as_url,
    check_allowed,
    expand_list,
    merge_metadata,
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
_CURRENT_REQUEST: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "stripe_sim_request", default=None
)


def event_matches(enabled_events, event_type: str) -> bool:
    """Whether an endpoint with ``enabled_events`` wants ``event_type``."""
    return "*" in enabled_events or event_type in enabled_events


@contextlib.contextmanager
def api_request(request_id: str, idempotency_key: str | None = None) -> Iterator[None]:
    """Attribute the events emitted inside the block to an API request."""
    token = _CURRENT_REQUEST.set({"id": request_id, "idempotency_key": idempotency_key})
    try:
        yield
    finally:
        _CURRENT_REQUEST.reset(token)


class SimulatorState:
    """All objects of one simulated Stripe account, guarded by one lock."""

    def __init__(
        self,
        *,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str = "http://127.0.0.1",
        clock: Callable[[], float] = time.time,
    ):
        self.api_version = api_version
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict], None]] = []
        self.reset()

    # ------------------------------------------------------------------ basics
    def reset(self) -> None:
        """Forget every object, event and time offset."""
        with self._lock:
            self._objects: dict[str, dict] = {}
            self._line_items: dict[str, list[dict]] = {}
            self._webhook_secrets: dict[str, str] = {}
            self._events: list[dict] = []
            self._offset = 0.0

    def now(self) -> int:
        """The simulated current Unix time (real time plus ``advance_time``)."""
        return int(self._clock() + self._offset)

    def advance_time(self, seconds: float) -> int:
        """Move the simulated clock forward; sessions past ``expires_at`` expire."""
        with self._lock:
            self._offset += seconds
            self._expire_due_sessions()
            return self.now()

    def subscribe(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` for each new event (must not block)."""
        with self._lock:
            self._listeners.append(callback)

    @property
    def events(self) -> list[dict]:
        """All events emitted so far, oldest first (copies)."""
        with self._lock:
            self._expire_due_sessions()
            return copy.deepcopy(self._events)

    def get_object(
        self, object_id: str, object_name: str | None = None, expand=()
    ) -> dict:
        """Any stored object by id (a copy), optionally expanded."""
        with self._lock:
            self._expire_due_sessions()
            obj = self._objects.get(object_id)
            if obj is None or (object_name and obj["object"] != object_name):
                name = object_name or "object"
                raise resource_missing(
                    name, object_id, MISSING_PARAM_NAME.get(name, "id")
                )
            return self.expand(obj, expand)

    def list_objects(
        self,
        object_name: str,
        params: dict,
        url: str,
        filters: dict[str, Any] | None = None,
    ) -> dict:
        """A Stripe list (newest first) with ``limit``/``starting_after``/
        ``ending_before``, ``created`` (int or ``gt``/``gte``/``lt``/``lte``),
        ``expand[]=data.x`` and equality ``filters`` on top-level fields."""
        expand = []
        for path in expand_list(params):
            if not path.startswith("data."):
                raise invalid_request(
                    f"This property cannot be expanded ({path}).", "expand"
                )
            expand.append(path[len("data.") :])
        created = _created_filter(params.get("created"))
        with self._lock:
            self._expire_due_sessions()
            items = [
                obj
                for obj in reversed(self._objects.values())
                if obj["object"] == object_name
                and created(obj["created"])
                and all(obj.get(k) == v for k, v in (filters or {}).items())
            ]
            page, has_more = _paginate(items, params)
            return {
                "object": "list",
                "data": [self.expand(obj, expand) for obj in page],
                "has_more": has_more,
                "url": url,
            }

    def expand(self, obj: dict, paths) -> dict:
        """A copy of ``obj`` with the dotted ``paths`` replaced by objects."""
        with self._lock:
            result = self._public(obj)
            for path in paths:
                self._expand_path(result, path.split("."), path)
            return result

    def _expand_path(self, obj: dict, parts: list[str], path: str) -> None:
        """Expand one dotted path in place."""
        field, rest = parts[0], parts[1:]
        if field not in EXPANDABLE.get(obj.get("object"), ()):
            raise invalid_request(
                f"This property cannot be expanded ({field}).", "expand"
            )
        value = obj.get(field)
        if field == "line_items" and obj.get("object") == "checkout.session":
            value = self._line_item_list(obj["id"], {})
        elif field == "refunds" and obj.get("object") == "charge":
            value = self._refund_list(obj["id"])
        elif isinstance(value, str):
            stored = self._objects.get(value)
            value = self._public(stored) if stored else value
        obj[field] = value
        if rest and isinstance(value, dict):
            self._expand_path(value, rest, path)

    # -------------------------------------------------------- checkout sessions
    def create_checkout_session(self, params: dict, base_url: str | None = None):
        """``POST /v1/checkout/sessions``: validate like Stripe and store."""
        params = dict(params)
        check_allowed(params, SESSION_CREATE_PARAMS)
        mode = as_str(require(params, "mode"), "mode")
        if mode not in ("payment", "setup", "subscription"):
            raise invalid_request(
                "Invalid mode: must be one of payment, setup, or subscription",
                "mode",
                "parameter_invalid",
            )
        if mode != "payment":
            raise invalid_request(
                f"The Stripe simulator only supports mode=payment, not {mode}.",
                "mode",
            )
        ui_mode = params.get("ui_mode", "hosted")
        if ui_mode != "hosted":
            raise invalid_request(
                "The Stripe simulator only supports ui_mode=hosted.", "ui_mode"
            )
        with self._lock:
            now = self.now()
            items, currency, total = self._validate_line_items(params, now)
            session = self._new_session(params, now, items, currency, total)
            base = (base_url or self.base_url).rstrip("/")
            session["url"] = f"{base}/c/pay/{session['id']}"
            self._objects[session["id"]] = session
            self._line_items[session["id"]] = items
            return self.expand(session, expand_list(params))

    def _new_session(
        self, params: dict, now: int, items: list, currency: str, total: int
    ) -> dict:
        """Build a ``checkout.session`` dict from validated parameters."""
        pi_data = as_dict(
            params.get("payment_intent_data") or {}, "payment_intent_data"
        )
        check_allowed(pi_data, PAYMENT_INTENT_DATA_PARAMS, "payment_intent_data")
        as_metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")
        email = params.get("customer_email")
        ref = params.get("client_reference_id")
        cancel_url = params.get("cancel_url")
        methods = params.get("payment_method_types") or ["card"]
        session_id = new_id("cs_test")
        return {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _optional(
                params, "allow_promotion_codes", as_bool
            ),
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "status": None},
            "billing_address_collection": _optional(
                params, "billing_address_collection", _choice("auto", "required")
            ),
            "cancel_url": as_url(cancel_url, "cancel_url") if cancel_url else None,
            "client_reference_id": as_str(ref, "client_reference_id", 200)
            if ref
            else None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": as_email(email, "customer_email") if email else None,
            "expires_at": self._validate_expires_at(params.get("expires_at"), now),
            "invoice": None,
            "invoice_creation": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": as_metadata(params.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": _optional(
                params, "payment_method_collection", _choice("always", "if_required")
            ),
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": [
                as_str(m, "payment_method_types")
                for m in as_list(methods, "payment_method_types")
            ],
            "payment_status": "unpaid",
            "phone_number_collection": {
                "enabled": _optional(params, "phone_number_collection", _enabled)
                or False
            },
            "recovered_from": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_details": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": params.get("submit_type"),
            "subscription": None,
            "success_url": as_url(require(params, "success_url"), "success_url"),
            "total_details": {
                "amount_discount": 0,
                "amount_shipping": 0,
                "amount_tax": 0,
            },
            "url": None,
            # Kept for the payment intent created on completion (not sent by
            # Stripe on the session; stripped by ``_public``).
            "_payment_intent_data": copy.deepcopy(pi_data),
        }

    def _validate_line_items(self, params: dict, now: int):
        """Validate ``line_items``; return ``(items, currency, total)``."""
        raw = params.get("line_items")
        if raw in (None, "", []):
            raise missing_param("line_items")
        raw = as_list(raw, "line_items")
        items = [self._line_item(item, i, now) for i, item in enumerate(raw)]
        currencies_used = {item["currency"] for item in items}
        if len(currencies_used) > 1:
            raise invalid_request(
                "All line_items must use the same currency; got "
                + ", ".join(sorted(currencies_used))
                + ".",
                "line_items",
            )
        currency = items[0]["currency"]
        total = sum(item["amount_total"] for item in items)
        self._validate_total(total, currency)
        return items, currency, total

    def _validate_total(self, total: int, currency: str) -> None:
        """The session total must be chargeable in its currency."""
        if total <= 0:
            raise invalid_request(
                "The Checkout Session's total amount due must be greater than 0 "
                f"(got {currencies.format_amount(total, currency)}).",
                "line_items",
                "amount_too_small",
            )
        if total > currencies.MAX_AMOUNT:
            raise invalid_request(
                "The Checkout Session's total amount due must be no more than "
                f"{currencies.format_amount(currencies.MAX_AMOUNT, currency)}.",
                "line_items",
                "amount_too_large",
            )
        problem = currencies.amount_granularity_error(total, currency)
        if problem:
            raise invalid_request(problem, "line_items", "invalid_charge_amount")

    def _line_item(self, item: Any, index: int, now: int) -> dict:
        """Validate one line item and return Stripe's ``item`` object."""
        prefix = f"line_items[{index}]"
        item = as_dict(item, prefix)
        check_allowed(item, LINE_ITEM_PARAMS, prefix)
        if item.get("price"):
            raise resource_missing("price", str(item["price"]), f"{prefix}[price]")
        price_data = as_dict(
            require(item, "price_data", f"{prefix}[price_data]"),
            f"{prefix}[price_data]",
        )
        quantity = as_int(
            require(item, "quantity", f"{prefix}[quantity]"), f"{prefix}[quantity]", 1
        )
        price = self._price(price_data, f"{prefix}[price_data]", now)
        amount = price["unit_amount"] * quantity
        return {
            "id": new_id("li"),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": amount,
            "amount_tax": 0,
            "amount_total": amount,
            "currency": price["currency"],
            "description": price.pop("_name"),
            "price": price,
            "quantity": quantity,
        }

    def _price(self, data: dict, prefix: str, now: int) -> dict:
        """Validate ``price_data`` and return a one-time ``price`` object."""
        check_allowed(data, PRICE_DATA_PARAMS, prefix)
        currency = as_str(require(data, "currency", f"{prefix}[currency]"), prefix)
        currency = currency.lower()
        if currency not in currencies.SUPPORTED:
            raise invalid_request(
                f"Invalid currency: {currency}. Stripe currently supports these "
                f"currencies: {', '.join(sorted(currencies.SUPPORTED))}",
                f"{prefix}[currency]",
                "parameter_invalid",
            )
        if data.get("recurring"):
            raise invalid_request(
                "You specified `payment` mode but passed a recurring price. Either "
                "switch to `subscription` mode or use only one-time prices.",
                f"{prefix}[recurring]",
            )
        unit_amount = self._unit_amount(data, prefix)
        if data.get("product"):
            raise resource_missing(
                "product", str(data["product"]), f"{prefix}[product]"
            )
        if not data.get("product_data"):
            raise invalid_request(
                "You must specify either `product` or `product_data` when creating "
                "a price.",
                prefix,
            )
        product = as_dict(data["product_data"], f"{prefix}[product_data]")
        check_allowed(product, PRODUCT_DATA_PARAMS, f"{prefix}[product_data]")
        name = as_str(
            require(product, "name", f"{prefix}[product_data][name]"),
            f"{prefix}[product_data][name]",
            5000,
        )
        return {
            "id": new_id("price"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod"),
            "recurring": None,
            "tax_behavior": data.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "_name": name,
        }

    @staticmethod
    def _unit_amount(data: dict, prefix: str) -> int:
        """``unit_amount`` (or a whole ``unit_amount_decimal``), an integer >= 0."""
        if data.get("unit_amount") not in (None, ""):
            return as_int(data["unit_amount"], f"{prefix}[unit_amount]", 0)
        decimal = data.get("unit_amount_decimal")
        if decimal in (None, ""):
            raise missing_param(f"{prefix}[unit_amount]")
        text = as_str(decimal, f"{prefix}[unit_amount_decimal]")
        whole = text.split(".")[0] if text.rstrip("0").endswith(".") else text
        return as_int(whole, f"{prefix}[unit_amount_decimal]", 0)

    def _validate_expires_at(self, value: Any, now: int) -> int:
        """``expires_at``: 30 minutes to 24 hours from now (default 24 hours)."""
        if value in (None, ""):
            return now + SESSION_MAX_LIFETIME
        expires_at = as_int(value, "expires_at")
        if expires_at < now + SESSION_MIN_LIFETIME - EXPIRES_AT_GRACE:
            raise invalid_request(
                "The `expires_at` timestamp must be at least 30 minutes from "
                "Checkout Session creation.",
                "expires_at",
            )
        if expires_at > now + SESSION_MAX_LIFETIME + EXPIRES_AT_GRACE:
            raise invalid_request(
                "The `expires_at` timestamp must be less than 24 hours from "
                "Checkout Session creation.",
                "expires_at",
            )
        return expires_at

    def get_checkout_session(self, session_id: str, expand=()) -> dict:
        """A session by id (a copy), optionally expanded."""
        return self.get_object(session_id, "checkout.session", expand)

    def list_line_items(self, session_id: str, params: dict) -> dict:
        """``GET /v1/checkout/sessions/{id}/line_items``."""
        with self._lock:
            self.get_checkout_session(session_id)
            return self._line_item_list(session_id, params)

    def _line_item_list(self, session_id: str, params: dict) -> dict:
        """The Stripe list of a session's line items."""
        page, has_more = _paginate(list(self._line_items.get(session_id, [])), params)
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": has_more,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def expire_checkout_session(self, session_id: str) -> dict:
        """``POST /v1/checkout/sessions/{id}/expire``: only open sessions."""
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise invalid_request(
                    "Only Checkout Sessions with a status in [open] can be expired. "
                    f"This Checkout Session has a status of {session['status']}."
                )
            self._expire(session)
            return self._public(session)

    def expire_now(self, session_id: str) -> dict:
        """Simulate the session reaching ``expires_at`` now (open sessions only)."""
        return self.expire_checkout_session(session_id)

    def _expire(self, session: dict) -> None:
        """Move an open session to ``expired`` (cancelling its payment intent)."""
        session["status"] = "expired"
        # Only an active session has a ``url`` (see ``_apply_outcome``).
        session["url"] = None
        intent = self._objects.get(session.get("payment_intent") or "")
        if intent and intent["status"] in WAITING_INTENT_STATUSES:
            intent.pop("_pending_card", None)
            intent["next_action"] = None
            intent.update(
                status="canceled",
                canceled_at=self.now(),
                cancellation_reason="abandoned",
            )
            self._emit("payment_intent.canceled", intent)
        self._emit("checkout.session.expired", session)

    def _expire_due_sessions(self) -> None:
        """Expire open sessions whose ``expires_at`` has passed (lazy clock;
        the events belong to no API request)."""
        now = self.now()
        token = _CURRENT_REQUEST.set(None)
        try:
            for obj in list(self._objects.values()):
                if (
                    obj["object"] == "checkout.session"
                    and obj["status"] == "open"
                    and obj["expires_at"] <= now
                ):
                    self._expire(obj)
        finally:
            _CURRENT_REQUEST.reset(token)

    def _session(self, session_id: str) -> dict:
        """The stored (mutable) session, after lazy expiry."""
        self._expire_due_sessions()
        session = self._objects.get(session_id)
        if session is None or session["object"] != "checkout.session":
            raise resource_missing("checkout.session", session_id, "session")
        return session

    # ------------------------------------------------- simulated customer actions
    def complete_checkout_session(
        self,
        session_id: str,
        outcome: str = "paid",
        *,
        amount_total: int | None = None,
        currency: str | None = None,
        customer_email: str | None = None,
        failure_message: str | None = None,
        failure_code: str = "card_declined",
        decline_code: str = "generic_decline",
        card: dict | None = None,
    ) -> dict:
        """Simulate the customer paying on the hosted page.

        ``paid``: intent ``succeeded``, session ``complete``/``paid``.
        ``unpaid`` (async method): intent ``processing``, session
        ``complete``/``unpaid``. ``failed``: intent ``requires_payment_method``
        with ``last_payment_error``; the session stays ``open``.
        ``amount_total``/``currency`` override what Stripe reports (for tests of
        amount checks). ``failure_code``/``decline_code`` describe a failure;
        ``card`` (``brand``, ``last4``, ``exp_month``, ``exp_year``) the card used.
        Returns ``{"checkout_session", "payment_intent", "charge"}``.
        """
        outcome = as_choice(outcome, "outcome", OUTCOMES)
        with self._lock:
            session = self._open_session(session_id)
            if amount_total is not None:
                session["amount_total"] = as_int(amount_total, "amount_total", 0)
            if currency:
                session["currency"] = currency.lower()
            intent = self._intent_for(session)
            intent.pop("_pending_card", None)
            intent["next_action"] = None
            email = (
                customer_email or session["customer_email"] or DEFAULT_CUSTOMER_EMAIL
            )
            charge = self._new_charge(
                intent,
                outcome,
                failure_message,
                failure_code=failure_code,
                decline_code=decline_code,
                card=card,
                email=email,
            )
            self._apply_outcome(session, intent, charge, outcome, email)
            return self._result(session)

    def require_authentication(self, session_id: str, card: dict | None = None):
        """The customer entered a card that asks for 3-D Secure: the session's
        intent waits in ``requires_action`` until ``authenticate_checkout_session``.
        ``card`` may carry a ``customer_email`` used when authentication succeeds.
        """
        with self._lock:
            session = self._open_session(session_id)
            intent = self._intent_for(session)
            intent["_pending_card"] = dict(card or DEFAULT_CARD)
            intent["status"] = "requires_action"
            intent["payment_method"] = new_id("pm")
            intent["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "return_url": session["url"],
                    "url": f"{session['url']}/authenticate",
                },
            }
            self._emit("payment_intent.requires_action", intent)
            return self._result(session)

    def pending_authentication(self, session_id: str) -> dict | None:
        """The card awaiting 3-D Secure on an open session, or ``None``."""
        with self._lock:
            session = self._session(session_id)
            intent = self._objects.get(session.get("payment_intent") or "")
            if session["status"] != "open" or not intent:
                return None
            if intent["status"] != "requires_action":
                return None
            return copy.deepcopy(intent.get("_pending_card"))

    def authenticate_checkout_session(
        self, session_id: str, approve: bool = True, *, customer_email=None
    ) -> dict:
        """Finish the 3-D Secure step: approve pays with the pending card; fail
        puts the intent back to ``requires_payment_method`` (session stays open)
        and emits ``payment_intent.payment_failed``."""
        with self._lock:
            card = self.pending_authentication(session_id)
            if card is None:
                raise invalid_request(
                    f"Checkout Session {session_id} has no payment awaiting "
                    "authentication.",
                    code="payment_intent_unexpected_state",
                )
            if approve:
                email = customer_email or card.pop("customer_email", None)
                return self.complete_checkout_session(
                    session_id, "paid", card=card, customer_email=email
                )
            session = self._session(session_id)
            intent = self._objects[session["payment_intent"]]
            intent.pop("_pending_card", None)
            intent["status"] = "requires_payment_method"
            intent["next_action"] = None
            code = "payment_intent_authentication_failure"
            intent["last_payment_error"] = {
                "code": code,
                "doc_url": doc_url(code),
                "message": AUTHENTICATION_FAILURE_MESSAGE,
                "payment_method": _payment_method(
                    intent["payment_method"],
                    {"type": "card", "card": _card_details(card)},
                    self.now(),
                    customer_email or session["customer_email"],
                ),
                "type": "card_error",
            }
            self._emit("payment_intent.payment_failed", intent)
            return self._result(session)

    def _open_session(self, session_id: str) -> dict:
        """The stored session; ``checkout_session_not_open`` unless open."""
        session = self._session(session_id)
        if session["status"] != "open":
            raise invalid_request(
                f"Checkout Session {session_id} is {session['status']}; only "
                "open sessions can be paid.",
                code="checkout_session_not_open",
            )
        return session

    def _intent_for(self, session: dict) -> dict:
        """The session's payment intent, created on the first attempt."""
        intent = self._objects.get(session.get("payment_intent") or "")
        if intent is None:
            pi_data = session["_payment_intent_data"]
            intent_id = new_id("pi")
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_capturable": 0,
                "amount_details": {"tip": {}},
                "amount_received": 0,
                "application": None,
                "application_fee_amount": None,
                "automatic_payment_methods": None,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": pi_data.get("capture_method", "automatic"),
                "client_secret": f"{intent_id}_secret_{new_id('s')[2:]}",
                "confirmation_method": "automatic",
                "created": self.now(),
                "currency": session["currency"],
                "customer": None,
                "description": pi_data.get("description"),
                "invoice": None,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": as_metadata(pi_data.get("metadata")),
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_configuration_details": None,
                "payment_method_options": {},
                "payment_method_types": list(session["payment_method_types"]),
                "processing": None,
                "receipt_email": pi_data.get("receipt_email"),
                "review": None,
                "setup_future_usage": pi_data.get("setup_future_usage"),
                "shipping": None,
                "statement_descriptor": pi_data.get("statement_descriptor"),
                "statement_descriptor_suffix": pi_data.get(
                    "statement_descriptor_suffix"
                ),
                "status": "requires_payment_method",
                "transfer_data": None,
                "transfer_group": pi_data.get("transfer_group"),
            }
            self._objects[intent_id] = intent
            session["payment_intent"] = intent_id
            self._emit("payment_intent.created", intent)
        intent["amount"] = session["amount_total"]
        intent["currency"] = session["currency"]
        return intent

    def _new_charge(
        self,
        intent: dict,
        outcome: str,
        failure_message: str | None,
        *,
        failure_code: str = "card_declined",
        decline_code: str = "generic_decline",
        card: dict | None = None,
        email: str | None = None,
    ) -> dict:
        """A charge for one payment attempt on ``intent`` (a SEPA Direct Debit
        for ``unpaid``, a card otherwise), paid by ``email``."""
        failed = outcome == "failed"
        if card is None:
            card = {**DEFAULT_CARD, "last4": "0002" if failed else "4242"}
        details = (
            {"type": "sepa_debit", "sepa_debit": _sepa_debit_details()}
            if outcome == "unpaid"
            else {"type": "card", "card": _card_details(card)}
        )
        status = {"paid": "succeeded", "unpaid": "pending", "failed": "failed"}[outcome]
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if outcome == "paid" else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": _billing_details(email),
            "calculated_statement_descriptor": None,
            "captured": outcome == "paid",
            "created": self.now(),
            "currency": intent["currency"],
            "customer": None,
            "description": intent["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": failure_code if failed else None,
            "failure_message": (failure_message or DECLINE_MESSAGE) if failed else None,
            "fraud_details": {},
            "invoice": None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "on_behalf_of": None,
            "outcome": _charge_outcome(outcome, decline_code),
            "paid": outcome == "paid",
            "payment_intent": intent["id"],
            "payment_method": new_id("pm"),
            "payment_method_details": details,
            "receipt_email": intent["receipt_email"],
            "receipt_number": None,
            # No receipt page in the simulator (Stripe's is on pay.stripe.com).
            "receipt_url": None,
            "refunded": False,
            # ``refunds`` only when expanded: since API 2022-11-15 "The Charges
            # object no longer auto-expands refunds by default" (Stripe's
            # changelog, docs.stripe.com/changelog/2022-11-15/
            # deprecates-charges-auto-expand), although fixtures3 shows it.
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": intent["statement_descriptor"],
            "statement_descriptor_suffix": intent["statement_descriptor_suffix"],
            "status": status,
            "transfer_data": None,
            "transfer_group": intent["transfer_group"],
        }
        self._objects[charge["id"]] = charge
        return charge

    def _apply_outcome(
        self,
        session: dict,
        intent: dict,
        charge: dict,
        outcome: str,
        customer_email: str,
    ) -> None:
        """Update intent and session for ``outcome`` (paid by ``customer_email``)
        and emit Stripe's events."""
        intent["latest_charge"] = charge["id"]
        intent["payment_method"] = charge["payment_method"]
        intent["payment_method_types"] = [charge["payment_method_details"]["type"]]
        if outcome == "failed":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = _payment_error(charge)
            self._emit("charge.failed", charge)
            self._emit("payment_intent.payment_failed", intent)
            return
        intent["last_payment_error"] = None
        session["status"] = "complete"
        # "This value is only present when the session is active" (Stripe's
        # API reference, The Checkout Session object, ``url``:
        # https://stripe.com/docs/api/checkout/sessions/object).
        session["url"] = None
        session["customer_details"] = _customer_details(customer_email)
        if outcome == "paid":
            self._succeed(intent, charge)
            session["payment_status"] = "paid"
            self._emit("checkout.session.completed", session)
        else:
            intent["status"] = "processing"
            self._emit("charge.pending", charge)
            self._emit("payment_intent.processing", intent)
            self._emit("checkout.session.completed", session)

    def _succeed(self, intent: dict, charge: dict) -> None:
        """Mark ``charge`` and ``intent`` succeeded."""
        charge.update(
            status="succeeded",
            paid=True,
            captured=True,
            amount_captured=charge["amount"],
            outcome=_charge_outcome("paid"),
        )
        intent.update(status="succeeded", amount_received=intent["amount"])
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)

    def settle_async_payment(self, session_id: str, succeeded: bool = True) -> dict:
        """Settle a session completed with ``unpaid`` (delayed payment method)."""
        with self._lock:
            session = self._session(session_id)
            intent = self._objects.get(session.get("payment_intent") or "")
            if (
                session["status"] != "complete"
                or session["payment_status"] != "unpaid"
                or intent is None
                or intent["status"] != "processing"
            ):
                raise invalid_request(
                    f"Checkout Session {session_id} has no pending asynchronous "
                    "payment to settle.",
                    code="checkout_session_not_pending",
                )
            charge = self._objects[intent["latest_charge"]]
            if succeeded:
                self._succeed(intent, charge)
                session["payment_status"] = "paid"
                self._emit("checkout.session.async_payment_succeeded", session)
            else:
                charge.update(
                    status="failed",
                    failure_code="payment_method_provider_decline",
                    failure_message="The customer's bank account could not be debited.",
                    outcome=_charge_outcome("failed"),
                )
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = _payment_error(charge)
                self._emit("charge.failed", charge)
                self._emit("payment_intent.payment_failed", intent)
                self._emit("checkout.session.async_payment_failed", session)
            return self._result(session)

    def _result(self, session: dict) -> dict:
        """Copies of a session with its payment intent and latest charge."""
        intent = self._objects.get(session.get("payment_intent") or "")
        charge = self._objects.get((intent or {}).get("latest_charge") or "")
        return {
            "checkout_session": self._public(session),
            "payment_intent": self._public(intent) if intent else None,
            "charge": self._public(charge) if charge else None,
        }

    # ----------------------------------------------------------------- refunds
    def create_refund(self, params: dict) -> dict:
        """``POST /v1/refunds`` for a payment intent or charge."""
        params = dict(params)
        check_allowed(params, REFUND_PARAMS)
        with self._lock:
            charge = self._refundable_charge(params)
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise invalid_request(
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = remaining
            if params.get("amount") not in (None, ""):
                amount = as_int(params["amount"], "amount", 1)
            if amount > remaining:
                fmt = currencies.format_amount
                raise invalid_request(
                    f"Refund amount ({fmt(amount, charge['currency'])}) is greater "
                    "than unrefunded amount on charge "
                    f"({fmt(remaining, charge['currency'])})",
                    "amount",
                    "amount_too_large",
                )
            reason = params.get("reason")
            refund = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": None,
                "charge": charge["id"],
                "created": self.now(),
                "currency": charge["currency"],
                "metadata": as_metadata(params.get("metadata")),
                "payment_intent": charge["payment_intent"],
                "reason": as_choice(reason, "reason", REFUND_REASONS)
                if reason
                else None,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            self._objects[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._emit("refund.created", refund)
            self._emit("charge.refunded", charge)
            return self.expand(refund, expand_list(params))

    def _refund_list(self, charge_id: str) -> dict:
        """The list of a charge's refunds (newest first), its ``refunds``."""
        refunds = [
            self._public(obj)
            for obj in reversed(self._objects.values())
            if obj["object"] == "refund" and obj["charge"] == charge_id
        ]
        page, has_more = _paginate(refunds, {})
        return {
            "object": "list",
            "data": page,
            "has_more": has_more,
            "url": f"/v1/charges/{charge_id}/refunds",
        }

    def _refundable_charge(self, params: dict) -> dict:
        """The succeeded charge named by ``charge`` or ``payment_intent``."""
        intent_id, charge_id = params.get("payment_intent"), params.get("charge")
        if not intent_id and not charge_id:
            raise invalid_request(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if charge_id:
            charge = self._objects.get(str(charge_id))
            if charge is None or charge["object"] != "charge":
                raise resource_missing("charge", str(charge_id), "charge")
            if intent_id and charge["payment_intent"] != intent_id:
                raise invalid_request(
                    f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                    "charge",
                )
        else:
            intent = self._objects.get(str(intent_id))
            if intent is None or intent["object"] != "payment_intent":
                raise resource_missing(
                    "payment_intent", str(intent_id), "payment_intent"
                )
            if intent["status"] != "succeeded":
                raise invalid_request(
                    f"This PaymentIntent ({intent_id}) does not have a successful "
                    "charge to refund.",
                    "payment_intent",
                    "charge_not_refundable",
                )
            charge = self._objects[intent["latest_charge"]]
        if charge["status"] != "succeeded":
            raise invalid_request(
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                "charge",
                "charge_not_refundable",
            )
        return charge

    # -------------------------------------------------------- webhook endpoints
    def create_webhook_endpoint(self, params: dict, secret: str | None = None):
        """``POST /v1/webhook_endpoints``; the answer alone carries ``secret``."""
        params = dict(params)
        check_allowed(params, WEBHOOK_PARAMS)
        with self._lock:
            endpoint = {
                "id": new_id("we"),
                "object": "webhook_endpoint",
                "api_version": params.get("api_version"),
                "application": None,
                "created": self.now(),
                "description": params.get("description"),
                "enabled_events": _enabled_events(require(params, "enabled_events")),
                "livemode": False,
                "metadata": as_metadata(params.get("metadata")),
                "status": "enabled",
                "url": as_url(require(params, "url"), "url"),
            }
            self._objects[endpoint["id"]] = endpoint
            self._webhook_secrets[endpoint["id"]] = secret or new_id("whsec")
            return {
                **copy.deepcopy(endpoint),
                "secret": self._webhook_secrets[endpoint["id"]],
            }

    def add_webhook_endpoint(
        self, url: str, secret: str | None = None, enabled_events=("*",)
    ) -> dict:
        """Register an endpoint directly (the CLI's ``--webhook-url``)."""
        return self.create_webhook_endpoint(
            {"url": url, "enabled_events": list(enabled_events)}, secret=secret
        )

    def update_webhook_endpoint(self, endpoint_id: str, params: dict) -> dict:
        """``POST /v1/webhook_endpoints/{id}``."""
        params = dict(params)
        check_allowed(params, WEBHOOK_UPDATE_PARAMS)
        with self._lock:
            endpoint = self._objects.get(endpoint_id)
            if endpoint is None or endpoint["object"] != "webhook_endpoint":
                raise resource_missing(
                    "webhook_endpoint", endpoint_id, "webhook_endpoint"
                )
            if "url" in params:
                endpoint["url"] = as_url(params["url"], "url")
            if "enabled_events" in params:
                endpoint["enabled_events"] = _enabled_events(params["enabled_events"])
            if "description" in params:
                endpoint["description"] = params["description"] or None
            if "metadata" in params:
                endpoint["metadata"] = merge_metadata(
                    endpoint["metadata"], params["metadata"], "metadata"
                )
            if "disabled" in params:
                disabled = as_bool(params["disabled"], "disabled")
                endpoint["status"] = "disabled" if disabled else "enabled"
            return self.expand(endpoint, expand_list(params))

    def delete_webhook_endpoint(self, endpoint_id: str) -> dict:
        """``DELETE /v1/webhook_endpoints/{id}``."""
        with self._lock:
            self.get_object(endpoint_id, "webhook_endpoint")
            del self._objects[endpoint_id]
            self._webhook_secrets.pop(endpoint_id, None)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def webhook_target(self, endpoint_id: str) -> tuple[dict, str] | None:
        """One enabled endpoint with its current secret, or ``None`` when it was
        deleted or disabled."""
        with self._lock:
            endpoint = self._objects.get(endpoint_id)
            if (
                endpoint is None
                or endpoint["object"] != "webhook_endpoint"
                or endpoint["status"] != "enabled"
            ):
                return None
            return copy.deepcopy(endpoint), self._webhook_secrets[endpoint_id]

    def webhook_delivered(self, event_id: str) -> None:
        """One endpoint acknowledged ``event_id``: decrement ``pending_webhooks``."""
        with self._lock:
            event = self._objects.get(event_id)
            if event is not None and event["object"] == "event":
                event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)

    def webhook_targets(self) -> list[tuple[dict, str]]:
        """Enabled endpoints with their signing secrets (for delivery)."""
        with self._lock:
            return [
                (copy.deepcopy(obj), self._webhook_secrets[obj["id"]])
                for obj in self._objects.values()
                if obj["object"] == "webhook_endpoint" and obj["status"] == "enabled"
            ]

    # ------------------------------------------------------------------ helpers
    def _emit(self, event_type: str, obj: dict) -> None:
        """Record a Stripe ``event`` for ``obj`` and notify listeners."""
        request = _CURRENT_REQUEST.get() or {"id": None, "idempotency_key": None}
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": {"object": self._public(obj)},
            "livemode": False,
            "pending_webhooks": sum(
                1
                for endpoint, _secret in self.webhook_targets()
                if event_matches(endpoint["enabled_events"], event_type)
            ),
            "request": dict(request),
            "type": event_type,
        }
        self._events.append(event)
        self._objects[event["id"]] = event
        for listener in list(self._listeners):
            listener(copy.deepcopy(event))

    @staticmethod
    def _public(obj: dict) -> dict:
        """A copy of ``obj`` without the simulator's private ``_`` fields."""
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _optional(params: dict, name: str, convert: Callable[[Any, str], Any]):
    """``params[name]`` validated by ``convert(value, name)``, or ``None``."""
    value = params.get(name)
    return None if value in (None, "") else convert(value, name)


def _choice(*choices: str) -> Callable[[Any, str], str]:
    """A converter accepting one of ``choices``."""
    return lambda value, name: as_choice(value, name, choices)


def _enabled(value: Any, name: str) -> bool:
    """The ``enabled`` flag of a ``{"enabled": bool}`` parameter."""
    value = as_dict(value, name)
    check_allowed(value, ("enabled",), name)
    return as_bool(require(value, "enabled", f"{name}[enabled]"), f"{name}[enabled]")


def _paginate(items: list[dict], params: dict) -> tuple[list[dict], bool]:
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


def _created_filter(value: Any) -> Callable[[int], bool]:
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


def _enabled_events(value: Any) -> list[str]:
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


def _charge_outcome(outcome: str, decline_code: str = "generic_decline") -> dict:
    """The ``outcome`` hash of a charge."""
    if outcome == "failed":
        return {
            "network_status": "declined_by_network",
            "reason": decline_code,
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with "
            "this decline.",
            "type": "issuer_declined",
        }
    return {
        "network_status": "approved_by_network",
        "reason": None,
        "risk_level": "normal",
        "seller_message": "Payment complete.",
        "type": "authorized",
    }


def _payment_error(charge: dict) -> dict:
    """The ``last_payment_error`` of an intent whose ``charge`` failed: Stripe's
    error object (https://stripe.com/docs/api/errors) with the payment method
    used, as a full ``payment_method`` object."""
    details = charge["payment_method_details"]
    error = {
        "charge": charge["id"],
        "code": charge["failure_code"],
        "decline_code": charge["outcome"]["reason"],
        "doc_url": doc_url(charge["failure_code"]),
        "message": charge["failure_message"],
        "payment_method": _payment_method(
            charge["payment_method"],
            details,
            charge["created"],
            charge["billing_details"]["email"],
        ),
        "type": "card_error" if details["type"] == "card" else "invalid_request_error",
    }
    return error


def _payment_method(
    method_id: str, details: dict, created: int, email: str | None
) -> dict:
    """The ``payment_method`` object behind a charge's ``payment_method_details``
    (its hash of the method's type keeps the fields a payment method has)."""
    kind = details["type"]
    if kind == "card":
        card = details["card"]
        method_details = {
            **{
                key: card[key]
                for key in (
                    "brand",
                    "checks",
                    "country",
                    "exp_month",
                    "exp_year",
                    "fingerprint",
                    "funding",
                )
            },
            "generated_from": None,
            "last4": card["last4"],
            "networks": {"available": [card["network"]], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    else:
        method_details = {
            **{k: v for k, v in details[kind].items() if k != "mandate"},
            "generated_from": None,
        }
    return {
        "id": method_id,
        "object": "payment_method",
        "billing_details": _billing_details(email),
        kind: method_details,
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": kind,
    }


def _billing_details(email: str | None) -> dict:
    """The ``billing_details`` Checkout collects: the e-mail (no address)."""
    return {
        "address": {
            "city": None,
            "country": None,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "email": email,
        "name": None,
        "phone": None,
    }


def _fingerprint(*parts: str) -> str:
    """A stable 16-character fingerprint of a payment method's number."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return base64.b64encode(digest, b"Aa").decode()[:16]


def _card_details(card: dict) -> dict:
    """The ``card`` hash of a charge's ``payment_method_details``."""
    brand = card.get("brand", "visa")
    last4 = card.get("last4", "4242")
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": card.get("exp_month", 12),
        "exp_year": card.get("exp_year", 2034),
        "fingerprint": _fingerprint(brand, last4),
        "funding": card.get("funding", "credit"),
        "installments": None,
        "last4": last4,
        "mandate": None,
        "network": brand,
        "three_d_secure": None,
        "wallet": None,
    }


def _sepa_debit_details() -> dict:
    """The ``sepa_debit`` hash of a charge's ``payment_method_details``
    (fields of https://stripe.com/docs/api/charges/object, no fixture shows it)."""
    return {
        **SEPA_DEBIT_BANK,
        "fingerprint": _fingerprint("sepa_debit", "3000"),
        "last4": "3000",
        "mandate": new_id("mandate"),
    }


def _customer_details(email: str) -> dict:
    """The ``customer_details`` hash of a completed session."""
    return {
        "address": None,
        "email": email,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
