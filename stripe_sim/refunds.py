"""Refunds of the simulated account."""

from . import currencies
from .errors import invalid_request, resource_missing
from .ids import new_id
from .params import (
    REFUND_PARAMS,
    REFUND_REASONS,
    paginate,
)
from .validation import (
    as_choice,
    as_int,
    as_metadata,
    check_allowed,
    expand_list,
)


class Refunds:
    """Refunds of the simulated account: a part of
    :class:`~stripe_sim.state.SimulatorState` (its lock, clock, objects and
    events)."""

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
        page, has_more = paginate(refunds, {})
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
