"""Webhook speed against live ``odoo --workers=2 --max-cron-threads=2`` servers.

Signed ``checkout.session.completed`` events, one per pending payment (each
completes its payment once applied: status change, order paid, two chatter
messages). Measured: acknowledgements per second at concurrency 1 and 8 next
to Odoo's no-op ``/web/health`` on the same server; applied throughput (N
events delivered as fast as they are acknowledged, until the cron workers
have applied the last); latency from delivery to applied at a steady rate;
the duplicate storm (one event delivered many times at once). With
``--compare-odoo-stripe`` the same load goes to Odoo's own ``payment_stripe``
webhook (``payment_intent.succeeded`` on pending ``payment.transaction``
records, applied inside the request) on a second database and server.

    python3 bench/webhook_throughput.py [--compare-odoo-stripe] [--duration 8]
"""

import argparse
import contextlib
import json
import os
import sys
import threading
import time

# The repository's root: the bench kit, the test kit and the seeds.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import benchkit

WEBHOOK = "/api/payments/webhook/"
ODOO_STRIPE_WEBHOOK = "/payment/stripe/webhook"
HEALTH = "/web/health"
TARGET_RATIO = 0.6
TARGET_VS_STRIPE_ACK = 2.0
TARGET_VS_STRIPE_APPLIED = 1.0
TARGET_P99_APPLIED = 2.0
TARGET_STORM_QUERIES = 2
CRON_THREADS = 2


def health_request(server):
    def make(_index):
        return ("GET", f"{server.url}{HEALTH}", None, {})

    return make


def omochi_request(server, payments):
    def make(index):
        event = benchkit.checkout_completed_event(
            payments[index], event_id=omochi_event_id(payments[index])
        )
        body = json.dumps(event).encode()
        return ("POST", f"{server.url}{WEBHOOK}", body, benchkit.signed_headers(body))

    return make


def omochi_event_id(payment):
    return f"evt_bench_{payment.transaction_id}"


def omochi_applied(dbname, event_ids):
    """Which of ``event_ids`` the cron workers have applied (not pending)."""
    rows = benchkit.db.query(
        dbname,
        "SELECT stripe_event_id FROM omochi_payment_event "
        "WHERE stripe_event_id = ANY(%s) AND state <> 'pending'",
        [list(event_ids)],
    )
    return {row[0] for row in rows}


def odoo_stripe_request(server, references):
    def make(index):
        reference, amount_minor, currency = references[index]
        body = json.dumps(
            {
                "id": f"evt_bench_{reference}",
                "object": "event",
                "api_version": "2023-10-16",
                "created": int(time.time()),
                "livemode": False,
                "type": "payment_intent.succeeded",
                "data": {
                    "object": {
                        "id": f"pi_{reference.replace('-', '')}",
                        "object": "payment_intent",
                        "amount": amount_minor,
                        "amount_received": amount_minor,
                        "currency": currency.lower(),
                        "customer": None,
                        "description": reference,
                        "latest_charge": f"ch_{reference.replace('-', '')}",
                        "payment_method": "pm_card_visa",
                        "status": "succeeded",
                    }
                },
            }
        ).encode()
        return (
            "POST",
            f"{server.url}{ODOO_STRIPE_WEBHOOK}",
            body,
            benchkit.signed_headers(body),
        )

    return make


def multiply_odoo_stripe(dbname, count):
    """Copies of the seed ``payment.transaction`` (pending), each with its own
    reference; return ``[(reference, amount minor, currency)]``."""
    with contextlib.closing(benchkit.db.connect(dbname, autocommit=False)) as conn:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM payment_transaction WHERE reference = 'BENCHSEED-0'"
            )
            seed = cursor.fetchone()[0]
            benchkit.clone_rows(
                cursor,
                "payment_transaction",
                f"FROM payment_transaction s, generate_series(1, {int(count)}) g "
                f"WHERE s.id = {seed}",
                {
                    "reference": "'BENCH-' || g",
                    "provider_reference": "'pi_BENCH' || g",
                    "state": "'pending'",
                    "create_date": "now() at time zone 'utc'",
                    "write_date": "now() at time zone 'utc'",
                },
            )
            cursor.execute(
                "SELECT t.reference, t.amount, c.name, c.decimal_places "
                "FROM payment_transaction t JOIN res_currency c "
                "ON c.id = t.currency_id WHERE t.reference LIKE 'BENCH-%%' "
                "ORDER BY t.id"
            )
            rows = cursor.fetchall()
        conn.commit()
    return [(row[0], round(row[1] * 10 ** row[3]), row[2]) for row in rows]


