"""Faults: Stripe misbehaving, the Odoo server killed mid-webhook, and
PostgreSQL serialization failures between concurrent webhooks, on live
servers.

* The Stripe simulator injects latency, 500s, 429s with Retry-After, dropped
  connections and timeouts into the Checkout Session creation: ``pay``
  answers within the bound the gateway's settings allow (REQUEST_TIMEOUT per
  attempt, MAX_NETWORK_RETRIES retries) — a 201 when a retry got through, a
  clear 502 ``stripe_unavailable`` otherwise — and paying again recovers the
  same payment, Stripe making one session for it (one idempotency key).
* An event being processed holds its database transaction open (a row lock
  the test holds makes it wait mid-way, after the event row is inserted);
  the server is SIGKILLed then, restarted, and the event redelivered: it is
  stored once, makes one transition and one chatter message.
* Webhooks of one payment are made to conflict (a concurrent update of the
  payment row they wait for): Odoo's serialization-failure retries happen,
  and nothing is applied twice.

Long cases are marked ``slow`` (run with OMOCHI_SLOW_TESTS=1).
"""

import os
import re
import threading
import time
import uuid
from urllib.parse import urljoin

import pytest
import requests

from conftest import JsonRpc, db_connect
from testkit import db, odoo, stripe_events
from testkit.simulator import customer_pays, recorded_event, sim

ADMIN = ("admin", "admin")
SESSIONS = "/v1/checkout/sessions"
gateway = stripe_events.load_addon_tool("stripe_gateway")
deliver = stripe_events.deliver
# The longest the server may take to give up on Stripe: every attempt timing
# out, the SDK's back-off between them (at most 5 s each), and some slack.
ATTEMPTS = gateway.MAX_NETWORK_RETRIES + 1
BOUND = ATTEMPTS * gateway.REQUEST_TIMEOUT + gateway.MAX_NETWORK_RETRIES * 5 + 5


# ------------------------------------------------------------------ helpers
@pytest.fixture
def faults(simulator_url):
    """Arm simulator faults on the session creation; all cleared afterwards."""

    def arm(kind, count=1, path=SESSIONS, method="POST", **options):
        spec = {"kind": kind, "count": count, "path": path, "method": method}
        return sim(simulator_url, "POST", "/faults", json={**spec, **options})

    sim(simulator_url, "DELETE", "/faults")
    yield arm
    sim(simulator_url, "DELETE", "/faults")


@pytest.fixture
def admin(jsonrpc):
    return jsonrpc.login(*ADMIN)


def new_order(admin, partner=None, price_unit=8.5, quantity=2):
    """A new confirmed order: ``(id, uuid)``."""
    if partner is None:
        tag = uuid.uuid4().hex[:8]
        partner = admin(
            "res.partner",
            "create",
            [{"name": f"E2E Fault {tag}", "email": f"e2e.fault.{tag}@example.com"}],
        )
    line = {"name": "Daifuku", "quantity": quantity, "price_unit": price_unit}
    order = admin(
        "omochi.order", "create", [{"partner_id": partner, "line_ids": [(0, 0, line)]}]
    )
    admin("omochi.order", "action_confirm", [[order]])
    [values] = admin("omochi.order", "read", [[order], ["uuid"]])
    return order, values["uuid"]


def pay(odoo_url, api_key, order_uuid):
    """POST /pay; return ``(response, seconds taken)``."""
    started = time.monotonic()
    response = requests.post(
        f"{odoo_url}/api/orders/{order_uuid}/pay/",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=BOUND + 30,
    )
    return response, time.monotonic() - started


def session_requests(simulator_url, order_uuid):
    """The session creations Stripe received for an order (any outcome)."""
    records = sim(
        simulator_url, "GET", "/requests", params={"path": SESSIONS, "method": "POST"}
    )["data"]
    return [
        r
        for r in records
        if r["path"] == SESSIONS
        and (r["params"].get("metadata") or {}).get("order_id") == order_uuid
    ]


def transactions(admin, order):
    return admin(
        "omochi.payment.transaction",
        "search_read",
        [[("order_id", "=", order)]],
        {
            "fields": [
                "uuid",
                "status",
                "error_message",
                "stripe_checkout_session_id",
                "checkout_url",
            ]
        },
    )


