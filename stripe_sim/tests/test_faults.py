"""Injected faults as the stripe SDK sees them."""

import time

import pytest
import stripe

from .conftest import make_client, session_params


def test_server_error_is_api_error(sim, client):
    sim.faults.server_error(path="/v1/checkout/sessions")
    with pytest.raises(stripe.APIError) as info:
        client.checkout.sessions.create(params=session_params())
    assert info.value.http_status == 500
    assert info.value.json_body["error"]["type"] == "api_error"
    assert info.value.headers["Request-Id"].startswith("req_")
    record = sim.request_log.last()
    assert (record.status, record.fault) == (500, "server_error")
    assert client.checkout.sessions.list().data == []  # nothing was created


def test_server_error_is_retried_by_sdk_with_same_idempotency_key(sim):
    sim.faults.server_error(count=1, method="POST")
    client = make_client(sim, retries=1).v1
    session = client.checkout.sessions.create(params=session_params())
    assert session.status == "open"
    first, second = sim.request_log.requests_to("/v1/checkout/sessions", "POST")
    assert (first.status, second.status) == (500, 200)
    assert first.idempotency_key == second.idempotency_key


def test_rate_limit_is_rate_limit_error(sim, client):
    sim.faults.rate_limit(retry_after=2)
    with pytest.raises(stripe.RateLimitError) as info:
        client.checkout.sessions.list()
    assert info.value.http_status == 429
    assert info.value.json_body["error"]["code"] == "rate_limit"
    assert info.value.headers["Retry-After"] == "2"


def test_rate_limit_retried_when_stripe_says_so(sim):
    # stripe-python 16 retries a 429 only with "Stripe-Should-Retry: true" and
    # waits its own back-off (>= 0.5 s), not Retry-After.
    sim.faults.rate_limit(retry_after=1, should_retry=True)
    client = make_client(sim, retries=1).v1
    started = time.monotonic()
    assert client.checkout.sessions.list().object == "list"
    assert time.monotonic() - started >= 0.5
    assert [r.status for r in sim.request_log] == [429, 200]


def test_rate_limit_without_retry_hint_is_not_retried(sim):
    sim.faults.rate_limit()
    client = make_client(sim, retries=2).v1
    with pytest.raises(stripe.RateLimitError):
        client.checkout.sessions.list()
    assert len(sim.request_log) == 1


def test_dropped_connection_is_api_connection_error(sim, client):
    sim.faults.drop_connection(path="/v1/checkout/sessions")
    with pytest.raises(stripe.APIConnectionError):
        client.checkout.sessions.create(params=session_params())
    record = sim.request_log.last()
    assert (record.status, record.fault) == (None, "drop_connection")
    assert client.checkout.sessions.list().data == []
    # the next request is served normally
    assert client.checkout.sessions.create(params=session_params()).status == "open"


def test_dropped_connection_is_retried_by_sdk(sim):
    sim.faults.drop_connection()
    client = make_client(sim, retries=1).v1
    assert client.checkout.sessions.list().object == "list"
    assert [r.status for r in sim.request_log] == [None, 200]


def test_timeout_is_api_connection_error_but_request_was_processed(sim):
    sim.faults.timeout(seconds=1.0, path="/v1/checkout/sessions", method="POST")
    client = make_client(sim, timeout=0.3).v1
    params = session_params()
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError) as info:
        client.checkout.sessions.create(
            params=params, options={"idempotency_key": "slow"}
        )
    assert time.monotonic() - started < 0.9
    assert info.value.should_retry is True
    time.sleep(1.0)
    # the server finished the work the client gave up on; a retry replays it
    sessions = make_client(sim).v1.checkout.sessions.list().data
    assert len(sessions) == 1
    again = make_client(sim).v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "slow"}
    )
    assert again.id == sessions[0].id


def test_timeout_fault_is_cut_short_by_reset(sim):
    sim.faults.timeout(seconds=30)
    client = make_client(sim, timeout=0.3).v1
    with pytest.raises(stripe.APIConnectionError):
        client.checkout.sessions.create(params=session_params())
    sim.reset()
    time.sleep(0.2)
    assert make_client(sim).v1.checkout.sessions.list().data == []


def test_latency_delays_answer(sim, client):
    sim.faults.latency(0.4)
    started = time.monotonic()
    client.checkout.sessions.list()
    assert time.monotonic() - started >= 0.4
    assert sim.request_log.last().fault == "latency"


def test_count_and_matching(sim, client):
    fault = sim.faults.server_error(count=2, method="GET", path="/v1/payment_intents")
    session = client.checkout.sessions.create(params=session_params())
    assert session.status == "open"  # POST to another path: untouched
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.payment_intents.list()
    assert client.payment_intents.list().data == []
    assert sim.faults.list() == []
    assert fault.kind == "server_error"


def test_unlimited_fault_until_cleared(sim, client):
    sim.faults.add("500", count=None)
    for _ in range(3):
        with pytest.raises(stripe.APIError):
            client.checkout.sessions.list()
    assert sim.faults.clear() == 1
    assert client.checkout.sessions.list().object == "list"


def test_unknown_fault_kind_is_refused(sim):
    with pytest.raises(ValueError):
        sim.faults.add("explode")
