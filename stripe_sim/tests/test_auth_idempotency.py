"""API keys, Stripe-Version, Request-Id and idempotency keys."""

import threading
import time

import pytest
import requests
import stripe

from .conftest import make_client, session_params


def _post(sim, path, data, key=None, **headers):
    """A raw form POST with the simulator's key."""
    headers = {"Authorization": f"Bearer {sim.api_key}", **headers}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(sim.url + path, data=data, headers=headers, timeout=10)


FORM = {
    "mode": "payment",
    "line_items[0][quantity]": "1",
    "line_items[0][price_data][currency]": "eur",
    "line_items[0][price_data][unit_amount]": "990",
    "line_items[0][price_data][product_data][name]": "Mochi",
    "success_url": "http://localhost:3000/ok",
}


def test_wrong_key_is_authentication_error(sim):
    client = make_client(sim, api_key="sk_test_wrong_key_1234abcd").v1
    with pytest.raises(stripe.AuthenticationError) as info:
        client.checkout.sessions.create(params=session_params())
    error = info.value
    assert error.http_status == 401
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert error.user_message.startswith("Invalid API Key provided: sk_test_")
    assert error.user_message.endswith("abcd")
    assert "wrong_key" not in error.user_message
    assert sim.request_log.last().status == 401


def test_missing_and_publishable_keys(sim):
    response = requests.get(sim.url + "/v1/checkout/sessions", timeout=5)
    assert response.status_code == 401
    assert "You did not provide an API key" in response.json()["error"]["message"]
    response = requests.get(
        sim.url + "/v1/checkout/sessions",
        headers={"Authorization": "Bearer pk_test_123"},
        timeout=5,
    )
    assert "publishable API key" in response.json()["error"]["message"]


def test_basic_auth_and_several_keys():
    from stripe_sim import SimulatorServer

    with SimulatorServer(api_keys=["sk_test_a", "sk_test_b"]) as sim:
        response = requests.get(
            sim.url + "/v1/checkout/sessions", auth=("sk_test_b", ""), timeout=5
        )
        assert response.status_code == 200
        assert response.json()["object"] == "list"


def test_headers_on_every_response(sim):
    ok = requests.get(
        sim.url + "/v1/checkout/sessions",
        headers={
            "Authorization": f"Bearer {sim.api_key}",
            "Stripe-Version": "2024-06-20",
        },
        timeout=5,
    )
    assert ok.headers["Request-Id"].startswith("req_")
    assert ok.headers["Stripe-Version"] == "2024-06-20"
    missing = requests.get(sim.url + "/v1/nothing", timeout=5)
    assert missing.status_code == 401  # auth is checked first
    unknown = requests.get(
        sim.url + "/v1/nothing",
        headers={"Authorization": f"Bearer {sim.api_key}"},
        timeout=5,
    )
    assert unknown.status_code == 404
    assert unknown.headers["Request-Id"].startswith("req_")
    assert unknown.headers["Stripe-Version"] == "2023-10-16"  # the default
    assert unknown.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/nothing)"
    )
    assert requests.get(sim.url + "/", timeout=5).status_code == 404


def test_malformed_stripe_version_is_refused(sim):
    response = requests.get(
        sim.url + "/v1/checkout/sessions",
        headers={"Authorization": f"Bearer {sim.api_key}", "Stripe-Version": "latest"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "Invalid Stripe API version" in response.json()["error"]["message"]


def test_replay_returns_identical_response_and_no_new_object(sim, client):
    first = _post(sim, "/v1/checkout/sessions", FORM, key="order-1-attempt-1")
    second = _post(sim, "/v1/checkout/sessions", FORM, key="order-1-attempt-1")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Request-Id"] == first.headers["Request-Id"]
    assert len(client.checkout.sessions.list().data) == 1
    assert [r.replayed for r in sim.request_log.requests_to("/v1/checkout")] == [
        False,
        True,
        False,
    ]


def test_replay_through_sdk(client):
    params = session_params()
    options = {"idempotency_key": "pay-uuid-1:create:1"}
    first = client.checkout.sessions.create(params=params, options=options)
    again = client.checkout.sessions.create(params=params, options=options)
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(client.checkout.sessions.list().data) == 1


def test_same_key_other_params_is_idempotency_error(client):
    options = {"idempotency_key": "pay-uuid-1:create:1"}
    client.checkout.sessions.create(params=session_params(), options=options)
    with pytest.raises(stripe.IdempotencyError) as info:
        client.checkout.sessions.create(
            params=session_params(client_reference_id="other"), options=options
        )
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    assert "same parameters" in info.value.user_message


def test_same_key_other_endpoint_is_idempotency_error(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    intent = sim.state.complete_checkout_session(session.id)["payment_intent"]
    options = {"idempotency_key": "shared"}
    client.refunds.create(
        params={"payment_intent": intent["id"], "amount": 100}, options=options
    )
    with pytest.raises(stripe.IdempotencyError) as info:
        client.checkout.sessions.expire(session.id, options=options)
    assert "same endpoint" in info.value.user_message


def test_failed_validation_does_not_burn_the_key(client):
    options = {"idempotency_key": "retry-after-fix"}
    with pytest.raises(stripe.InvalidRequestError):
        client.checkout.sessions.create(
            params=session_params(success_url="nope"), options=options
        )
    session = client.checkout.sessions.create(params=session_params(), options=options)
    assert session.status == "open"


def test_concurrent_use_of_a_key_is_409(sim):
    sim.faults.latency(0.6, path="/v1/checkout/sessions", method="POST")
    results = {}

    def first():
        results["first"] = _post(sim, "/v1/checkout/sessions", FORM, key="busy")

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.2)
    second = _post(sim, "/v1/checkout/sessions", FORM, key="busy")
    thread.join()
    assert second.status_code == 409
    assert second.json()["error"]["type"] == "idempotency_error"
    assert results["first"].status_code == 200
    replay = _post(sim, "/v1/checkout/sessions", FORM, key="busy")
    assert replay.json()["id"] == results["first"].json()["id"]