def assert_recovers(odoo_url, simulator_url, admin, api_key, order, order_uuid):
    """After a 502: the payment kept the error, paying again gives its session
    (201), Stripe made exactly one session for it, every attempt under one
    idempotency key."""
    [failed] = transactions(admin, order)
    assert failed["status"] == "pending"
    assert failed["error_message"]
    assert not failed["stripe_checkout_session_id"]
    response, seconds = pay(odoo_url, api_key, order_uuid)
    assert response.status_code == 201, response.text
    assert seconds < BOUND
    payment = response.json()
    assert payment["payment_id"] == failed["uuid"]
    [recovered] = transactions(admin, order)
    assert recovered["stripe_checkout_session_id"] == payment["checkout_session_id"]
    assert not recovered["error_message"]
    assert_one_session(simulator_url, order_uuid, payment)
    again, _seconds = pay(odoo_url, api_key, order_uuid)
    assert (again.status_code, again.json()) == (200, payment)
    return payment


def assert_one_session(simulator_url, order_uuid, payment):
    """Every attempt for the order carried the same idempotency key, and
    Stripe created one session (the others failed or were replays)."""
    attempts = session_requests(simulator_url, order_uuid)
    keys = {a["idempotency_key"] for a in attempts}
    assert len(keys) == 1 and None not in keys, keys
    created = [a for a in attempts if a["status"] == 200 and not a["replayed"]]
    assert len(created) == 1, attempts
    session = sim(simulator_url, "GET", f"/objects/{payment['checkout_session_id']}")
    assert session["client_reference_id"] == payment["payment_id"]
    return attempts


# --------------------------------------------------- Stripe failing on pay
GIVING_UP = {
    # fault: (options, message fragment of the 502, attempts made)
    "server_error": ({"count": 3}, "unavailable", ATTEMPTS),
    "rate_limit": (
        {"count": 3, "retry_after": 1, "should_retry": True},
        "rate limiting",
        ATTEMPTS,
    ),
    "rate_limit_no_retry": (
        {"kind": "rate_limit", "count": 1, "retry_after": 30},
        "rate limiting",
        1,
    ),
    "drop_connection": ({"count": 3}, "could not be reached", ATTEMPTS),
    "server_error_no_retry": (
        {"kind": "server_error", "count": 1, "should_retry": False},
        "unavailable",
        1,
    ),
}


@pytest.mark.parametrize("fault", sorted(GIVING_UP))
def test_pay_answers_502_then_recovers(
    fault, odoo_url, simulator_url, admin, admin_api_key, faults
):
    options, message, attempts = GIVING_UP[fault]
    options = dict(options)
    kind = options.pop("kind", fault)
    order, order_uuid = new_order(admin)
    faults(kind, **options)
    response, seconds = pay(odoo_url, admin_api_key, order_uuid)
    assert response.status_code == 502, response.text
    assert seconds < BOUND
    error = response.json()["error"]
    assert error["code"] == "stripe_unavailable"
    assert message in error["message"]
    assert os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"] not in response.text
    made = session_requests(simulator_url, order_uuid)
    assert len(made) == attempts, made
    if attempts == 1:  # Stripe said not to retry: no waiting on Retry-After
        assert seconds < 5
    assert_recovers(odoo_url, simulator_url, admin, admin_api_key, order, order_uuid)


RECOVERING = {
    # fault: (options, least seconds the answer takes)
    "server_error": ({"count": 2}, 0),
    "drop_connection": ({"count": 2}, 0),
    "rate_limit": ({"count": 2, "retry_after": 1, "should_retry": True}, 0),
    "latency": ({"count": 1, "seconds": 3}, 3),
    "timeout": ({"count": 1, "seconds": gateway.REQUEST_TIMEOUT + 0.3}, 10),
}


@pytest.mark.parametrize("fault", sorted(RECOVERING))
def test_pay_rides_out_a_transient_fault(
    fault, odoo_url, simulator_url, admin, admin_api_key, faults
):
    """The SDK's retries (same idempotency key) get through within the call:
    201, one session at Stripe, and the answer within the bound."""
    options, least = RECOVERING[fault]
    order, order_uuid = new_order(admin)
    faults(fault, **options)
    response, seconds = pay(odoo_url, admin_api_key, order_uuid)
    assert response.status_code == 201, response.text
    assert least <= seconds < BOUND
    payment = response.json()
    attempts = assert_one_session(simulator_url, order_uuid, payment)
    if fault != "latency":
        assert len(attempts) >= 2
    [transaction] = transactions(admin, order)
    assert transaction["stripe_checkout_session_id"] == payment["checkout_session_id"]
    assert not transaction["error_message"]


