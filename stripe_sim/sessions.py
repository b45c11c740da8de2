"""Checkout Sessions of the simulated account: creation, validation, expiry."""

import copy
from typing import Any

from . import currencies
from .errors import invalid_request, missing_param, resource_missing
from .ids import new_id
from .params import (
    CURRENT_REQUEST,
    EXPIRES_AT_GRACE,
    LINE_ITEM_PARAMS,
    PAYMENT_INTENT_DATA_PARAMS,
    PRICE_DATA_PARAMS,
    PRODUCT_DATA_PARAMS,
    SESSION_CREATE_PARAMS,
    SESSION_MAX_LIFETIME,
    SESSION_MIN_LIFETIME,
    WAITING_INTENT_STATUSES,
    enabled_flag,
    one_of,
    optional_param,
    paginate,
)
from .validation import (
    as_bool,
    as_dict,
    as_email,
    as_int,
    as_list,
    as_metadata,
    as_str,
    as_url,
    check_allowed,
    expand_list,
    require,
)


class CheckoutSessions:
    """Checkout Sessions of the simulated account: a part of
    :class:`~stripe_sim.state.SimulatorState` (its lock, clock, objects and
    events)."""

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
            "allow_promotion_codes": optional_param(
                params, "allow_promotion_codes", as_bool
            ),
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "status": None},
            "billing_address_collection": optional_param(
                params, "billing_address_collection", one_of("auto", "required")
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
            "payment_method_collection": optional_param(
                params, "payment_method_collection", one_of("always", "if_required")
            ),
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": [
                as_str(m, "payment_method_types")
                for m in as_list(methods, "payment_method_types")
            ],
            "payment_status": "unpaid",
            "phone_number_collection": {
                "enabled": optional_param(
                    params, "phone_number_collection", enabled_flag
                )
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
        page, has_more = paginate(list(self._line_items.get(session_id, [])), params)
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
        token = CURRENT_REQUEST.set(None)
        try:
            for obj in list(self._objects.values()):
                if (
                    obj["object"] == "checkout.session"
                    and obj["status"] == "open"
                    and obj["expires_at"] <= now
                ):
                    self._expire(obj)
        finally:
            CURRENT_REQUEST.reset(token)

    def _session(self, session_id: str) -> dict:
        """The stored (mutable) session, after lazy expiry."""
        self._expire_due_sessions()
        session = self._objects.get(session_id)
        if session is None or session["object"] != "checkout.session":
            raise resource_missing("checkout.session", session_id, "session")
        return session