def measure(server, target_label, path, make_target, pool_size, args):
    """Warm up, then health and webhook phases at each concurrency; return
    rows of figures."""
    health = health_request(server)
    used = 0
    benchkit.run_load("warmup", health, 2, max_requests=40)
    warm = min(16, pool_size // 10)
    benchkit.run_load("warmup", lambda i: make_target(used + i), 2, max_requests=warm)
    used += warm
    rows = []
    for concurrency in args.concurrency:
        mark = server.mark()
        result = benchkit.run_load(
            "health", health, concurrency, duration=args.duration, max_requests=50000
        )
        health_entries = server.access_log(mark, server.mark(), HEALTH)
        health_row = figures(HEALTH, result, health_entries, None)
        mark = server.mark()
        offset = used
        result = benchkit.run_load(
            target_label,
            lambda i, offset=offset: make_target(offset + i),
            concurrency,
            duration=args.duration,
            max_requests=pool_size - used,
        )
        used += result.count + len(result.errors)
        end = server.mark()
        entries = server.access_log(mark, end, path)
        retries = server.count_log(r"SerializationFailure|serialize", mark, end)
        row = figures(target_label, result, entries, health_row)
        row["retries"] = retries
        rows.extend([health_row, row])
        benchkit.log(
            f"c={concurrency}: {HEALTH} {health_row['rate']:.0f}/s, "
            f"{target_label} {row['rate']:.1f}/s ({row['ratio']:.2f}), "
            f"{row['queries']:.1f} queries/event, statuses {row['statuses']}"
        )
        if used >= pool_size:
            benchkit.log("the pool of payments is used up: later phases are shorter")
    return rows, used


def applied_phase(server, make_target, offset, count, applied):
    """Deliver ``count`` events as fast as they are acknowledged (c=8), then
    wait until the last is applied; return its figures."""
    requests_ = [make_target(offset + i) for i in range(count)]
    ids = [json.loads(body)["id"] for _m, _u, body, _h in requests_]
    started = time.perf_counter()
    result = benchkit.run_load("applied", lambda i: requests_[i], 8, max_requests=count)
    acknowledged = time.perf_counter() - started
    deadline = time.monotonic() + 600
    done = applied(ids)
    while len(done) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        done = applied(ids)
    elapsed = time.perf_counter() - started
    row = {
        "count": count,
        "applied": len(done),
        "acknowledged_s": acknowledged,
        "elapsed_s": elapsed,
        "rate": len(done) / elapsed if elapsed else 0.0,
        "server_errors": result.server_errors,
    }
    benchkit.log(
        f"applied: {len(done)}/{count} events in {elapsed:.1f} s "
        f"({row['rate']:.1f}/s; acknowledged in {acknowledged:.1f} s)"
    )
    return row


def latency_phase(server, make_target, offset, rate, duration, applied):
    """Deliver at a steady ``rate`` for ``duration`` s; return the delivery
    to applied latencies (s), seen by polling the database every 20 ms."""
    count = int(rate * duration)
    requests_ = [make_target(offset + i) for i in range(count)]
    ids = [json.loads(body)["id"] for _m, _u, body, _h in requests_]
    sent_at, applied_at = {}, {}
    errors = []

    def deliver(index):
        sent_at[ids[index]] = time.perf_counter()
        try:
            answer = benchkit.http_request(*requests_[index])
            if answer.status >= 500:
                errors.append(answer.status)
        except OSError as error:
            errors.append(repr(error))

    threads = []
    start = time.perf_counter()
    for index in range(count):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=deliver, args=(index,), daemon=True)
        thread.start()
        threads.append(thread)
        if index % 5 == 0:
            seen = time.perf_counter()
            for event_id in applied(ids[: index + 1]) - set(applied_at):
                applied_at[event_id] = seen
    deadline = time.monotonic() + 300
    while len(applied_at) < count and time.monotonic() < deadline:
        seen = time.perf_counter()
        for event_id in applied(ids) - set(applied_at):
            applied_at[event_id] = seen
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    latencies = [applied_at[i] - sent_at[i] for i in applied_at if i in sent_at]
    row = {
        "rate": rate,
        "count": count,
        "applied": len(applied_at),
        "p50": benchkit.percentile(latencies, 50),
        "p99": benchkit.percentile(latencies, 99),
        "server_errors": len(errors),
    }
    benchkit.log(
        f"latency at {rate}/s: {len(applied_at)}/{count} applied, "
        f"p50 {row['p50']:.3f} s, p99 {row['p99']:.3f} s"
    )
    return row


