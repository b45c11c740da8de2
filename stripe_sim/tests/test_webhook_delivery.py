"""Webhook delivery: signed events POSTed to endpoints, retried with back-off."""

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque

import pytest
import requests
import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from stripe_sim import SimulatorServer

from .conftest import make_client, session_params

SECRET = "whsec_test_delivery"


class Receiver:
    """A tiny webhook receiver in a thread: records requests, answers the
    scripted statuses (then 200)."""

    def __init__(self, port: int = 0, statuses=()):
        self.statuses = deque(statuses)
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", port, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self._lock:
            status = self.statuses.popleft() if self.statuses else 200
            self.received.append(
                {
                    "body": request.get_data(),
                    "signature": request.headers.get("Stripe-Signature"),
                    "content_type": request.headers.get("Content-Type"),
                    "status": status,
                }
            )
        return Response("ok" if status < 300 else "nope", status)

    def events(self, only_accepted=False) -> list[dict]:
        with self._lock:
            return [
                json.loads(r["body"])
                for r in self.received
                if not only_accepted or r["status"] < 300
            ]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield start
    for item in made:
        item.stop()


@pytest.fixture(scope="module")
def dserver():
    """A simulator with fast retries (50 ms doubling, capped at 200 ms)."""
    with SimulatorServer(
        webhook_retry_delay=0.05,
        webhook_max_delay=0.2,
        webhook_max_attempts=4,
        webhook_timeout=2,
    ) as sim:
        yield sim


@pytest.fixture
def dsim(dserver):
    dserver.reset()
    dserver.webhooks.config.update(max_attempts=4, retry_delay=0.05)
    return dserver


def add_endpoint(sim, url, events=("*",)) -> tuple[str, str]:
    """Create an endpoint through the API; return ``(id, secret)``."""
    created = make_client(sim).v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": list(events)}
    )
    return created.id, created.secret


def pay_on_page(sim, number="4242424242424242"):
    """Create a session and pay it on the hosted page; return the session."""
    session = make_client(sim).v1.checkout.sessions.create(params=session_params())
    form = {"cardnumber": number, "expiry": "12/34", "cvc": "123", "zip": "12345"}
    requests.post(session.url, data=form, allow_redirects=False)
    return session


