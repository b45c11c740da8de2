"""Scale: query counts with 10 and 10,000 records, webhook latency with
100,000 stored events.

The back-office transactions list (``web_search_read`` with the list view's
fields, as the web client loads it, logged in as admin) and the portal's
``/my/omochi_orders`` (logged in as the portal customer who owns the orders) must
not need more queries with 10,000 orders and payments than with 10. The
webhook's latency (signed ``checkout.session.completed`` events, one at a
time) with 100,000 stored events must stay within 20% of the figure with an
empty event table.

    python3 bench/scale.py [--records 10000] [--events 100000]
"""

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

WEBHOOK = "/api/payments/webhook/"
LIST_PATH = "/web/dataset/call_kw/omochi.payment.transaction/web_search_read"
PORTAL_PATH = "/my/omochi_orders"
REPEAT = 7
SEED = common.SEED_ORDERS
TARGET_LATENCY = 1.2


def list_specification(server, cookie):
    """The fields of the transactions list view, as the web client asks them."""
    views = common.http_request(
        *common.json_rpc(
            server.url,
            "/web/dataset/call_kw/omochi.payment.transaction/get_views",
            {
                "model": "omochi.payment.transaction",
                "method": "get_views",
                "args": [],
                "kwargs": {"views": [[False, "list"]], "options": {}},
            },
            cookie,
        )
    )
    result = json.loads(views.body)["result"]
    arch = ET.fromstring(result["views"]["list"]["arch"])
    fields = result["models"]["omochi.payment.transaction"]["fields"]
    spec = {}
    for node in arch.iter("field"):
        name = node.get("name")
        many2one = fields.get(name, {}).get("type") == "many2one"
        spec[name] = {"fields": {"display_name": {}}} if many2one else {}
    return spec


