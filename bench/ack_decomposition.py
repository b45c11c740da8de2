"""The webhook's acknowledgement alone, and while Odoo's cron workers apply.

Issue 11's ratio A (acknowledgements/s ÷ ``/web/health``/s at c=8) on two
server configurations, one fresh database each. Short health and webhook
phases alternate (``--rounds`` pairs): the machine's speed drifts from phase
to phase, so the median ratio of the pairs is reported, with its range.

- **applying off**: ``--max-cron-threads=0``: the acknowledgement alone (the
  events stay pending);
- **applying on**: ``--max-cron-threads=2``, as ``webhook_throughput.py``
  runs it: the cron workers apply the events, on the same CPUs, while the
  next ones arrive.

    python3 bench/ack_decomposition.py [--rounds 4] [--duration 5]
"""

import os
import statistics
import sys

# The repository's root: the bench kit, the test kit and the seeds.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import benchkit
from bench.webhook_throughput import (
    CRON_THREADS,
    HEALTH,
    TARGET_RATIO,
    WEBHOOK,
    health_request,
    omochi_request,
)

CONCURRENCY = 8
# (label, cron threads)
CONFIGURATIONS = (("applying off", 0), ("applying on", CRON_THREADS))
MAX_ACKS_PER_SECOND = 400  # sizes the pool of payments


def measure(args, workdir, odoo_version, cron_threads):
    """Alternate health and webhook phases on a fresh database; return the
    ``(health/s, webhook/s)`` of each pair."""
    template = benchkit.ensure_template("omochi", workdir, odoo_version)
    with benchkit.throwaway(template, "ack") as dbname:
        pool = int(MAX_ACKS_PER_SECOND * args.duration * args.rounds) + 20
        payments = benchkit.multiply_orders(dbname, pool, "ack")
        benchkit.analyze(dbname)
        with benchkit.OdooServer(dbname, workdir, cron_threads=cron_threads) as server:
            health = health_request(server)
            webhook = omochi_request(server, payments)
            benchkit.run_load("warmup", health, 2, max_requests=40)
            benchkit.run_load("warmup", webhook, 2, max_requests=20)
            used, pairs = 20, []
            for _round in range(args.rounds):
                health_result = benchkit.run_load(
                    "health", health, CONCURRENCY, duration=args.duration
                )
                offset = used
                webhook_result = benchkit.run_load(
                    "webhook",
                    lambda index, offset=offset: webhook(offset + index),
                    CONCURRENCY,
                    duration=args.duration,
                    max_requests=pool - used,
                )
                used += webhook_result.count + len(webhook_result.errors)
                if webhook_result.server_errors:
                    sys.exit(f"ERROR: {webhook_result.server_errors} failed deliveries")
                pairs.append((health_result.rate, webhook_result.rate))
                benchkit.log(
                    f"{HEALTH} {health_result.rate:.0f}/s, {WEBHOOK} "
                    f"{webhook_result.rate:.0f}/s "
                    f"({webhook_result.rate / health_result.rate:.2f})"
                )
    return pairs


def run(args, workdir, odoo_version):
    results = []
    for label, cron_threads in CONFIGURATIONS:
        benchkit.log(f"{label}: cron threads {cron_threads}")
        pairs = measure(args, workdir, odoo_version, cron_threads)
        results.append((label, cron_threads, pairs))
    return results


def report(args, odoo_version, results):
    rows = []
    for label, cron_threads, pairs in results:
        ratios = [webhook / health for health, webhook in pairs]
        rows.append(
            [
                label,
                cron_threads,
                f"{statistics.median(webhook for _health, webhook in pairs):.0f}",
                f"{statistics.median(health for health, _webhook in pairs):.0f}",
                f"**{statistics.median(ratios):.2f}**",
                f"{min(ratios):.2f}–{max(ratios):.2f}",
            ]
        )
    table = benchkit.markdown_table(
        [
            "configuration",
            "cron threads",
            f"{WEBHOOK} /s (median)",
            f"{HEALTH} /s (median)",
            f"A, median of {args.rounds}",
            "A, range",
        ],
        rows,
    )
    print(table)
    body = f"""
Command: `python3 bench/ack_decomposition.py --rounds {args.rounds} --duration \
{args.duration}` (c={CONCURRENCY}, `--workers=2`, one fresh database per row;
each round is a {args.duration} s `{HEALTH}` phase followed by a
{args.duration} s webhook phase; the target of A is {TARGET_RATIO}).

{benchkit.machine_line(odoo_version, args.load_before)}

{table}

"Applying off" is the acknowledgement alone: the events it stores stay
pending. "Applying on" is how `webhook_throughput.py` measures A: the cron
workers apply the events on the same CPUs while the next ones arrive.
"""
    benchkit.write_section("ack-decomposition", "Acknowledgement decomposition", body)


def add_arguments(parser):
    parser.add_argument("--rounds", type=int, default=4, help="health/webhook pairs")
    parser.add_argument("--duration", type=float, default=5.0, help="s per phase")


if __name__ == "__main__":
    benchkit.main(__doc__, add_arguments, run, report)