def check_signature(received: dict, secret: str) -> int:
    """Verify like a receiver would; return the signed timestamp."""
    fields = dict(part.split("=", 1) for part in received["signature"].split(","))
    signed = f"{fields['t']}.".encode() + received["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(int(fields["t"]) - time.time()) < 60
    event = stripe.Webhook.construct_event(
        received["body"], received["signature"], secret
    )
    assert event.object == "event"
    return int(fields["t"])


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_configured_webhook_receives_signed_events(receiver):
    target = receiver()
    with SimulatorServer(webhook_url=target.url, webhook_secret=SECRET) as sim:
        session = pay_on_page(sim)
        assert sim.wait_for_deliveries(5)
        types = [e["type"] for e in target.events()]
        assert types == [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
        ]
        for received in target.received:
            check_signature(received, SECRET)
            assert received["content_type"] == "application/json; charset=utf-8"
        event = target.events()[-1]
        assert event["id"].startswith("evt_")
        assert event["object"] == "event"
        assert event["livemode"] is False
        assert event["api_version"] == "2023-10-16"
        assert isinstance(event["created"], int)
        assert event["pending_webhooks"] == 1
        assert event["request"] == {"id": None, "idempotency_key": None}
        assert event["data"]["object"]["id"] == session.id
        assert event["data"]["object"]["payment_status"] == "paid"
        # once acknowledged, the stored event has no pending webhook left
        assert sim.state.get_object(event["id"])["pending_webhooks"] == 0
        attempts = sim.deliveries
        assert [a.event_type for a in attempts] == types
        assert all(a.status == 200 and a.attempt == 1 for a in attempts)
        assert attempts[0].url == target.url
    assert not [t for t in threading.enumerate() if "webhook" in t.name]


def test_enabled_events_filter_and_several_endpoints(dsim, receiver):
    completed_only, everything = receiver(), receiver()
    _, secret_a = add_endpoint(dsim, completed_only.url, ["checkout.session.completed"])
    _, secret_b = add_endpoint(dsim, everything.url)
    pay_on_page(dsim)
    assert dsim.wait_for_deliveries(5)
    assert [e["type"] for e in completed_only.events()] == [
        "checkout.session.completed"
    ]
    check_signature(completed_only.received[0], secret_a)
    assert len(everything.events()) == 4
    for received in everything.received:
        check_signature(received, secret_b)
    stored = dsim.state.events[-1]
    assert stored["type"] == "checkout.session.completed"
    assert stored["pending_webhooks"] == 0
    assert completed_only.events()[0]["pending_webhooks"] == 2


def test_failed_delivery_is_retried_with_fresh_signatures(dsim, receiver):
    flaky = receiver(statuses=[500, 500])
    _, secret = add_endpoint(dsim, flaky.url, ["checkout.session.expired"])
    session = make_client(dsim).v1.checkout.sessions.create(params=session_params())
    make_client(dsim).v1.checkout.sessions.expire(session.id)
    assert dsim.wait_for_deliveries(5)
    time.sleep(0.3)  # longer than the back-off: no further attempt comes
    assert [r["status"] for r in flaky.received] == [500, 500, 200]
    stamps = [check_signature(r, secret) for r in flaky.received]
    assert len(set(stamps)) == 3
    assert stamps == sorted(stamps)
    assert len({r["signature"] for r in flaky.received}) == 3
    assert len({r["body"] for r in flaky.received}) == 1  # the same event
    attempts = dsim.deliveries
    assert [(a.attempt, a.status, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert attempts[0].next_retry_in == pytest.approx(0.05)
    assert attempts[1].next_retry_in == pytest.approx(0.1)
    assert attempts[2].next_retry_in is None
    assert attempts[1].timestamp - attempts[0].timestamp >= 0.05


def test_gives_up_after_max_attempts(dsim, receiver):
    broken = receiver(statuses=[503] * 10)
    add_endpoint(dsim, broken.url)
    dsim.webhooks.config.update(max_attempts=3)
    session = make_client(dsim).v1.checkout.sessions.create(params=session_params())
    dsim.state.expire_now(session.id)
    assert dsim.wait_for_deliveries(5)
    assert [r["status"] for r in broken.received] == [503, 503, 503]
    event = dsim.state.events[-1]
    assert event["pending_webhooks"] == 1  # never acknowledged


def test_receiver_down_then_up_recovers(dsim, receiver):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    _, secret = add_endpoint(dsim, url, ["checkout.session.expired"])
    dsim.webhooks.config.update(max_attempts=50, retry_delay=0.05)
    session = make_client(dsim).v1.checkout.sessions.create(params=session_params())
    dsim.state.expire_now(session.id)
    wait_until(lambda: len(dsim.deliveries) >= 2)
    refused = dsim.deliveries[0]
    assert refused.status is None
    assert "refused" in refused.error.lower()
    target = receiver(port=port)
    assert dsim.wait_for_deliveries(5)
    last = dsim.deliveries[-1]
    assert (last.status, last.succeeded) == (200, True)
    assert last.attempt >= 2
    assert len(target.received) == 1
    check_signature(target.received[0], secret)


def test_events_reach_an_endpoint_in_order(dsim, receiver):
    flaky = receiver(statuses=[500])  # the first event fails once
    add_endpoint(dsim, flaky.url)
    sessions = [pay_on_page(dsim) for _ in range(2)]
    refund = make_client(dsim).v1.refunds.create(
        params={"payment_intent": dsim.state.events[2]["data"]["object"]["id"]},
        options={"idempotency_key": "refund-1"},
    )
    assert dsim.wait_for_deliveries(5)
    emitted = [e["id"] for e in dsim.state.events]
    received = [e["id"] for e in flaky.events()]
    assert received == [emitted[0], *emitted]  # first one twice, then in order
    assert [e["id"] for e in flaky.events(only_accepted=True)] == emitted
    refunded = next(e for e in flaky.events() if e["type"] == "charge.refunded")
    assert refunded["data"]["object"]["amount_refunded"] == refund.amount
    assert refunded["request"]["id"].startswith("req_")
    assert refunded["request"]["idempotency_key"] == "refund-1"
    assert len(sessions) == 2


def test_expiry_by_the_clock_is_delivered(dsim, receiver):
    target = receiver()
    add_endpoint(dsim, target.url, ["checkout.session.expired"])
    session = make_client(dsim).v1.checkout.sessions.create(params=session_params())
    dsim.state.advance_time(2 * 3600)
    assert dsim.wait_for_deliveries(5)
    [event] = target.events()
    assert event["data"]["object"]["id"] == session.id
    assert event["data"]["object"]["status"] == "expired"


def test_declined_card_sends_payment_failed(dsim, receiver):
    target = receiver()
    add_endpoint(dsim, target.url, ["payment_intent.payment_failed"])
    pay_on_page(dsim, "4000000000000002")
    assert dsim.wait_for_deliveries(5)
    [event] = target.events()
    error = event["data"]["object"]["last_payment_error"]
    assert (error["code"], error["message"]) == (
        "card_declined",
        "Your card was declined.",
    )


def test_disabled_or_deleted_endpoints_get_nothing(dsim, receiver):
    target = receiver()
    client = make_client(dsim).v1
    endpoint_id, _ = add_endpoint(dsim, target.url)
    client.webhook_endpoints.update(endpoint_id, params={"disabled": True})
    pay_on_page(dsim)
    client.webhook_endpoints.delete(endpoint_id)
    pay_on_page(dsim)
    assert dsim.wait_for_deliveries(5)
    assert target.received == []
    assert dsim.deliveries == []


def test_control_interface(dsim, receiver):
    target = receiver(statuses=[500])
    endpoint_id, secret = add_endpoint(dsim, target.url, ["checkout.session.expired"])
    session = make_client(dsim).v1.checkout.sessions.create(params=session_params())
    requests.post(f"{dsim.url}/_sim/checkout/sessions/{session.id}/expire_now")
    flushed = requests.post(f"{dsim.url}/_sim/webhooks/flush", json={"timeout": 5})
    assert flushed.json() == {"idle": True, "pending": 0}
    listed = requests.get(f"{dsim.url}/_sim/deliveries").json()
    assert [(d["attempt"], d["status"]) for d in listed["data"]] == [(1, 500), (2, 200)]
    first = listed["data"][0]
    assert first["url"] == target.url
    assert first["endpoint_id"] == endpoint_id
    assert first["event_type"] == "checkout.session.expired"
    assert first["event_id"].startswith("evt_")
    assert isinstance(first["timestamp"], float)
    filtered = requests.get(
        f"{dsim.url}/_sim/deliveries", params={"event_id": "evt_other"}
    ).json()
    assert filtered["data"] == []

    resent = requests.post(f"{dsim.url}/_sim/events/{first['event_id']}/resend")
    assert resent.json() == {"queued": 1}
    requests.post(f"{dsim.url}/_sim/webhooks/flush", json={})
    assert target.events()[-1]["id"] == first["event_id"]
    check_signature(target.received[-1], secret)

    settings = requests.post(
        f"{dsim.url}/_sim/webhooks", json={"retry_delay": 0.01, "max_attempts": 2}
    ).json()
    assert (settings["retry_delay"], settings["max_attempts"]) == (0.01, 2)
    assert settings["endpoints"][0]["url"] == target.url
    bad = requests.post(f"{dsim.url}/_sim/webhooks", json={"max_attempts": 0})
    assert bad.status_code == 400
    assert requests.delete(f"{dsim.url}/_sim/deliveries").json() == {"cleared": 3}


def test_stop_does_not_wait_for_pending_retries(receiver):
    broken = receiver(statuses=[500] * 10)
    sim = SimulatorServer(webhook_url=broken.url, webhook_retry_delay=30).start()
    session = make_client(sim).v1.checkout.sessions.create(params=session_params())
    sim.state.expire_now(session.id)
    wait_until(lambda: sim.deliveries)
    assert sim.webhooks.pending == 1
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    assert not [t for t in threading.enumerate() if "webhook-we_" in t.name]
    assert len(broken.received) == 1