def measure_pages(server, admin_cookie, portal_cookie, spec):
    """Median queries and latency of the list and the portal page."""
    list_request = common.json_rpc(
        server.url,
        LIST_PATH,
        {
            "model": "omochi.payment.transaction",
            "method": "web_search_read",
            "args": [],
            "kwargs": {
                "specification": spec,
                "offset": 0,
                "limit": 80,
                "order": "",
                "count_limit": 10001,
                "domain": [],
                "context": {"lang": "en_US", "tz": "UTC", "bin_size": True},
            },
        },
        admin_cookie,
    )
    portal_request = (
        "GET",
        f"{server.url}{PORTAL_PATH}",
        None,
        {"Cookie": portal_cookie},
    )
    figures = {}
    for label, request, path in (
        ("back-office transactions list", list_request, LIST_PATH),
        ("portal /my/omochi_orders", portal_request, PORTAL_PATH),
    ):
        mark = server.mark()
        result = common.run_load(label, lambda _i, r=request: r, 1, max_requests=REPEAT)
        entries = server.access_log(mark, server.mark(), path)
        if set(result.statuses) != {200}:
            sys.exit(f"ERROR: {label} answered {result.status_counts()}")
        figures[label] = {
            "queries": sorted(e.queries for e in entries)[len(entries) // 2],
            "queries_range": (
                min(e.queries for e in entries),
                max(e.queries for e in entries),
            ),
            "p50": result.percentile(50),
        }
    return figures


def webhook_latency(server, payments, count):
    def make(index):
        body = json.dumps(common.checkout_completed_event(payments[index])).encode()
        return ("POST", f"{server.url}{WEBHOOK}", body, common.signed_headers(body))

    mark = server.mark()
    result = common.run_load("webhook", make, 1, max_requests=count)
    entries = server.access_log(mark, server.mark(), WEBHOOK)
    if set(result.statuses) != {200}:
        sys.exit(f"ERROR: the webhook answered {result.status_counts()}")
    return {"latencies": result.latencies, "entries": entries}


def store_events(dbname, count):
    """``count`` processed events (copies of a realistic payload) spread over
    the stored payments, as months of traffic leave them."""
    sample = json.dumps(
        common.checkout_completed_event(
            common.Payment(0, "0" * 36, "cs_test_x", 0, "0" * 36, 1950, "USD"),
            event_id="evt_XXXX",
        )
    )
    common.pg_query(
        dbname,
        """
        INSERT INTO omochi_payment_event
            (stripe_event_id, type, transaction_id, company_id, payload,
             received_at, state, attempts, create_uid, write_uid, create_date,
             write_date)
        SELECT 'evt_scale_' || g,
               (ARRAY['checkout.session.completed', 'payment_intent.succeeded',
                      'charge.succeeded', 'checkout.session.expired'])[1 + g %% 4],
               t.id, t.company_id, replace(%(sample)s, 'evt_XXXX', 'evt_scale_' || g),
               now() at time zone 'utc' - g * interval '1 minute',
               CASE WHEN g %% 4 = 2 THEN 'ignored' ELSE 'done' END,
               1, 1, 1, now() at time zone 'utc', now() at time zone 'utc'
          FROM generate_series(1, %(count)s) g
          JOIN (SELECT id, company_id, row_number() OVER (ORDER BY id) - 1 AS n,
                       count(*) OVER () AS total
                  FROM omochi_payment_transaction) t
            ON t.n = g %% t.total
        """,
        {"sample": sample, "count": count},
    )


def count_rows(dbname, table):
    return common.pg_query(dbname, f"SELECT count(*) FROM {table}")[0][0]


def run(args, workdir, odoo_version):
    template = common.ensure_template("omochi", workdir, odoo_version)
    with (
        common.throwaway(template, "scale_a") as db_a,
        common.throwaway(template, "scale_b") as db_b,
    ):
        # B: the large set plus the stored events, for the webhook latency.
        payments_b = common.multiply_orders(db_b, args.records - SEED, "scale")
        common.log(f"storing {args.events:,} events")
        store_events(db_b, args.events)
        common.analyze(db_b)
        common.analyze(db_a)
        sizes = {}
        with common.OdooServer(db_a, workdir) as server:
            admin = common.web_login(server.url, db_a, "admin", "admin")
            portal = common.web_login(
                server.url, db_a, common.PORTAL_LOGIN, common.PORTAL_LOGIN
            )
            spec = list_specification(server, admin)
            measure_pages(server, admin, portal, spec)  # warm the workers
            payments_a = []
            for size in (SEED, 100, args.records):
                added = size - count_rows(db_a, "omochi_payment_transaction")
                if added > 0:
                    payments_a = common.multiply_orders(db_a, added, f"s{size}")
                    common.analyze(db_a)
                    measure_pages(server, admin, portal, spec)
                sizes[size] = measure_pages(server, admin, portal, spec)
                common.log(f"{size} records: {sizes[size]}")
            with common.OdooServer(db_b, workdir) as server_b:
                latency = webhook_rounds(
                    args, {"a": (server, payments_a), "b": (server_b, payments_b)}
                )
        stored = {
            name: count_rows(db, "omochi_payment_event")
            for name, db in (("a", db_a), ("b", db_b))
        }
    return {"sizes": sizes, "latency": latency, "stored": stored}


def webhook_rounds(args, targets):
    """Alternate rounds of one-at-a-time webhooks on both servers (so that
    other work on the machine weighs on both alike); merge each side."""
    merged = {name: [] for name in targets}
    used = {name: 0 for name in targets}
    for name, (server, payments) in targets.items():
        webhook_latency(server, payments, 10)  # warm
        used[name] = 10
    rounds = 6
    per_round = max(args.webhooks // rounds, 1)
    for _round in range(rounds):
        for name, (server, payments) in targets.items():
            merged[name].append(
                webhook_latency(server, payments[used[name] :], per_round)
            )
            used[name] += per_round
    return {name: merge(results) for name, results in merged.items()}


def merge(results):
    latencies = [value for result in results for value in result["latencies"]]
    entries = [entry for result in results for entry in result["entries"]]
    return {
        "count": len(latencies),
        "p50": common.percentile(latencies, 50),
        "p95": common.percentile(latencies, 95),
        "mean": common.mean(latencies),
        "queries": common.mean([e.queries for e in entries]),
        "server": common.mean([e.query_time + e.other_time for e in entries]),
    }


def report(args, odoo_version, r):
    sizes = r["sizes"]
    counts = sorted(sizes)
    page_rows = []
    for label in sizes[counts[0]]:
        cells = [label]
        for size in counts:
            low, high = sizes[size][label]["queries_range"]
            cells.append(f"{sizes[size][label]['queries']} ({low}-{high})")
        for size in counts:
            cells.append(common.ms(sizes[size][label]["p50"]))
        small, middle, large = (sizes[size][label]["queries"] for size in counts)
        cells.append(
            common.verdict(large <= middle)
            + ("" if large <= small else f" (+{large - small} vs {counts[0]})")
        )
        page_rows.append(cells)
    pages = common.markdown_table(
        [
            "page",
            *(f"queries, {size:,} records" for size in counts),
            *(f"p50 ms, {size:,}" for size in counts),
            f"{counts[-1]:,} ≤ {counts[1]:,}",
        ],
        page_rows,
    )
    latency, stored = r["latency"], r["stored"]
    ratio = latency["b"]["p50"] / latency["a"]["p50"]
    hooks = common.markdown_table(
        [
            "database",
            "stored events (end)",
            "events timed",
            "p50 ms",
            "p95 ms",
            "mean ms",
            "server ms (mean)",
            "queries/event",
        ],
        [
            [
                label,
                f"{stored[name]:,}",
                latency[name]["count"],
                common.ms(latency[name]["p50"]),
                common.ms(latency[name]["p95"]),
                common.ms(latency[name]["mean"]),
                common.ms(latency[name]["server"]),
                f"{latency[name]['queries']:.1f}",
            ]
            for name, label in (("a", "empty event table"), ("b", "100k events"))
        ],
    )
    verdict = common.verdict(ratio <= TARGET_LATENCY)
    body = f"""
{common.machine_line(odoo_version, args.load_before)}

Command: `python3 bench/scale.py --records {args.records} --events {args.events}`
(from the repository root).

Query counts (median of {REPEAT} requests and range, from Odoo's access log)
of the back-office transactions list (`web_search_read` with the list view's
fields, 80 rows a page, admin) and of the portal's `/my/omochi_orders` (the customer
owning every order, 20 a page) with the template's {counts[0]} orders and
payments, then {counts[1]:,}, then {counts[-1]:,} (copies made with SQL, then
`VACUUM ANALYZE`). The web client's list asks for the total count only when
the page is full (more records than the page holds): one query more than a
single short page, the same for 100 or 10,000 records.

{pages}

Webhook latency: signed `checkout.session.completed` events, one at a time,
each completing a payment, on two databases of {args.records:,} payments each
served by two servers (`--workers=2`) — one with an empty event table, one
with {args.events:,} processed events (realistic payloads spread over the
payments, `VACUUM ANALYZE`) — in alternate rounds, so that other work on the
machine weighs on both alike:

{hooks}

Target: p50 with {args.events:,} stored events within 20% of the empty-table
figure: {ratio:.2f}× — {verdict}.
"""
    common.write_section("scale", "Scale", body)
    print(pages)
    print()
    print(hooks)
    print(f"\nwebhook p50 ratio {ratio:.2f} ({verdict})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--webhooks", type=int, default=120)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    odoo_version = common.require_odoo()
    args.load_before = common.load_average()
    with common.workspace(args.keep_logs) as workdir:
        result = run(args, workdir, odoo_version)
    report(args, odoo_version, result)


if __name__ == "__main__":
    main()
