"""Checkout Sessions through the real stripe SDK."""

import time

import pytest
import stripe

from .conftest import session_params


def test_create_decodes_nested_params_and_returns_stripe_object(sim, client):
    params = session_params()
    session = client.checkout.sessions.create(params=params)

    record = sim.request_log.last("/v1/checkout/sessions", "POST")
    assert record.status == 200
    assert record.params["line_items"] == [
        {
            "quantity": "2",
            "price_data": {
                "currency": "eur",
                "unit_amount": "1250",
                "product_data": {"name": "Daifuku mochi"},
            },
        }
    ]
    assert record.params["metadata"]["order_name"] == "OM/2026/00001"
    assert record.params["payment_intent_data"] == {
        "metadata": {"payment_id": "pay-uuid-1"}
    }
    assert record.stripe_version == "2023-10-16"
    assert record.idempotency_key  # the SDK always sends one on POST
    assert record.header("authorization").startswith("Bearer sk_test_")
    assert "omochi_simulator" not in record.header("authorization")

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.url == f"{sim.url}/c/pay/{session.id}"
    assert (session.amount_total, session.amount_subtotal) == (2500, 2500)
    assert session.currency == "eur"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert session.payment_intent is None
    assert session.client_reference_id == "pay-uuid-1"
    assert session.metadata.to_dict() == params["metadata"]
    assert session.customer_email == "hanako@example.com"
    assert session.expires_at == params["expires_at"]
    assert session.success_url == params["success_url"]
    assert session.cancel_url == params["cancel_url"]
    assert session.livemode is False
    assert session.mode == "payment"
    assert abs(session.created - time.time()) < 5


def test_defaults_and_hosted_page(sim, client):
    params = session_params()
    for key in ("expires_at", "cancel_url", "customer_email", "metadata"):
        del params[key]
    session = client.checkout.sessions.create(params=params)
    assert abs(session.expires_at - (time.time() + 24 * 3600)) < 5
    assert session.cancel_url is None
    assert session.customer_email is None
    assert session.metadata.to_dict() == {}
    import requests

    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200
    assert "Daifuku mochi" in page.text


def test_retrieve_with_and_without_expand(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    sim.state.complete_checkout_session(session.id, "paid")

    plain = client.checkout.sessions.retrieve(session.id)
    assert plain.payment_intent.startswith("pi_")
    assert plain.status == "complete"

    expanded = client.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "line_items"]}
    )
    assert expanded.payment_intent.id == plain.payment_intent
    assert expanded.payment_intent.object == "payment_intent"
    assert expanded.payment_intent.metadata.to_dict() == {"payment_id": "pay-uuid-1"}
    assert expanded.line_items.data[0].quantity == 2
    assert expanded.line_items.data[0].description == "Daifuku mochi"
    record = sim.request_log.last("/v1/checkout/sessions/", "GET")
    assert record.query == {"expand": ["payment_intent", "line_items"]}


