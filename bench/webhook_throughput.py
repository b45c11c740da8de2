"""Webhook throughput and latency against a live ``odoo --workers=2`` server.

Signed ``checkout.session.completed`` events, one per pending payment (each
completes its payment: event log row, status change, order paid, two chatter
messages), at concurrency 1 and 8, each phase bounded by ``--duration``
seconds and the pool of payments; Odoo's no-op ``/web/health`` is measured on
the same server in the same run. ``--compare-odoo-stripe`` runs the same load
against Odoo's own ``payment_stripe`` webhook (``payment_intent.succeeded`` on
pending ``payment.transaction`` records) on a second database.

    python3 bench/webhook_throughput.py [--compare-odoo-stripe] [--duration 12]
"""

import argparse
import contextlib
import json
import os
import sys
import time

# The repository's root: the bench kit, the test kit and the seeds.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import benchkit

WEBHOOK = "/api/payments/webhook/"
ODOO_STRIPE_WEBHOOK = "/payment/stripe/webhook"
HEALTH = "/web/health"
TARGET_RATIO = 0.3
TARGET_QUERIES = 20


def health_request(server):
    def make(_index):
        return ("GET", f"{server.url}{HEALTH}", None, {})

    return make


def omochi_request(server, payments):
    def make(index):
        body = json.dumps(benchkit.checkout_completed_event(payments[index])).encode()
        return ("POST", f"{server.url}{WEBHOOK}", body, benchkit.signed_headers(body))

    return make


def odoo_stripe_request(server, references):
    def make(index):
        reference, amount_minor, currency = references[index]
        body = json.dumps(
            {
                "id": f"evt_bench_{reference}_{os.urandom(4).hex()}",
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


def run_omochi(args, workdir, odoo_version):
    template = benchkit.ensure_template("omochi", workdir, odoo_version)
    with benchkit.throwaway(template, "webhook") as dbname:
        payments = benchkit.multiply_orders(dbname, args.pool, "wh")
        benchkit.analyze(dbname)
        with benchkit.OdooServer(dbname, workdir) as server:
            rows, used = measure(
                server,
                f"omochi {WEBHOOK}",
                WEBHOOK,
                omochi_request(server, payments),
                len(payments),
                args,
            )
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
    return rows, {"sent": used, "completed": completed, "events": dict(events)}


def run_odoo_stripe(args, workdir, odoo_version):
    template = benchkit.ensure_template("odoo_stripe", workdir, odoo_version)
    with benchkit.throwaway(template, "odoo_stripe") as dbname:
        references = multiply_odoo_stripe(dbname, args.pool)
        benchkit.analyze(dbname)
        with benchkit.OdooServer(dbname, workdir) as server:
            rows, used = measure(
                server,
                f"payment_stripe {ODOO_STRIPE_WEBHOOK}",
                ODOO_STRIPE_WEBHOOK,
                odoo_stripe_request(server, references),
                len(references),
                args,
            )
        done = benchkit.db.query(
            dbname,
            "SELECT count(*) FROM payment_transaction "
            "WHERE reference LIKE 'BENCH-%%' AND state = 'done'",
        )[0][0]
    benchkit.log(f"payment_stripe: {used} events sent, {done} transactions done")
    return rows, {"sent": used, "done": done}


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
    hooks = [row for row in omochi_rows if row["label"] != HEALTH]
    c8 = [row for row in hooks if row["concurrency"] == max(args.concurrency)]
    ratio = c8[0]["ratio"] if c8 else float("nan")
    queries = max(row["queries"] for row in hooks)
    errors = sum(row["server_errors"] for row in omochi_rows)
    retries = sum(row["retries"] for row in hooks)
    targets = benchkit.markdown_table(
        ["target", "measured", "verdict"],
        [
            [
                (
                    f"ratio webhook / `/web/health` ≥ {TARGET_RATIO} at concurrency "
                    f"{max(args.concurrency)}"
                ),
                f"{ratio:.2f}",
                benchkit.verdict(ratio >= TARGET_RATIO),
            ],
            [
                f"≤ {TARGET_QUERIES} SQL queries per completing event",
                f"{queries:.1f} (mean of the worst phase)",
                benchkit.verdict(queries <= TARGET_QUERIES),
            ],
            ["zero 5xx", str(errors), benchkit.verdict(errors == 0)],
        ],
    )
    if stripe_rows:
        s8 = [
            row
            for row in stripe_rows
            if row["label"] != HEALTH and row["concurrency"] == max(args.concurrency)
        ]
        comparison = (
            f"Odoo's own `payment_stripe` webhook, same load on its own database "
            f"and server in the same run: ratio {s8[0]['ratio']:.2f} at "
            f"concurrency {max(args.concurrency)} with {s8[0]['queries']:.1f} "
            f"queries per event (no event log, no chatter); "
            f"{checks['odoo_stripe']['done']} of "
            f"{checks['odoo_stripe']['sent']} transactions done.\n"
        )
    else:
        comparison = (
            "Odoo's own `payment_stripe` webhook: not run "
            "(add `--compare-odoo-stripe`).\n"
        )
    omochi = checks["omochi"]
    option = " --compare-odoo-stripe" if stripe_rows else ""
    body = f"""
{benchkit.machine_line(odoo_version, args.load_before)}

Command: `python3 bench/webhook_throughput.py{option} --duration {args.duration}`
(from the repository root).

Signed `checkout.session.completed` (paid) events, one per pending payment,
against `odoo --workers=2 --max-cron-threads=0` on loopback; every phase lasts
{args.duration} s at most (bounded by the pool of {args.pool} payments); the
load generator (Python threads, one connection per request) runs on the same
machine. Queries per request come from Odoo's access log (werkzeug line).
Each event stores its event row, completes its payment (status tracking), marks
the order paid and posts a chatter message on both.

{table}

Check: {omochi["sent"]} events sent, {omochi["completed"]} payments completed
with their order paid, event rows by state {omochi["events"]};
serialization retries in the log: {retries}.

{comparison}
{targets}
"""
    benchkit.write_section("webhook_throughput", "Webhook throughput and latency", body)
    print(table)
    print()
    print(targets)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compare-odoo-stripe",
        action="store_true",
        help="also load Odoo's own payment_stripe webhook (second database)",
    )
    parser.add_argument("--duration", type=float, default=12.0, help="s per phase")
    parser.add_argument("--pool", type=int, default=2500, help="payments per server")
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
