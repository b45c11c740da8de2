"""Two Odoo servers on one database behind Debian's nginx (DESIGN §8, §11).

Each server is a process of its own, prefork (``--workers=2``) with cron
workers; nginx balances them round-robin on loopback, with its own config
file and temporary folders. The test delivers signed Stripe events to nginx
as Stripe does (it signs them itself: hundreds of them, in any order,
several times each):

* a storm of distinct events, each also redelivered 3 times, spread over
  both servers: every payment applied exactly once, one completion message
  each, no 5xx;
* one server hanging, then SIGKILLed (every process of it), in the middle of
  such a storm;
  the deliveries it left unanswered (502, timeouts) are redelivered as Stripe
  would: nothing lost, nothing applied twice;
* 8 concurrent pay requests for one order through nginx: one Checkout
  Session at Stripe.

"Applied" is read from the database: the test waits until every event is
``done`` or ``ignored``, whether the request applied it or a cron worker did.
The counts are printed (``pytest -s``) and kept in the cluster's folder.
"""

import json
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest
import requests

from testkit import db, stripe_events
from testkit.nginx import Nginx
from testkit.odoo import OdooServer, seed, stripe_environment
from testkit.simulator import open_checkout_session, sim

STORM_EVENTS = 500
KILL_EVENTS = 200
REDELIVERIES = 3
CONCURRENCY = 12
PAY_REQUESTS = 8
REDELIVERY_ROUNDS = 8
APPLY_TIMEOUT = 300
FROZEN_SECONDS = 1.5
DELIVERY_TIMEOUT = 90
SERVER_WORKERS = 2
SERVER_CRON_THREADS = 2
PAYMENT_MESSAGE = "completed at Stripe"
ORDER_MESSAGE = "Order paid"


class Cluster:
    """The servers, nginx in front, the database and its seed."""

    def __init__(self, config, database, servers, nginx, seeded, root):
        self.config, self.database = config, database
        self.servers, self.nginx = servers, nginx
        self.seeded, self.root = seeded, root
        self.counts = {}

    def sql(self, query, params=None):
        return db.query(self.database, query, params, self.config)

    def server_of(self, upstream):
        """The index of the server listening at ``upstream`` (host:port)."""
        ports = [str(server.port) for server in self.servers]
        return ports.index(upstream.rsplit(":", 1)[-1])

    def ensure_running(self):
        for server in self.servers:
            if not server.running():
                server.start()

    def report(self, name, counts):
        self.counts[name] = counts
        print(f"\nmulti-server {name}: {json.dumps(counts, indent=1)}")
        (self.root / "counts.json").write_text(json.dumps(self.counts, indent=1))


@pytest.fixture(scope="module")
def cluster(odoo_database, tmp_path_factory, webhook_secret):
    """Two prefork servers with cron workers on a copy of the e2e database,
    behind nginx; the copy is seeded with orders awaiting payment."""
    config, source = odoo_database
    database = f"{source}_multi"
    root = tmp_path_factory.mktemp("multi_server")
    db.copy_database(source, database, config)
    servers, nginx = [], None
    try:
        seeded = seed(
            config,
            database,
            root / "seed.log",
            "tests.seeds.multi_server",
            payments=STORM_EVENTS + KILL_EVENTS,
            tag=uuid.uuid4().hex[:8],
        )
        open_sessions_at_stripe(config, database, seeded["payments"])
        env = stripe_environment(
            os.environ["OMOCHI_TEST_STRIPE_API_BASE"],
            os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"],
            (webhook_secret,),
        )
        servers.extend(
            OdooServer(
                config,
                database,
                root / f"odoo_{name}.log",
                workers=SERVER_WORKERS,
                cron_threads=SERVER_CRON_THREADS,
                env=env,
            )
            for name in ("a", "b")
        )
        for server in servers:
            server.start()
        upstreams = [f"127.0.0.1:{server.port}" for server in servers]
        nginx = Nginx(upstreams, root / "nginx", read_timeout=DELIVERY_TIMEOUT).start()
        yield Cluster(config, database, servers, nginx, seeded, root)
    finally:
        if nginx:
            nginx.stop()
        for server in servers:
            server.stop()
        db.drop_database(database, config)


# ------------------------------------------------------------------ helpers
def open_sessions_at_stripe(config, database, payments):
    """Give each seeded payment a real open Checkout Session at the simulator
    (the seed's ids are made up): what a server refreshing an open payment
    from Stripe finds there."""
    api = os.environ["OMOCHI_TEST_STRIPE_API_BASE"]
    for payment in payments:
        session = open_checkout_session(api, payment)
        payment["session_id"] = session["id"]
        payment["checkout_url"] = session["url"]
    with (
        closing(db.connect(database, config)) as connection,
        connection,  # commits
        connection.cursor() as cursor,
    ):
        cursor.executemany(
            "UPDATE omochi_payment_transaction SET "
            "stripe_checkout_session_id = %(session_id)s, "
            "checkout_url = %(checkout_url)s WHERE id = %(transaction_id)s",
            payments,
        )