def storm_phase(server, make_target, index, path, copies=16):
    """One event delivered ``copies`` times at once, then as many times more
    once stored: serialization retries in the log, queries per duplicate."""
    request = make_target(index)
    mark = server.mark()
    first = benchkit.burst("storm", [request] * copies)
    second = benchkit.burst("storm", [request] * copies)
    end = server.mark()
    entries = server.access_log(mark, end, path)
    retries = server.count_log(
        r"SerializationFailure|serialize|SERIALIZATION", mark, end
    )
    # All but the one delivery that stored the event (the costliest; the log
    # is not in the order the deliveries were answered).
    duplicates = sorted(e.queries for e in entries)[:-1]
    row = {
        "copies": 2 * copies,
        "statuses": {**first.status_counts()},
        "server_errors": first.server_errors + second.server_errors,
        "retries": retries,
        "queries_per_duplicate": benchkit.mean(duplicates),
        "queries_max": max(duplicates, default=0),
        "logged": len(entries),
    }
    benchkit.log(
        f"storm: {row['copies']} deliveries of one event, {retries} serialization "
        f"retries, {row['queries_per_duplicate']:.1f} queries per duplicate"
    )
    return row


def figures(label, result, entries, health_row):
    queries = [entry.queries for entry in entries]
    row = {
        "label": label,
        "concurrency": result.concurrency,
        "count": result.count,
        "rate": result.rate,
        "p50": result.percentile(50),
        "p95": result.percentile(95),
        "p99": result.percentile(99),
        "queries": benchkit.mean(queries),
        "queries_max": max(queries, default=0),
        "server_errors": result.server_errors,
        "statuses": result.status_counts(),
        "logged": len(entries),
        "retries": 0,
    }
    row["ratio"] = row["rate"] / health_row["rate"] if health_row else 1.0
    return row


def extra_phases(args, server, make_target, used, applied, path):
    """The applied-throughput, latency and storm phases after the ack
    phases, on events ``used`` onwards; return ``(figures, used)``."""
    extra = {}
    extra["applied"] = applied_phase(server, make_target, used, args.applied, applied)
    used += args.applied
    extra["latency"] = latency_phase(
        server, make_target, used, args.rate, args.latency_duration, applied
    )
    used += int(args.rate * args.latency_duration)
    extra["storm"] = storm_phase(server, make_target, used, path)
    used += 1
    return extra, used


def pool_size(args):
    """Payments needed per server: ack phases at most ~250/s, then the rest."""
    acks = int(sum(250 * args.duration for _c in args.concurrency)) + 16
    return acks + args.applied + int(args.rate * args.latency_duration) + 1


def run_omochi(args, workdir, odoo_version):
    template = benchkit.ensure_template("omochi", workdir, odoo_version)
    with benchkit.throwaway(template, "webhook") as dbname:
        payments = benchkit.multiply_orders(dbname, pool_size(args), "wh")
        benchkit.analyze(dbname)
        with benchkit.OdooServer(dbname, workdir, cron_threads=CRON_THREADS) as server:
            make_target = omochi_request(server, payments)
            reserve = args.applied + int(args.rate * args.latency_duration) + 1
            rows, used = measure(
                server,
                f"omochi {WEBHOOK}",
                WEBHOOK,
                make_target,
                len(payments) - reserve,
                args,
            )
            # The acknowledged events of the ack phases are applied first.
            benchkit.log("waiting for the ack phases' events to be applied")
            benchkit.wait_events_applied(dbname)
            extra, used = extra_phases(
                args,
                server,
                make_target,
                used,
                lambda ids: omochi_applied(dbname, ids),
                WEBHOOK,
            )
            benchkit.wait_events_applied(dbname)
        completed = benchkit.db.query(
            dbname,
            "SELECT count(*) FROM omochi_payment_transaction t "
            "JOIN omochi_order o ON o.id = t.order_id "
            "WHERE t.status = 'completed' AND o.state = 'paid'",
        )[0][0]
        events = benchkit.db.query(
            dbname,
            "SELECT state, count(*) FROM omochi_payment_event GROUP BY state",
        )
    answered = sum(
        row["statuses"].get(200, 0) for row in rows if row["label"] != HEALTH
    )
    benchkit.log(
        f"omochi: {used} events sent, {answered} answered 200 in the phases, "
        f"{completed} payments completed (order paid), events {dict(events)}"
    )
    return rows, {
        "sent": used,
        "completed": completed,
        "events": dict(events),
        **extra,
    }


