"""Throughput of the frontend API with the Stripe simulator.

``GET /api/payments/check_status/`` (a pending payment: refreshed from Stripe,
here the project's simulator, on every call) and ``POST
/api/orders/<uuid>/pay/`` on the reuse path (the order's Checkout Session is
open: answered 200 without calling Stripe), authenticated with an API key
(``Authorization: Bearer``), at concurrency 1 and 8 against ``odoo
--workers=2``, with Odoo's no-op ``/web/health`` on the same server in the
same run. The sessions are created first through the same route (201, one
call to the simulator each), which is reported too.

    python3 bench/api_throughput.py [--duration 10]
"""

import json
import os
import sys

# The repository's root: the bench kit, the test kit and the seeds.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import benchkit

HEALTH = "/web/health"
PAY = "/api/orders/"
CHECK = "/api/payments/check_status/"


def run(args, workdir, odoo_version):
    template = benchkit.ensure_template("omochi", workdir, odoo_version)
    with benchkit.throwaway(template, "api") as dbname:
        payments = benchkit.multiply_orders(
            dbname, args.orders, "api", with_session=False
        )
        benchkit.analyze(dbname)
        api_key = benchkit.config_param(dbname, "omochi_bench.api_key")
        auth = {"Authorization": f"Bearer {api_key}"}
        with benchkit.simulator_process() as sim_url:
            env = {
                "STRIPE_API_BASE": sim_url,
                "STRIPE_SECRET_KEY": benchkit.STRIPE_SECRET_KEY,
            }
            with benchkit.OdooServer(dbname, workdir, env=env) as server:
                rows = measure(server, payments, auth, args)
    return rows


def measure(server, payments, auth, args):
    health = ("GET", f"{server.url}{HEALTH}", None, {})

    def pay(index):
        order = payments[index % len(payments)].order_uuid
        return (
            "POST",
            f"{server.url}{PAY}{order}/pay/",
            b"",
            {**auth, "Content-Type": "application/json"},
        )

    benchkit.run_load("warmup", lambda _i: health, 2, max_requests=40)
    # Create the sessions (201), one per order, one at a time.
    mark = server.mark()
    created = benchkit.run_load(
        "pay (new session)", pay, 1, max_requests=len(payments), keep_bodies=True
    )
    rows = [figures(created, server.access_log(mark, server.mark(), PAY), None)]
    sessions = [json.loads(body)["checkout_session_id"] for body in created.bodies]
    if created.status_counts() != {201: len(payments)} or len(sessions) != len(
        payments
    ):
        sys.exit(f"ERROR: creating the sessions failed: {created.status_counts()}")

    def check(index):
        session = sessions[index % len(sessions)]
        return ("GET", f"{server.url}{CHECK}?session_id={session}", None, auth)

    for concurrency in args.concurrency:
        benchkit.run_load("warmup", pay, concurrency, max_requests=2 * concurrency)
        benchkit.run_load("warmup", check, concurrency, max_requests=2 * concurrency)
        phases = (
            ("/web/health", lambda _i: health, HEALTH),
            ("pay (reuse)", pay, PAY),
            ("check_status", check, CHECK),
        )
        health_row = None
        for label, make, path in phases:
            mark = server.mark()
            result = benchkit.run_load(
                label, make, concurrency, duration=args.duration, max_requests=20000
            )
            row = figures(result, server.access_log(mark, server.mark(), path), None)
            if health_row is None:
                health_row = row
            row["ratio"] = row["rate"] / health_row["rate"]
            rows.append(row)
            benchkit.log(
                f"c={concurrency} {label}: {row['rate']:.1f}/s "
                f"({row['ratio']:.2f}), {row['statuses']}"
            )
    return rows


def figures(result, entries, health_row):
    queries = [entry.queries for entry in entries]
    return {
        "label": result.label,
        "concurrency": result.concurrency,
        "count": result.count,
        "rate": result.rate,
        "p50": result.percentile(50),
        "p95": result.percentile(95),
        "p99": result.percentile(99),
        "queries": benchkit.mean(queries),
        "server_errors": result.server_errors,
        "statuses": result.status_counts(),
        "ratio": float("nan"),
    }


def report(args, odoo_version, rows):
    headers = [
        "route",
        "conc.",
        "requests",
        "answers",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "queries/req",
        "5xx+errors",
        "ratio to /web/health",
    ]
    table = benchkit.markdown_table(
        headers,
        [
            [
                row["label"],
                row["concurrency"],
                row["count"],
                row["statuses"],
                f"{row['rate']:.1f}",
                benchkit.ms(row["p50"]),
                benchkit.ms(row["p95"]),
                benchkit.ms(row["p99"]),
                f"{row['queries']:.1f}",
                row["server_errors"],
                "-" if row["ratio"] != row["ratio"] else f"{row['ratio']:.2f}",
            ]
            for row in rows
        ],
    )
    body = f"""
{benchkit.machine_line(odoo_version, args.load_before)}

Command: `python3 bench/api_throughput.py --duration {args.duration}` (from the
repository root).

{args.orders} confirmed orders; each gets its Checkout Session at the
project's Stripe simulator (`python -m stripe_sim`, a separate process on
loopback) through `POST /api/orders/<uuid>/pay/` (201, first row). Then, at
each concurrency, {args.duration} s of Odoo's no-op `/web/health`, of the pay
route on the reuse path (open session: 200, no call to Stripe; each request
takes the next order in turn, so concurrent requests rarely lock the same
order) and of `GET /api/payments/check_status/` (pending: refreshed from the
simulator on every call), all with `Authorization: Bearer <API key>` against
`odoo --workers=2`. Odoo checks the API key (a PBKDF2 hash) on every request.
Queries per request come from Odoo's access log.

{table}
"""
    benchkit.write_section(
        "api_throughput", "API throughput: pay and check_status", body
    )
    print(table)


def add_arguments(parser):
    parser.add_argument("--duration", type=float, default=10.0, help="s per phase")
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])


if __name__ == "__main__":
    benchkit.main(__doc__, add_arguments, run, report)
