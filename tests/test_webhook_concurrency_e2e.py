"""Concurrent Stripe webhook deliveries on a live Odoo server (DESIGN §8).

Stripe delivers an event more than once and different events of one payment
at the same time. Here a payment is paid at the Stripe simulator, then its
signed events are fired at ``/api/payments/webhook/`` from many threads at
once: every answer is a 200, each event is stored once, and the payment makes
exactly one transition (one chatter message on the payment and on the order).
The data is prepared and read as admin through JSON-RPC.
"""

import json
import threading
import uuid

import pytest
import requests

from testkit.simulator import customer_pays, recorded_event
from testkit.stripe_events import signature_header

ADMIN = ("admin", "admin")
WEBHOOK = "/api/payments/webhook/"


@pytest.fixture
def admin(jsonrpc):
    return jsonrpc.login(*ADMIN)


@pytest.fixture
def open_payment(odoo_url, simulator_url, admin, admin_api_key):
    """Create a confirmed order as admin and pay it through the API: return
    ``(order id, payment_id, checkout_session_id)``."""

    def open_payment():
        tag = uuid.uuid4().hex[:8]
        partner = admin(
            "res.partner",
            "create",
            [{"name": f"E2E Webhook {tag}", "email": f"e2e.webhook.{tag}@example.com"}],
        )
        line = {"name": "Daifuku", "quantity": 3, "price_unit": 4.5}
        order = admin(
            "omochi.order",
            "create",
            [{"partner_id": partner, "line_ids": [(0, 0, line)]}],
        )
        admin("omochi.order", "action_confirm", [[order]])
        [values] = admin("omochi.order", "read", [[order], ["uuid", "state"]])
        assert values["state"] == "confirmed"
        response = requests.post(
            f"{odoo_url}/api/orders/{values['uuid']}/pay/",
            headers={
                "Authorization": f"Bearer {admin_api_key}",
                "Content-Type": "application/json",
            },
            timeout=60,
        )
        assert response.status_code == 201, response.text
        payment = response.json()
        return order, payment["payment_id"], payment["checkout_session_id"]

    return open_payment