def run_odoo_stripe(args, workdir, odoo_version):
    template = benchkit.ensure_template("odoo_stripe", workdir, odoo_version)
    with benchkit.throwaway(template, "odoo_stripe") as dbname:
        references = multiply_odoo_stripe(dbname, pool_size(args))
        benchkit.analyze(dbname)
        with benchkit.OdooServer(dbname, workdir, cron_threads=CRON_THREADS) as server:
            make_target = odoo_stripe_request(server, references)
            reserve = args.applied + int(args.rate * args.latency_duration) + 1
            rows, used = measure(
                server,
                f"payment_stripe {ODOO_STRIPE_WEBHOOK}",
                ODOO_STRIPE_WEBHOOK,
                make_target,
                len(references) - reserve,
                args,
            )

            def applied(ids):
                # Applied inside the request: done once answered.
                references_ = [i.split("_", 2)[2] for i in ids]
                return {
                    f"evt_bench_{row[0]}"
                    for row in benchkit.db.query(
                        dbname,
                        "SELECT reference FROM payment_transaction "
                        "WHERE reference = ANY(%s) AND state = 'done'",
                        [references_],
                    )
                }

            extra, used = extra_phases(
                args, server, make_target, used, applied, ODOO_STRIPE_WEBHOOK
            )
        done = benchkit.db.query(
            dbname,
            "SELECT count(*) FROM payment_transaction "
            "WHERE reference LIKE 'BENCH-%%' AND state = 'done'",
        )[0][0]
    benchkit.log(f"payment_stripe: {used} events sent, {done} transactions done")
    return rows, {"sent": used, "done": done, **extra}


def _ack_row(rows, concurrency):
    for row in rows or ():
        if row["label"] != HEALTH and row["concurrency"] == concurrency:
            return row
    return None


