"""Payments of the simulated account: the customer's actions on a Checkout
Session, payment intents, charges and their outcomes."""

import base64
import copy
import hashlib

from .errors import doc_url, invalid_request
from .ids import new_id
from .params import (
    AUTHENTICATION_FAILURE_MESSAGE,
    DECLINE_MESSAGE,
    DEFAULT_CARD,
    DEFAULT_CUSTOMER_EMAIL,
    OUTCOMES,
    SEPA_DEBIT_BANK,
)
from .validation import (
    as_choice,
    as_int,
    as_metadata,
)


class Payments:
    """Payments of the simulated account (the customer's actions, payment
    intents, charges): a part of :class:`~stripe_sim.state.SimulatorState`
    (its lock, clock, objects and events)."""

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