def completion_events(payments):
    """One ``checkout.session.completed`` per payment, as Stripe sends it."""
    return [
        stripe_events.checkout_completed(
            stripe_events.paid_checkout_session(
                payment["session_id"],
                payment["payment_id"],
                payment["order_uuid"],
                payment["amount_minor"],
                payment["currency"],
                order_name=payment["order_name"],
            )
        )
        for payment in payments
    ]


def deliver(url, event, secret, delivery_id):
    """One delivery of ``event`` to ``url``: ``(status or None, json or
    error)``. ``X-Request-Id`` lets nginx's log say which server took it."""
    body, headers = stripe_events.encode(event, secret)
    headers["X-Request-Id"] = delivery_id
    try:
        response = requests.post(
            f"{url}{stripe_events.WEBHOOK_PATH}",
            data=body,
            headers=headers,
            timeout=DELIVERY_TIMEOUT,
        )
    except requests.RequestException as error:
        return None, repr(error)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def storm(url, deliveries, secret, on_answer=None):
    """Send every ``(delivery id, event)`` from CONCURRENCY threads; return
    ``{delivery id: (status, answer)}``. ``on_answer(count)`` is called
    after each answer."""
    answers, lock = {}, threading.Lock()

    def send(delivery):
        delivery_id, event = delivery
        outcome = deliver(url, event, secret, delivery_id)
        with lock:
            answers[delivery_id] = outcome
            count = len(answers)
        if on_answer:
            on_answer(count)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, deliveries))
    return answers


def shuffled_deliveries(events, copies, seed_value):
    """``copies`` deliveries of each event, in a random (seeded) order."""
    deliveries = [
        (f"{event['id']}/{copy}", event) for event in events for copy in range(copies)
    ]
    random.Random(seed_value).shuffle(deliveries)
    return deliveries


def acknowledged(outcome):
    status, answer = outcome
    return status == 200 and isinstance(answer, dict) and answer.get("received")


def wait_until_applied(cluster, event_ids):
    """Wait until every event is ``done`` or ``ignored`` (applied by the
    request or by a cron worker); return the seconds waited."""
    started = time.monotonic()
    deadline = started + APPLY_TIMEOUT
    while True:
        states = dict(
            cluster.sql(
                "SELECT state, count(*) FROM omochi_payment_event "
                "WHERE stripe_event_id = ANY(%s) GROUP BY state",
                [list(event_ids)],
            )
        )
        finished = states.get("done", 0) + states.get("ignored", 0)
        if finished == len(event_ids):
            return time.monotonic() - started
        assert time.monotonic() < deadline, f"not applied in time: {states}"
        time.sleep(0.5)


def assert_applied_exactly_once(cluster, payments, event_ids):
    """Every event stored once and done; every payment completed with one
    completion message, its order paid with one message."""
    rows = cluster.sql(
        "SELECT stripe_event_id, state FROM omochi_payment_event "
        "WHERE stripe_event_id = ANY(%s)",
        [list(event_ids)],
    )
    assert len(rows) == len(event_ids), "an event is missing or stored twice"
    assert Counter(state for _id, state in rows) == {"done": len(event_ids)}
    transactions = [p["transaction_id"] for p in payments]
    orders = [p["order_id"] for p in payments]
    statuses = cluster.sql(
        "SELECT status, count(*) FROM omochi_payment_transaction "
        "WHERE id = ANY(%s) GROUP BY status",
        [transactions],
    )
    assert dict(statuses) == {"completed": len(payments)}
    paid = cluster.sql(
        "SELECT state, payment_state, count(*) FROM omochi_order "
        "WHERE id = ANY(%s) GROUP BY state, payment_state",
        [orders],
    )
    assert paid == [("paid", "paid", len(payments))]
    for model, ids, text in (
        ("omochi.payment.transaction", transactions, PAYMENT_MESSAGE),
        ("omochi.order", orders, ORDER_MESSAGE),
    ):
        messages = dict(
            cluster.sql(
                "SELECT res_id, count(*) FROM mail_message WHERE model = %s "
                "AND res_id = ANY(%s) AND body ILIKE %s GROUP BY res_id",
                [model, ids, f"%{text}%"],
            )
        )
        assert messages == dict.fromkeys(ids, 1), f"{model}: {text!r} not once each"


CRON_PROGRESS = re.compile(
    r"ir_cron: Job '[^']*webhook[^']*' \(\d+\) processed (\d+) records"
)