@pytest.mark.slow
def test_pay_times_out_within_the_bound_then_recovers(
    odoo_url, simulator_url, admin, admin_api_key, faults
):
    """Stripe stalls every attempt past the SDK's timeout (and still does the
    work afterwards): 502 within the bound; paying again replays the session
    Stripe made meanwhile under the same idempotency key."""
    order, order_uuid = new_order(admin)
    faults("timeout", count=ATTEMPTS, seconds=gateway.REQUEST_TIMEOUT + 1)
    response, seconds = pay(odoo_url, admin_api_key, order_uuid)
    assert response.status_code == 502, response.text
    assert ATTEMPTS * gateway.REQUEST_TIMEOUT <= seconds < BOUND
    assert response.json()["error"]["code"] == "stripe_unavailable"
    time.sleep(2)  # the stalled first attempt completes at Stripe
    payment = assert_recovers(
        odoo_url, simulator_url, admin, admin_api_key, order, order_uuid
    )
    replays = [a for a in session_requests(simulator_url, order_uuid) if a["replayed"]]
    assert replays, "the recovery replayed the session of the stalled attempt"
    assert payment["checkout_session_id"]


def test_check_status_survives_stripe_failing(
    odoo_url, simulator_url, admin, admin_api_key, faults
):
    """A status refresh that cannot reach Stripe answers the stored status."""
    _order, order_uuid = new_order(admin)
    response, _seconds = pay(odoo_url, admin_api_key, order_uuid)
    assert response.status_code == 201, response.text
    session_id = response.json()["checkout_session_id"]
    for kind, options in (
        ("server_error", {"count": None}),
        ("drop_connection", {"count": None}),
        ("rate_limit", {"count": None, "should_retry": True}),
    ):
        sim(simulator_url, "DELETE", "/faults")
        faults(kind, path=f"{SESSIONS}/{session_id}", method="GET", **options)
        started = time.monotonic()
        status = requests.get(
            f"{odoo_url}/api/payments/check_status/",
            params={"session_id": session_id},
            headers={"Authorization": f"Bearer {admin_api_key}"},
            timeout=BOUND + 30,
        )
        assert time.monotonic() - started < BOUND
        assert status.status_code == 200, (kind, status.text)
        assert status.json()["status"] == "PENDING"


def test_portal_pay_comes_back_with_a_message_then_recovers(
    odoo_url, odoo_database, simulator_url, admin, faults
):
    """**Pay now** while Stripe fails: back to the order page with the fixed
    ``stripe_unavailable`` message (no raw error), then paying works."""
    [user] = admin(
        "res.users",
        "search_read",
        [[("login", "=", "omochi.portal@example.com")]],
        {"fields": ["partner_id"]},
    )
    order, _order_uuid = new_order(admin, partner=user["partner_id"][0])
    browser = requests.Session()
    login = browser.post(
        f"{odoo_url}/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "params": {
                "db": odoo_database[1],
                "login": "omochi.portal@example.com",
                "password": "portal",
            },
        },
        timeout=30,
    )
    assert login.json()["result"]["uid"], login.text
    page = browser.get(f"{odoo_url}/my/omochi_orders/{order}", timeout=30)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text).group(1)

    faults("server_error", count=ATTEMPTS)
    started = time.monotonic()
    failed = browser.post(
        f"{odoo_url}/my/omochi_orders/{order}/pay",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=BOUND + 30,
    )
    assert time.monotonic() - started < BOUND
    assert failed.status_code in (302, 303), failed.text
    assert "error=stripe_unavailable" in failed.headers["Location"]
    back = browser.get(urljoin(odoo_url, failed.headers["Location"]), timeout=30)
    assert "The payment service could not be reached" in back.text
    paid = browser.post(
        f"{odoo_url}/my/omochi_orders/{order}/pay",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=BOUND + 30,
    )
    assert paid.status_code == 303, paid.text
    [transaction] = transactions(admin, order)
    assert paid.headers["Location"] == transaction["checkout_url"]


