"""Simulated customer payments, payment intents and refunds."""

import pytest
import stripe

from stripe_sim import StripeError

from .conftest import session_params


@pytest.fixture
def session(client):
    return client.checkout.sessions.create(params=session_params())


def test_paid_completion_creates_succeeded_intent_and_charge(sim, client, session):
    result = sim.state.complete_checkout_session(session.id, "paid")
    assert result["checkout_session"]["status"] == "complete"
    assert result["checkout_session"]["payment_status"] == "paid"
    assert result["checkout_session"]["customer_details"]["email"] == (
        "hanako@example.com"
    )

    intent = client.payment_intents.retrieve(
        result["payment_intent"]["id"], params={"expand": ["latest_charge"]}
    )
    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert (intent.amount, intent.amount_received) == (2500, 2500)
    assert intent.currency == "eur"
    assert intent.status == "succeeded"
    assert intent.last_payment_error is None
    assert intent.metadata.to_dict() == {"payment_id": "pay-uuid-1"}
    assert intent.livemode is False
    assert intent.latest_charge.id.startswith("ch_")
    assert intent.latest_charge.paid is True
    assert intent.latest_charge.payment_intent == intent.id
    assert [e["type"] for e in sim.state.events] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


def test_unpaid_completion_then_async_success(sim, client, session):
    result = sim.state.complete_checkout_session(session.id, "unpaid")
    assert result["checkout_session"]["status"] == "complete"
    assert result["checkout_session"]["payment_status"] == "unpaid"
    assert result["payment_intent"]["status"] == "processing"
    settled = sim.state.settle_async_payment(session.id, succeeded=True)
    assert settled["checkout_session"]["payment_status"] == "paid"
    intent = client.payment_intents.retrieve(settled["payment_intent"]["id"])
    assert intent.status == "succeeded"
    assert sim.state.events[-1]["type"] == "checkout.session.async_payment_succeeded"


def test_async_failure(sim, session):
    sim.state.complete_checkout_session(session.id, "unpaid")
    failed = sim.state.settle_async_payment(session.id, succeeded=False)
    assert failed["payment_intent"]["status"] == "requires_payment_method"
    assert failed["payment_intent"]["last_payment_error"]["message"]
    assert sim.state.events[-1]["type"] == "checkout.session.async_payment_failed"


def test_failed_attempt_leaves_session_open_then_success_reuses_intent(
    sim, client, session
):
    failed = sim.state.complete_checkout_session(session.id, "failed")
    assert failed["checkout_session"]["status"] == "open"
    intent = client.payment_intents.retrieve(failed["payment_intent"]["id"])
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.message == "Your card was declined."
    assert intent.last_payment_error.code == "card_declined"
    assert sim.state.events[-1]["type"] == "payment_intent.payment_failed"

    paid = sim.state.complete_checkout_session(session.id, "paid")
    assert paid["payment_intent"]["id"] == intent.id
    assert paid["charge"]["id"] != failed["charge"]["id"]
    assert paid["payment_intent"]["status"] == "succeeded"


def test_amount_override_reports_a_different_amount(sim, client, session):
    result = sim.state.complete_checkout_session(session.id, amount_total=2400)
    assert result["checkout_session"]["amount_total"] == 2400
    intent = client.payment_intents.retrieve(result["payment_intent"]["id"])
    assert intent.amount == intent.amount_received == 2400


def test_closed_sessions_cannot_be_paid(sim, session):
    sim.state.expire_now(session.id)
    with pytest.raises(StripeError) as info:
        sim.state.complete_checkout_session(session.id)
    assert info.value.status == 400


def test_expiring_cancels_a_failed_intent(sim, client, session):
    failed = sim.state.complete_checkout_session(session.id, "failed")
    client.checkout.sessions.expire(session.id)
    intent = client.payment_intents.retrieve(failed["payment_intent"]["id"])
    assert intent.status == "canceled"


def test_unknown_payment_intent(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.payment_intents.retrieve("pi_missing")
    assert info.value.user_message == "No such payment_intent: 'pi_missing'"
    assert info.value.http_status == 404


def _paid_intent(sim, session):
    return sim.state.complete_checkout_session(session.id)["payment_intent"]["id"]


def test_partial_then_full_refund(sim, client, session):
    intent_id = _paid_intent(sim, session)
    partial = client.refunds.create(
        params={
            "payment_intent": intent_id,
            "amount": 1000,
            "reason": "requested_by_customer",
            "metadata": {"payment_id": "pay-uuid-1"},
        }
    )
    assert partial.id.startswith("re_")
    assert partial.object == "refund"
    assert (partial.amount, partial.status, partial.currency) == (
        1000,
        "succeeded",
        "eur",
    )
    assert partial.reason == "requested_by_customer"
    assert partial.payment_intent == intent_id
    charge = client.charges.retrieve(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)

    rest = client.refunds.create(params={"payment_intent": intent_id})
    assert rest.amount == 1500
    charge = client.charges.retrieve(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (2500, True)
    listed = client.refunds.list(params={"payment_intent": intent_id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]
    assert sim.state.events[-1]["type"] == "charge.refunded"

    with pytest.raises(stripe.InvalidRequestError) as info:
        client.refunds.create(params={"payment_intent": intent_id})
    assert info.value.code == "charge_already_refunded"


def test_refund_by_charge(sim, client, session):
    result = sim.state.complete_checkout_session(session.id)
    refund = client.refunds.create(params={"charge": result["charge"]["id"]})
    assert refund.amount == 2500


def test_over_refund_is_refused(sim, client, session):
    intent_id = _paid_intent(sim, session)
    client.refunds.create(params={"payment_intent": intent_id, "amount": 2000})
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.refunds.create(params={"payment_intent": intent_id, "amount": 501})
    assert info.value.param == "amount"
    assert info.value.code == "amount_too_large"
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"reason": "bored"}, "reason"),
        ({"payment_intent": "pi_nope"}, "payment_intent"),
    ],
)
def test_refund_validation(sim, client, session, params, param):
    intent_id = _paid_intent(sim, session)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.refunds.create(params={"payment_intent": intent_id, **params})
    assert info.value.param == param


def test_refunding_an_unpaid_intent_is_refused(sim, client, session):
    result = sim.state.complete_checkout_session(session.id, "unpaid")
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.refunds.create(params={"payment_intent": result["payment_intent"]["id"]})
    assert info.value.http_status == 400
    assert info.value.code == "charge_not_refundable"
    with pytest.raises(stripe.InvalidRequestError):
        client.refunds.create(params={})