def test_expand_nested_and_refused_property(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    sim.state.complete_checkout_session(session.id)
    deep = client.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert deep.payment_intent.latest_charge.object == "charge"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.checkout.sessions.retrieve(session.id, params={"expand": ["mode"]})
    assert info.value.param == "expand"


def test_list_and_filter_by_payment_intent(sim, client):
    first = client.checkout.sessions.create(params=session_params())
    second = client.checkout.sessions.create(params=session_params())
    result = sim.state.complete_checkout_session(second.id)
    listed = client.checkout.sessions.list(params={"limit": 1})
    assert [s.id for s in listed.data] == [second.id]
    assert listed.has_more is True
    assert listed.url == "/v1/checkout/sessions"
    rest = client.checkout.sessions.list(params={"starting_after": second.id})
    assert [s.id for s in rest.data] == [first.id]
    by_pi = client.checkout.sessions.list(
        params={"payment_intent": result["payment_intent"]["id"]}
    )
    assert [s.id for s in by_pi.data] == [second.id]
    items = client.checkout.sessions.line_items.list(first.id)
    assert items.data[0].amount_total == 2500


def test_expire_open_session_then_refuse_again(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    expired = client.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.checkout.sessions.expire(session.id)
    assert "Only Checkout Sessions with a status in [open] can be expired" in str(
        info.value
    )
    assert [e["type"] for e in sim.state.events] == ["checkout.session.expired"]


def test_expire_complete_session_is_refused(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    sim.state.complete_checkout_session(session.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.checkout.sessions.expire(session.id)
    assert info.value.http_status == 400
    assert "status of complete" in info.value.user_message


def test_session_expires_when_clock_passes_expires_at(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    sim.state.advance_time(3601)
    assert client.checkout.sessions.retrieve(session.id).status == "expired"


def test_unknown_session_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.checkout.sessions.retrieve("cs_test_nope")
    error = info.value
    assert error.http_status == 404
    assert error.code == "resource_missing"
    assert error.user_message == "No such checkout.session: 'cs_test_nope'"
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert error.json_body["error"]["doc_url"].endswith("/resource-missing")


def _line(amount=1250, currency="eur", quantity=1, **price_data):
    data = {"currency": currency, "unit_amount": amount}
    data.setdefault("product_data", {"name": "Mochi"})
    data.update(price_data)
    return {"quantity": quantity, "price_data": data}


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"expires_at": int(time.time()) + 600}, "expires_at", None),
        ({"expires_at": int(time.time()) + 25 * 3600}, "expires_at", None),
        ({"expires_at": "soon"}, "expires_at", "parameter_invalid_integer"),
        ({"success_url": None}, "success_url", "parameter_missing"),
        ({"success_url": "/payment/status"}, "success_url", "url_invalid"),
        ({"cancel_url": "ftp://x.example/"}, "cancel_url", "url_invalid"),
        ({"mode": None}, "mode", "parameter_missing"),
        ({"mode": "subscription"}, "mode", None),
        ({"line_items": None}, "line_items", "parameter_missing"),
        ({"line_items": [_line(0)]}, "line_items", "amount_too_small"),
        ({"line_items": [_line(-5)]}, "line_items[0][price_data][unit_amount]", None),
        ({"line_items": [_line(quantity=0)]}, "line_items[0][quantity]", None),
        ({"line_items": [_line(), _line(currency="usd")]}, "line_items", None),
        ({"line_items": [_line(currency="xyz")]}, None, "parameter_invalid"),
        ({"line_items": [_line(product_data={})]}, "line_items[0][price_data]", None),
        ({"line_items": [_line(1505, "kwd")]}, "line_items", "invalid_charge_amount"),
        ({"line_items": [_line(50050, "ugx")]}, "line_items", "invalid_charge_amount"),
        ({"customer_email": "not-an-email"}, "customer_email", "email_invalid"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", None),
        ({"colour": "red"}, "colour", "parameter_unknown"),
    ],
)
def test_validation_errors(client, overrides, param, code):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.checkout.sessions.create(params=session_params(**overrides))
    assert info.value.http_status == 400
    if param:
        assert info.value.param == param
    if code:
        assert info.value.code == code


def test_zero_decimal_and_three_decimal_amounts_accepted(client):
    jpy = client.checkout.sessions.create(
        params=session_params(line_items=[_line(500, "jpy", 3)])
    )
    assert (jpy.amount_total, jpy.currency) == (1500, "jpy")
    kwd = client.checkout.sessions.create(
        params=session_params(line_items=[_line(1510, "KWD")])
    )
    assert (kwd.amount_total, kwd.currency) == (1510, "kwd")


def test_failed_validation_creates_nothing(sim, client):
    with pytest.raises(stripe.InvalidRequestError):
        client.checkout.sessions.create(params=session_params(success_url=None))
    assert client.checkout.sessions.list().data == []


def test_list_created_filter_and_data_expand(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    sim.state.complete_checkout_session(session.id)
    since = {"gte": session.created}
    listed = client.checkout.sessions.list(
        params={"created": since, "expand": ["data.payment_intent"]}
    )
    assert listed.data[0].payment_intent.status == "succeeded"
    later = client.checkout.sessions.list(params={"created": {"gt": session.created}})
    assert later.data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.checkout.sessions.list(params={"expand": ["payment_intent"]})