# ----------------------------------------------------------- webhook events
def completed_event(simulator_url, session_id):
    """The customer pays; return Stripe's ``checkout.session.completed`` and
    ``payment_intent.succeeded`` events of that session."""
    paid = customer_pays(simulator_url, session_id)
    return {
        event_type: recorded_event(simulator_url, event_type, object_id)
        for event_type, object_id in (
            ("checkout.session.completed", session_id),
            ("payment_intent.succeeded", paid["payment_intent"]["id"]),
        )
    }


def assert_applied_once(admin, order, payment_id, event_ids):
    [transaction] = admin(
        "omochi.payment.transaction",
        "search_read",
        [[("uuid", "=", payment_id)]],
        {"fields": ["status"]},
    )
    assert transaction["status"] == "completed"
    [values] = admin("omochi.order", "read", [[order], ["state", "payment_state"]])
    assert (values["state"], values["payment_state"]) == ("paid", "paid")
    stored = admin(
        "omochi.payment.event",
        "search_read",
        [[("stripe_event_id", "in", event_ids)]],
        {"fields": ["stripe_event_id", "state", "attempts"]},
    )
    assert sorted(e["stripe_event_id"] for e in stored) == sorted(event_ids)
    assert {(e["state"], e["attempts"]) for e in stored} == {("done", 1)}, stored

    def count(model, record_id, text):
        domain = [("model", "=", model), ("res_id", "=", record_id)]
        return admin(
            "mail.message", "search_count", [[*domain, ("body", "ilike", text)]]
        )

    model = "omochi.payment.transaction"
    assert count(model, transaction["id"], "Payment of") == 1
    assert count("omochi.order", order, "Order paid") == 1