def fire_at_once(odoo_url, secret, deliveries):
    """POST every ``(event, copies)`` delivery ``copies`` times, each from its
    own thread, all released at the same moment; return the answers as
    ``(event id, status, json or text)``."""
    jobs = []
    for event, copies in deliveries:
        body = json.dumps(event).encode()
        jobs.extend([(event["id"], body)] * copies)
    barrier = threading.Barrier(len(jobs))
    answers = [None] * len(jobs)

    def deliver(index, event_id, body):
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(body, secret),
        }
        barrier.wait(timeout=30)
        try:
            response = requests.post(
                f"{odoo_url}{WEBHOOK}", data=body, headers=headers, timeout=120
            )
        except requests.RequestException as error:
            answers[index] = (event_id, None, repr(error))
            return
        try:
            content = response.json()
        except ValueError:
            content = response.text
        answers[index] = (event_id, response.status_code, content)

    threads = [
        threading.Thread(target=deliver, args=(index, *job))
        for index, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a delivery hung"
    return answers


def assert_all_accepted(answers, event_ids):
    """Every delivery answered 200; exactly one per event stored it first."""
    for event_id, status, content in answers:
        assert status == 200, (event_id, status, content)
        assert content["received"] is True
    for event_id in event_ids:
        first = [
            content
            for answered_id, _status, content in answers
            if answered_id == event_id and not content["duplicate"]
        ]
        assert len(first) == 1, (event_id, answers)


def stored_events(admin, event_ids):
    return admin(
        "omochi.payment.event",
        "search_read",
        [[("stripe_event_id", "in", event_ids)]],
        {"fields": ["stripe_event_id", "state", "attempts", "error", "transaction_id"]},
    )


def payment_record(admin, payment_id):
    [transaction] = admin(
        "omochi.payment.transaction",
        "search_read",
        [[("uuid", "=", payment_id)]],
        {"fields": ["status", "order_id", "completed_at", "error_message"]},
    )
    return transaction


def messages(admin, model, res_id, text):
    return admin(
        "mail.message",
        "search_read",
        [[("model", "=", model), ("res_id", "=", res_id), ("body", "ilike", text)]],
        {"fields": ["body"]},
    )


def assert_completed_once(admin, payment_id, order):
    transaction = payment_record(admin, payment_id)
    assert transaction["status"] == "completed", transaction
    assert transaction["completed_at"]
    assert not transaction["error_message"]
    assert transaction["order_id"][0] == order
    [values] = admin("omochi.order", "read", [[order], ["state", "payment_state"]])
    assert (values["state"], values["payment_state"]) == ("paid", "paid")
    tx_messages = messages(
        admin, "omochi.payment.transaction", transaction["id"], "Payment of"
    )
    assert len(tx_messages) == 1, tx_messages
    assert "completed" in tx_messages[0]["body"]
    order_messages = messages(admin, "omochi.order", order, "Order paid")
    assert len(order_messages) == 1, order_messages
    return transaction


def test_same_event_and_competing_event_delivered_at_once(
    odoo_url, simulator_url, webhook_secret, admin, open_payment, wait_events_applied
):
    order, payment_id, session_id = open_payment()
    paid = customer_pays(simulator_url, session_id)
    completed = recorded_event(simulator_url, "checkout.session.completed", session_id)
    succeeded = recorded_event(
        simulator_url, "payment_intent.succeeded", paid["payment_intent"]["id"]
    )
    assert completed["data"]["object"]["payment_status"] == "paid"

    answers = fire_at_once(odoo_url, webhook_secret, [(completed, 8), (succeeded, 4)])
    event_ids = [completed["id"], succeeded["id"]]
    assert_all_accepted(answers, event_ids)
    wait_events_applied(event_ids)

    transaction = assert_completed_once(admin, payment_id, order)
    stored = stored_events(admin, event_ids)
    assert sorted(event["stripe_event_id"] for event in stored) == sorted(event_ids)
    for event in stored:
        assert event["state"] == "done", event
        assert event["attempts"] == 1, event
        assert event["transaction_id"][0] == transaction["id"]

    # Stripe's later retries of the same events change nothing.
    answers = fire_at_once(odoo_url, webhook_secret, [(completed, 2), (succeeded, 2)])
    assert all(status == 200 for _id, status, _content in answers), answers
    assert all(content["duplicate"] for _id, _status, content in answers), answers
    assert len(stored_events(admin, event_ids)) == 2
    assert_completed_once(admin, payment_id, order)


@pytest.mark.parametrize("round_", range(3))
def test_failed_attempt_and_completion_delivered_at_once(
    round_, odoo_url, simulator_url, webhook_secret, admin, open_payment,
    wait_events_applied,
):  # fmt: skip
    """A declined card, then a successful one on the same session: whichever
    event is processed first, the payment ends COMPLETED (§4)."""
    order, payment_id, session_id = open_payment()
    declined = customer_pays(simulator_url, session_id, "failed")
    customer_pays(simulator_url, session_id, "paid")
    failed = recorded_event(
        simulator_url,
        "payment_intent.payment_failed",
        declined["payment_intent"]["id"],
    )
    completed = recorded_event(simulator_url, "checkout.session.completed", session_id)

    answers = fire_at_once(odoo_url, webhook_secret, [(failed, 3), (completed, 3)])
    event_ids = [failed["id"], completed["id"]]
    assert_all_accepted(answers, event_ids)
    wait_events_applied(event_ids)
    assert_completed_once(admin, payment_id, order)
    stored = stored_events(admin, event_ids)
    assert len(stored) == 2
    assert {event["state"] for event in stored} == {"done"}