def applied_by_cron(cluster, marks):
    """Events each server's cron workers report applied since ``marks``
    (Odoo's cron progress lines; none while the request applies them)."""
    return {
        f"server_{index}": sum(
            int(count) for count in CRON_PROGRESS.findall(server.log_text(mark))
        )
        for index, (server, mark) in enumerate(zip(cluster.servers, marks, strict=True))
    }


def webhook_log(cluster, start):
    """nginx's log lines of webhook deliveries since line ``start``."""
    return [
        entry
        for entry in cluster.nginx.log_entries()[start:]
        if entry["path"] == stripe_events.WEBHOOK_PATH
    ]


# -------------------------------------------------------------------- tests
def test_storm_of_redelivered_events_applies_each_payment_once(cluster, webhook_secret):
    """STORM_EVENTS distinct events, each delivered 1 + REDELIVERIES times in
    a random order over both servers: all acknowledged (no 5xx), each stored
    once (one ``duplicate: false``), each payment applied once."""
    cluster.ensure_running()
    payments = cluster.seeded["payments"][:STORM_EVENTS]
    events = completion_events(payments)
    event_ids = [event["id"] for event in events]
    deliveries = shuffled_deliveries(events, 1 + REDELIVERIES, seed_value=11)
    log_start = len(cluster.nginx.log_entries())
    marks = [server.mark() for server in cluster.servers]
    started = time.monotonic()
    answers = storm(cluster.nginx.url, deliveries, webhook_secret)
    sent_in = time.monotonic() - started
    applied_in = wait_until_applied(cluster, event_ids)

    statuses = Counter(status for status, _answer in answers.values())
    assert statuses == {200: len(deliveries)}, statuses
    fresh = Counter(
        delivery_id.split("/")[0]
        for delivery_id, (_status, answer) in answers.items()
        if answer["duplicate"] is False
    )
    assert fresh == dict.fromkeys(event_ids, 1), "an event was stored twice"
    assert_applied_exactly_once(cluster, payments, event_ids)
    log = webhook_log(cluster, log_start)
    per_server = Counter(cluster.server_of(e["upstreams"][-1]) for e in log)
    assert len(log) == len(deliveries)
    assert all(per_server[index] > 0 for index in range(len(cluster.servers)))
    cluster.report(
        "storm",
        {
            "events": len(events),
            "deliveries": len(deliveries),
            "redeliveries": len(deliveries) - len(events),
            "statuses": dict(statuses),
            "stored_fresh": sum(fresh.values()),
            "applied": len(payments),
            "deliveries_per_server": {
                f"server_{index}": per_server[index] for index in sorted(per_server)
            },
            "applied_by_cron_workers": applied_by_cron(cluster, marks),
            "seconds_sending": round(sent_in, 1),
            "seconds_until_applied_after": round(applied_in, 1),
        },
    )


def test_concurrent_pay_requests_make_one_checkout_session(cluster, simulator_url):
    """PAY_REQUESTS concurrent pay requests for one order through nginx (so
    on both servers): one payment, one Checkout Session created at Stripe."""
    cluster.ensure_running()
    order_uuid = cluster.seeded["order_to_pay"]
    barrier = threading.Barrier(PAY_REQUESTS)
    log_start = len(cluster.nginx.log_entries())

    def pay(_index):
        barrier.wait(timeout=30)
        return requests.post(
            f"{cluster.nginx.url}/api/orders/{order_uuid}/pay/",
            headers={"Authorization": f"Bearer {cluster.seeded['api_key']}"},
            timeout=DELIVERY_TIMEOUT,
        )

    with ThreadPoolExecutor(PAY_REQUESTS) as pool:
        answers = list(pool.map(pay, range(PAY_REQUESTS)))
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
    payments = {json.dumps(a.json(), sort_keys=True) for a in answers}
    assert len(payments) == 1, payments
    [payment] = [json.loads(p) for p in payments]
    records = sim(
        simulator_url,
        "GET",
        "/requests",
        params={"path": "/v1/checkout/sessions", "method": "POST"},
    )["data"]
    mine = [
        r
        for r in records
        if (r["params"].get("metadata") or {}).get("order_id") == order_uuid
    ]
    created = [r for r in mine if r["status"] == 200 and not r["replayed"]]
    assert len(created) == 1, mine
    session = sim(simulator_url, "GET", f"/objects/{payment['checkout_session_id']}")
    assert session["client_reference_id"] == payment["payment_id"]
    stored = cluster.sql(
        "SELECT t.stripe_checkout_session_id FROM omochi_payment_transaction t "
        "JOIN omochi_order o ON o.id = t.order_id WHERE o.uuid = %s",
        [order_uuid],
    )
    assert stored == [(payment["checkout_session_id"],)]
    per_server = Counter(
        cluster.server_of(e["upstreams"][-1])
        for e in cluster.nginx.log_entries()[log_start:]
    )
    cluster.report(
        "concurrent_pay",
        {
            "pay_requests": PAY_REQUESTS,
            "statuses": dict(Counter(a.status_code for a in answers)),
            "requests_per_server": {f"server_{i}": n for i, n in per_server.items()},
            "session_creations_at_stripe": len(mine),
            "sessions_created": len(created),
        },
    )