def wait_for(predicate, timeout=30, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


BLOCKED_SQL = """
    SELECT a.pid FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
       AND a.wait_event_type = 'Lock'
"""
HOLDS_SQL = """
    SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     WHERE l.pid = %s AND l.granted AND l.mode = 'RowExclusiveLock'
"""


def test_acks_never_wait_and_contended_events_apply_once(
    odoo_url, odoo_database, odoo_log, simulator_url, webhook_secret, admin,
    admin_api_key, wait_events_applied,
):  # fmt: skip
    """Deliveries of both completion events of a payment (and copies) while
    a concurrent writer holds the payment row: every delivery is answered at
    once (the acknowledgement never touches the payment, never retries); the
    cron workers wait on the row, the writer commits, their batch is claimed
    again, and the payment is completed once, each event stored once."""
    order, order_uuid = new_order(admin)
    response, _seconds = pay(odoo_url, admin_api_key, order_uuid)
    assert response.status_code == 201, response.text
    payment = response.json()
    events = completed_event(simulator_url, payment["checkout_session_id"])
    [transaction] = transactions(admin, order)
    log_start = odoo_log.stat().st_size

    blocker = db_connect(*odoo_database)
    answers = []
    try:
        with blocker.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM omochi_payment_transaction WHERE uuid = %s FOR UPDATE",
                [transaction["uuid"]],
            )
            threads = [
                threading.Thread(
                    target=lambda e=event: answers.append(
                        deliver(odoo_url, e, webhook_secret)
                    )
                )
                for event in events.values()
                for _copy in range(3)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            # Every delivery answered while the payment is still locked.
            assert len(answers) == len(threads)
            assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
            probe = db_connect(*odoo_database)
            probe.autocommit = True
            try:
                with probe.cursor() as look:

                    def blocked():
                        look.execute(BLOCKED_SQL)
                        return look.fetchall()

                    wait_for(blocked, message="a cron worker to wait on the lock")
            finally:
                probe.close()
            # A concurrent writer: the waiting worker's snapshot is now stale.
            cursor.execute(
                "UPDATE omochi_payment_transaction SET write_date = write_date "
                "WHERE uuid = %s",
                [transaction["uuid"]],
            )
        blocker.commit()
    finally:
        blocker.close()
    fresh = [a for a in answers if not a.json()["duplicate"]]
    assert len(fresh) == 2, [a.json() for a in answers]
    states = wait_events_applied([e["id"] for e in events.values()])
    assert set(states.values()) == {"done"}, states
    with odoo_log.open("rb") as log:
        log.seek(log_start)
        text = log.read().decode(errors="replace")
    assert "SERIALIZATION_FAILURE" not in text, "an acknowledgement was retried"
    assert_applied_once(
        admin, order, payment["payment_id"], [e["id"] for e in events.values()]
    )


# ------------------------------------------------------ SIGKILL mid-webhook
@pytest.fixture(scope="module")
def killable_server(odoo_database, tmp_path_factory, webhook_secret):
    """A dedicated server on a copy of the live server's database (dumped and
    restored: the live server keeps it open, so it cannot be a template)."""
    config, database = odoo_database
    copy = db.copy_database(database, f"{database}_kill", config)
    server = odoo.OdooServer(
        config,
        copy,
        tmp_path_factory.mktemp("killable") / "odoo.log",
        cron_threads=1,
        env=odoo.stripe_environment(
            os.environ["OMOCHI_TEST_STRIPE_API_BASE"],
            os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"],
            (webhook_secret,),
        ),
    )
    try:
        yield server
    finally:
        server.stop()
        db.drop_database(copy, config)


@pytest.mark.parametrize(
    "lock_table",
    [
        pytest.param("omochi_payment_transaction", id="tx"),
        pytest.param("omochi_order", id="order", marks=pytest.mark.slow),
    ],
)
def test_server_killed_while_applying_then_the_event_applies_once(
    lock_table, killable_server, odoo_database, simulator_url, webhook_secret
):
    """The completion event is acknowledged; the server's cron worker is
    applying it — the event claimed, its database transaction open, waiting
    on a row (of the payment, or of the order once the payment is updated) —
    when the server is SIGKILLed. Nothing of the work survives, the event is
    still pending; after a restart a cron worker applies it once (one
    transition, one chatter message each) and a redelivery is a duplicate."""
    server = killable_server
    server.start()
    rpc = JsonRpc(server.url, server.database)
    admin = rpc.login(*ADMIN)
    order, _order_uuid = new_order(admin)
    payment = admin("omochi.order", "omochi_pay", [[order]])
    event = completed_event(simulator_url, payment["checkout_session_id"])[
        "checkout.session.completed"
    ]
    [transaction] = transactions(admin, order)
    row = transaction["id"] if lock_table != "omochi_order" else order

    blocker = db_connect(server.config, server.database)
    probe = db_connect(server.config, server.database)
    probe.autocommit = True

    def event_state(look):
        look.execute(
            "SELECT state FROM omochi_payment_event WHERE stripe_event_id = %s",
            [event["id"]],
        )
        return look.fetchone()[0]

    try:
        with blocker.cursor() as cursor, probe.cursor() as look:
            cursor.execute(
                f"SELECT id FROM {lock_table} WHERE id = %s FOR UPDATE", [row]
            )
            answer = deliver(server.url, event, webhook_secret)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"received": True, "duplicate": False}

            def blocked_pid():
                look.execute(BLOCKED_SQL)
                rows = look.fetchall()
                return rows[0][0] if rows else None

            pid = wait_for(blocked_pid, message="the cron worker to wait on the lock")
            if lock_table == "omochi_order":
                look.execute(HOLDS_SQL, [pid])
                holds = {name for (name,) in look.fetchall()}
                # Mid-flight: the payment is updated, not committed.
                assert "omochi_payment_transaction" in holds, holds
            server.kill()
        blocker.rollback()  # the orphaned backend proceeds, then dies
        with probe.cursor() as look:
            wait_for(
                lambda: (
                    look.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
                    )
                    or look.fetchone()[0] == 0
                ),
                message="the killed server's backend to end",
            )
            assert event_state(look) == "pending", "the killed work committed"
            look.execute(
                "SELECT status FROM omochi_payment_transaction WHERE id = %s",
                [transaction["id"]],
            )
            assert look.fetchone()[0] == "pending"
            server.start()
            wait_for(
                lambda: event_state(look) != "pending",
                timeout=120,
                message="a cron worker of the restarted server to apply the event",
            )
    finally:
        blocker.close()
        probe.close()

    admin = rpc.login(*ADMIN)
    again = deliver(server.url, event, webhook_secret)
    assert again.json() == {"received": True, "duplicate": True}
    assert_applied_once(admin, order, payment["payment_id"], [event["id"]])
    server.stop()