def report(args, odoo_version, omochi_rows, checks, stripe_rows):
    headers = [
        "server",
        "route",
        "conc.",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "queries/req (max)",
        "5xx+errors",
        "ratio to /web/health",
    ]
    table_rows = []
    for server, rows in (("omochi", omochi_rows), ("payment_stripe", stripe_rows)):
        for row in rows or ():
            table_rows.append(
                [
                    server,
                    row["label"].split(" ")[-1],
                    row["concurrency"],
                    row["count"],
                    f"{row['rate']:.1f}",
                    benchkit.ms(row["p50"]),
                    benchkit.ms(row["p95"]),
                    benchkit.ms(row["p99"]),
                    f"{row['queries']:.1f} ({row['queries_max']})",
                    row["server_errors"],
                    f"{row['ratio']:.2f}",
                ]
            )
    table = benchkit.markdown_table(headers, table_rows)
    omochi = checks["omochi"]
    stripe = checks.get("odoo_stripe")
    top = max(args.concurrency)
    ack = _ack_row(omochi_rows, top)
    ratio = ack["ratio"]
    nan = float("nan")
    stripe_ack = _ack_row(stripe_rows, top)
    ack_vs = ack["rate"] / stripe_ack["rate"] if stripe_ack else nan
    applied_vs = (
        omochi["applied"]["rate"] / stripe["applied"]["rate"] if stripe else nan
    )
    p99 = omochi["latency"]["p99"]
    storm = omochi["storm"]
    phases = [["omochi", omochi]] + ([["payment_stripe", stripe]] if stripe else [])
    extra_table = benchkit.markdown_table(
        [
            "server",
            "applied: N, s until the last, events/s",
            f"delivery→applied at {args.rate}/s: p50, p99 s",
            "storm: deliveries, serialization retries, queries/duplicate (max)",
        ],
        [
            [
                name,
                (
                    f"{c['applied']['applied']}/{c['applied']['count']}, "
                    f"{c['applied']['elapsed_s']:.1f} s, {c['applied']['rate']:.1f}/s"
                ),
                f"{c['latency']['p50']:.3f}, {c['latency']['p99']:.3f}",
                (
                    f"{c['storm']['copies']}, {c['storm']['retries']}, "
                    f"{c['storm']['queries_per_duplicate']:.1f} "
                    f"({c['storm']['queries_max']})"
                ),
            ]
            for name, c in phases
        ],
    )
    errors = sum(row["server_errors"] for row in omochi_rows) + sum(
        omochi[k]["server_errors"] for k in ("applied", "latency", "storm")
    )
    targets = benchkit.markdown_table(
        ["target", "measured", "verdict"],
        [
            [
                f"A: acks/s ÷ `/web/health` ≥ {TARGET_RATIO} at c={top}",
                f"{ratio:.2f}",
                benchkit.verdict(ratio >= TARGET_RATIO),
            ],
            [
                f"B: acks/s ÷ payment_stripe's ≥ {TARGET_VS_STRIPE_ACK} at c={top}",
                f"{ack_vs:.2f}",
                benchkit.verdict(ack_vs >= TARGET_VS_STRIPE_ACK),
            ],
            [
                f"C: applied/s ÷ payment_stripe's ≥ {TARGET_VS_STRIPE_APPLIED}",
                f"{applied_vs:.2f}",
                benchkit.verdict(applied_vs >= TARGET_VS_STRIPE_APPLIED),
            ],
            [
                f"D: p99 delivery→applied ≤ {TARGET_P99_APPLIED} s at {args.rate}/s",
                f"{p99:.3f}",
                benchkit.verdict(p99 <= TARGET_P99_APPLIED),
            ],
            [
                "storm: 0 serialization retries",
                str(storm["retries"]),
                benchkit.verdict(storm["retries"] == 0),
            ],
            [
                f"storm: ≤ {TARGET_STORM_QUERIES} queries per duplicate",
                f"{storm['queries_per_duplicate']:.1f}",
                benchkit.verdict(
                    storm["queries_per_duplicate"] <= TARGET_STORM_QUERIES
                ),
            ],
            ["zero 5xx", str(errors), benchkit.verdict(errors == 0)],
        ],
    )
    comparison = (
        ""
        if stripe
        else "Odoo's own `payment_stripe` webhook: not run "
        "(add `--compare-odoo-stripe`).\n"
    )
    option = " --compare-odoo-stripe" if stripe_rows else ""
    final = (
        f"webhook-speed: ack ratio {ratio:.2f}, ack vs payment_stripe {ack_vs:.2f} x, "
        f"applied vs payment_stripe {applied_vs:.2f} x, "
        f"p99 delivery-to-applied {p99:.2f} s"
    )
    body = f"""
{benchkit.machine_line(odoo_version, args.load_before)}

Command: `python3 bench/webhook_throughput.py{option} --duration {args.duration}`
(from the repository root).

Signed `checkout.session.completed` (paid) events, one per pending payment,
against `odoo --workers=2 --max-cron-threads={CRON_THREADS}` on loopback (both
servers alike). The webhook only acknowledges (stores the event pending, wakes
the cron workers); the two processing crons apply the events meanwhile, on
the same 2 cores. Odoo's `payment_stripe` applies inside the request. Each ack
phase lasts {args.duration} s at most; the load generator (Python threads, one
connection per request) runs on the same machine. Queries per request come
from Odoo's access log (werkzeug line); the NOTIFY that wakes the cron workers
is sent by a thread of the worker after the request, outside its figures.

{table}

Applied throughput ({args.applied} events delivered at c=8 as fast as they
are acknowledged, until the last is applied), latency from delivery to
applied at a steady {args.rate} events/s for {args.latency_duration} s (the
database polled every 20 ms), and the duplicate storm (one event delivered
16 times at once, then 16 times more):

{extra_table}

Check: {omochi["sent"]} events sent, {omochi["completed"]} payments completed
with their order paid, event rows by state {omochi["events"]}.
{comparison}
{targets}

`{final}`
"""
    benchkit.write_section("webhook_throughput", "Webhook throughput and latency", body)
    print(table)
    print()
    print(extra_table)
    print()
    print(targets)
    print()
    print(final)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compare-odoo-stripe",
        action="store_true",
        help="also load Odoo's own payment_stripe webhook (second database)",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="s per phase")
    parser.add_argument(
        "--applied", type=int, default=1000, help="events of the applied phase"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="events/s (latency)")
    parser.add_argument(
        "--latency-duration", type=float, default=15.0, help="s of steady rate"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    odoo_version = benchkit.require_odoo()
    args.load_before = benchkit.load_average()
    with benchkit.workspace(args.keep_logs) as workdir:
        omochi_rows, omochi_checks = run_omochi(args, workdir, odoo_version)
        checks = {"omochi": omochi_checks}
        stripe_rows = None
        if args.compare_odoo_stripe:
            stripe_rows, checks["odoo_stripe"] = run_odoo_stripe(
                args, workdir, odoo_version
            )
    report(args, odoo_version, omochi_rows, checks, stripe_rows)


if __name__ == "__main__":
    main()
