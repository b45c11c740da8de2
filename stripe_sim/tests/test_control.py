"""The /_sim control interface over plain HTTP."""

import requests

from .conftest import session_params


def _sim(sim, method, path, json=None, **kwargs):
    response = requests.request(
        method, sim.url + "/_sim" + path, json=json, timeout=10, **kwargs
    )
    return response


def test_health_needs_no_auth(sim):
    response = _sim(sim, "GET", "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert len(sim.request_log) == 0  # control calls are not logged


def test_complete_paid_over_http(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    response = _sim(
        sim, "POST", f"/checkout/sessions/{session.id}/complete", {"outcome": "paid"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["checkout_session"]["status"] == "complete"
    assert body["checkout_session"]["payment_status"] == "paid"
    assert body["payment_intent"]["status"] == "succeeded"
    assert body["charge"]["status"] == "succeeded"
    assert (
        client.checkout.sessions.retrieve(session.id).payment_intent
        == (body["payment_intent"]["id"])
    )


def test_complete_failed_and_unpaid_over_http(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    failed = _sim(
        sim,
        "POST",
        f"/checkout/sessions/{session.id}/complete",
        {"outcome": "failed", "failure_message": "Insufficient funds."},
    )
    assert failed.json()["checkout_session"]["status"] == "open"
    error = failed.json()["payment_intent"]["last_payment_error"]
    assert error["message"] == "Insufficient funds."
    unpaid = _sim(
        sim,
        "POST",
        f"/checkout/sessions/{session.id}/complete",
        {"outcome": "unpaid", "amount_total": 2400},
    )
    body = unpaid.json()
    assert body["checkout_session"]["payment_status"] == "unpaid"
    assert body["payment_intent"]["status"] == "processing"
    assert body["payment_intent"]["amount"] == 2400
    settled = _sim(
        sim,
        "POST",
        f"/checkout/sessions/{session.id}/async_result",
        {"outcome": "succeeded"},
    )
    assert settled.json()["checkout_session"]["payment_status"] == "paid"


def test_complete_errors(sim, client):
    missing = _sim(sim, "POST", "/checkout/sessions/cs_test_x/complete", {})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    session = client.checkout.sessions.create(params=session_params())
    bad = _sim(
        sim, "POST", f"/checkout/sessions/{session.id}/complete", {"outcome": "maybe"}
    )
    assert bad.status_code == 400
    not_json = _sim(
        sim, "POST", f"/checkout/sessions/{session.id}/complete", data="outcome=paid"
    )
    assert not_json.status_code == 400
    assert _sim(sim, "GET", "/nothing").status_code == 404


def test_expire_now_and_events(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    response = _sim(sim, "POST", f"/checkout/sessions/{session.id}/expire_now")
    assert response.json()["checkout_session"]["status"] == "expired"
    again = _sim(sim, "POST", f"/checkout/sessions/{session.id}/expire_now")
    assert again.status_code == 400
    events = _sim(sim, "GET", "/events", params={"type": "checkout.session.expired"})
    [event] = events.json()["data"]
    assert event["data"]["object"]["id"] == session.id
    assert event["id"].startswith("evt_")
    fetched = _sim(sim, "GET", f"/objects/{session.id}").json()
    assert fetched["status"] == "expired"
    via_api = client.events.retrieve(event["id"])
    assert via_api.type == "checkout.session.expired"


def test_faults_over_http(sim, client):
    response = _sim(
        sim,
        "POST",
        "/faults",
        {
            "faults": [
                {
                    "kind": "500",
                    "count": 1,
                    "path": "/v1/checkout/sessions",
                    "method": "GET",
                },
                {
                    "kind": "rate_limit",
                    "count": 2,
                    "retry_after": 3,
                    "should_retry": False,
                },
            ]
        },
    )
    assert response.status_code == 200
    created = response.json()["data"]
    assert [f["kind"] for f in created] == ["server_error", "rate_limit"]
    assert created[1]["retry_after"] == 3
    listed = _sim(sim, "GET", "/faults").json()["data"]
    assert len(listed) == 2
    first = requests.get(
        sim.url + "/v1/checkout/sessions",
        headers={"Authorization": f"Bearer {sim.api_key}"},
        timeout=5,
    )
    assert first.status_code == 500
    second = requests.get(sim.url + "/v1/checkout/sessions", timeout=5)
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "3"
    assert second.headers["Stripe-Should-Retry"] == "false"
    assert _sim(sim, "DELETE", "/faults").json() == {"cleared": 2}
    bad = _sim(sim, "POST", "/faults", {"kind": "explode"})
    assert bad.status_code == 400
    single = _sim(sim, "POST", "/faults", {"kind": "drop"})
    assert single.json()["data"][0]["kind"] == "drop_connection"


def test_request_log_over_http(sim, client):
    client.checkout.sessions.create(params=session_params())
    client.checkout.sessions.list()
    posted = _sim(
        sim,
        "GET",
        "/requests",
        params={"path": "/v1/checkout/sessions", "method": "POST"},
    )
    [record] = posted.json()["data"]
    assert record["method"] == "POST"
    assert record["status"] == 200
    assert record["params"]["metadata"]["payment_id"] == "pay-uuid-1"
    assert record["stripe_version"] == "2023-10-16"
    assert record["idempotency_key"]
    assert sim.api_key not in str(record)
    assert len(_sim(sim, "GET", "/requests").json()["data"]) == 2
    _sim(sim, "DELETE", "/requests")
    assert _sim(sim, "GET", "/requests").json()["data"] == []


def test_reset_and_clock(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    now = _sim(sim, "GET", "/clock").json()["now"]
    later = _sim(sim, "POST", "/clock", {"advance": 7200}).json()["now"]
    assert later >= now + 7200
    assert client.checkout.sessions.retrieve(session.id).status == "expired"
    assert _sim(sim, "POST", "/clock", {"advance": "x"}).status_code == 400
    assert _sim(sim, "POST", "/reset").json() == {"reset": True}
    assert client.checkout.sessions.list().data == []
    assert len(sim.request_log) == 1  # only the list after the reset