def test_server_killed_mid_storm_loses_nothing_applies_nothing_twice(
    cluster, webhook_secret
):
    """A storm like the first; a third of the way in, one server hangs
    (SIGSTOP) for FROZEN_SECONDS, then every process of it is SIGKILLed.
    What it left unanswered (502 from nginx, timeouts) is redelivered, as
    Stripe redelivers, until acknowledged: every event is stored once and
    every payment applied once."""
    cluster.ensure_running()
    payments = cluster.seeded["payments"][STORM_EVENTS:]
    events = completion_events(payments)
    by_id = {event["id"]: event for event in events}
    event_ids = list(by_id)
    deliveries = shuffled_deliveries(events, 1 + REDELIVERIES, seed_value=12)
    victim = cluster.servers[1]
    victim_upstream = f"127.0.0.1:{victim.port}"
    kill_after = len(deliveries) // 3
    frozen, killed = threading.Event(), threading.Event()

    def kill():
        victim.kill()
        killed.set()

    def kill_midway(count):
        """Freeze the server a third of the way in, so that the deliveries
        sent to it meanwhile are in flight, then SIGKILL it."""
        if count >= kill_after and not frozen.is_set():
            frozen.set()
            victim.freeze()
            threading.Timer(FROZEN_SECONDS, kill).start()

    log_start = len(cluster.nginx.log_entries())
    marks = [server.mark() for server in cluster.servers]
    started = time.monotonic()
    answers = storm(cluster.nginx.url, deliveries, webhook_secret, kill_midway)
    assert killed.wait(timeout=60)
    unanswered = [d for d, outcome in answers.items() if not acknowledged(outcome)]
    first_failures = Counter(
        str(answers[d][0] or "no answer") for d in unanswered
    )  # statuses of the deliveries left unanswered
    # Stripe redelivers what was not acknowledged, with back-off.
    pending, rounds, redelivered = list(unanswered), 0, 0
    while pending and rounds < REDELIVERY_ROUNDS:
        rounds += 1
        time.sleep(min(2**rounds, 10))
        retry = [(f"{d}/retry{rounds}", by_id[d.split("/")[0]]) for d in pending]
        redelivered += len(retry)
        again = storm(cluster.nginx.url, retry, webhook_secret)
        pending = [d.rsplit("/", 1)[0] for d, o in again.items() if not acknowledged(o)]
    assert not pending, f"{len(pending)} deliveries never acknowledged"
    applied_in = wait_until_applied(cluster, event_ids)
    seconds = time.monotonic() - started
    assert_applied_exactly_once(cluster, payments, event_ids)

    log = webhook_log(cluster, log_start)
    touched_victim = [e for e in log if victim_upstream in e["upstreams"]]
    answered_by_victim = [
        e
        for e in touched_victim
        if e["upstreams"][-1] == victim_upstream and e["status"] == 200
    ]
    unanswered_by_victim = [
        e
        for e in touched_victim
        if e["upstreams"][-1] == victim_upstream and e["status"] != 200
    ]
    passed_on = [e for e in touched_victim if e["upstreams"][-1] != victim_upstream]
    unanswered_events = {d.split("/")[0] for d in unanswered}
    states = dict(
        cluster.sql(
            "SELECT state, count(*) FROM omochi_payment_event "
            "WHERE stripe_event_id = ANY(%s) GROUP BY state",
            [list(unanswered_events)],
        )
    )
    assert unanswered, "the kill left no delivery unanswered: nothing was tested"
    cluster.report(
        "server_killed",
        {
            "events": len(events),
            "deliveries": len(deliveries),
            "killed_after_answers": kill_after,
            "unanswered": len(unanswered),
            "unanswered_statuses": dict(first_failures),
            "redelivered": redelivered,
            "redelivery_rounds": rounds,
            "killed_server_answered_200": len(answered_by_victim),
            "killed_server_left_unanswered": len(unanswered_by_victim),
            "killed_server_refused_passed_on_by_nginx": len(passed_on),
            "events_left_unanswered": len(unanswered_events),
            "their_final_states": states,
            "applied": len(payments),
            "applied_by_cron_workers": applied_by_cron(cluster, marks),
            "seconds_total": round(seconds, 1),
            "seconds_until_applied_after": round(applied_in, 1),
        },
    )
