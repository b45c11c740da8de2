"""Benchmark databases: templates (installed addons and a seed, kept between
runs and rebuilt when the addons or the seed change), throwaway clones, and
the seed multiplied with SQL to the size a benchmark needs.

Every database the benchmarks touch is named ``omochi_bench*``."""

import contextlib
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testkit import db, odoo

from .constants import (
    ADDONS,
    DB_PREFIX,
    PORTAL_LOGIN,
    REPO,
    SEED_ORDERS,
    STRIPE_SECRET_KEY,
    WEBHOOK_SECRET,
)
from .report import log

SEEDS = REPO / "bench" / "seeds"
TEMPLATES = {
    # kind: (modules, seed module, its options, source folders in the fingerprint)
    "omochi": (
        odoo.ADDONS,
        "omochi",
        {"portal_login": PORTAL_LOGIN, "orders": SEED_ORDERS},
        ("omochi_orders", "omochi_payments", "testkit"),
    ),
    "odoo_stripe": (
        "payment_stripe",
        "odoo_stripe",
        {
            "secret_key": STRIPE_SECRET_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "transactions": SEED_ORDERS,
        },
        (),
    ),
}


def drop_database(name):
    assert name.startswith(DB_PREFIX), name
    db.drop_database(name)


def clone_database(template, purpose):
    return db.clone_database(template, f"{DB_PREFIX}_run_{purpose}_{os.getpid()}")


@contextlib.contextmanager
def throwaway(template, purpose):
    """A clone of ``template``, dropped at the end."""
    name = clone_database(template, purpose)
    try:
        yield name
    finally:
        drop_database(name)


def _fingerprint(kind, odoo_version):
    modules, seed, options, folders = TEMPLATES[kind]
    digest = hashlib.sha1(f"{odoo_version}\n{modules}\n{options}".encode())
    digest.update((SEEDS / f"{seed}.py").read_bytes())
    for folder in folders:
        root = REPO if folder == "testkit" else ADDONS
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def ensure_template(kind, workdir, odoo_version):
    """Return the name of the template database of ``kind``, building it
    (install + seed, about 30 s) when the addons changed since the last one."""
    flavour = kind if ADDONS == REPO else f"{kind}_alt"
    name = f"{DB_PREFIX}_tpl_{flavour}_{_fingerprint(kind, odoo_version)}"
    if db.databases(name):
        log(f"template {name} is up to date")
        return name
    for stale in db.databases(f"{DB_PREFIX}_tpl_{flavour}_%"):
        log(f"dropping the stale template {stale}")
        drop_database(stale)
    modules, seed, options, _folders = TEMPLATES[kind]
    building = f"{DB_PREFIX}_build_{kind}_{os.getpid()}"
    drop_database(building)
    config = odoo.write_config(workdir, ADDONS)
    logfile = Path(workdir) / f"build_{kind}.log"
    log(f"building the template {name} (installing {modules})")
    try:
        odoo.install(config, building, logfile, modules, demo=False)
        seeded = odoo.seed(config, building, logfile, f"bench.seeds.{seed}", **options)
        log(f"seeded {seeded}")
        db.query("postgres", f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    except odoo.OdooError as error:
        sys.exit(f"ERROR: building the template {name} failed: {error}")
    finally:
        drop_database(building)
    return name


def _columns(cursor, table):
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def clone_rows(cursor, table, source_sql, overrides):
    """``INSERT INTO table`` one row per row of ``source_sql`` (aliased ``s``,
    any other joined alias usable in ``overrides``), copying every column
    except ``id`` unless overridden."""
    columns = _columns(cursor, table)
    values = [overrides.get(column, f"s.{column}") for column in columns]
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} {source_sql}"
    )
    return cursor.rowcount


@dataclass
class Payment:
    transaction_id: int
    payment_id: str
    session_id: str
    order_id: int
    order_uuid: str
    amount_minor: int
    currency: str


def multiply_orders(dbname, count, tag, status="pending", with_session=True):
    """Add ``count`` confirmed orders (copies of the first seed order, lines
    included, same customer) with one transaction each in ``status``; return
    their :class:`Payment` records (the order of creation). With
    ``with_session`` each transaction has an open Checkout Session (a made-up
    id, expiring in 23 h); without, none was created yet (paying creates
    it)."""
    with contextlib.closing(db.connect(dbname, autocommit=False)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(order_id) FROM omochi_payment_transaction "
                "WHERE reference NOT LIKE 'BENCH%%'"
            )
            seed = cursor.fetchone()[0]
            prefix = f"BENCH/{tag}/"
            clone_rows(
                cursor,
                "omochi_order",
                f"FROM omochi_order s, generate_series(1, {int(count)}) g "
                f"WHERE s.id = {seed}",
                {
                    "uuid": "gen_random_uuid()::varchar",
                    "name": f"'{prefix}' || lpad(g::text, 6, '0')",
                    "access_token": "NULL",
                    "message_main_attachment_id": "NULL",
                    "create_date": "now() at time zone 'utc'",
                    "write_date": "now() at time zone 'utc'",
                },
            )
            if with_session:
                session_columns = {
                    "stripe_checkout_session_id": f"'cs_test_bench_{tag}_' || o.id",
                    "checkout_url": "'https://checkout.stripe.com/c/pay/' || "
                    f"'cs_test_bench_{tag}_' || o.id",
                    "expires_at": "now() at time zone 'utc' + interval '23 hours'",
                }
            else:
                session_columns = {
                    "stripe_checkout_session_id": "NULL",
                    "checkout_url": "NULL",
                    "expires_at": "NULL",
                    "stripe_checkout_attempt": "0",
                }
            new_orders = f"omochi_order o WHERE o.name LIKE '{prefix}%%'"
            clone_rows(
                cursor,
                "omochi_order_line",
                f"FROM omochi_order_line s, {new_orders} AND s.order_id = {seed}",
                {"order_id": "o.id"},
            )
            clone_rows(
                cursor,
                "omochi_payment_transaction",
                f"FROM omochi_payment_transaction s, {new_orders} "
                f"AND s.order_id = {seed}",
                {
                    "order_id": "o.id",
                    "uuid": "gen_random_uuid()::varchar",
                    "reference": "'BENCH' || o.name",
                    "status": f"'{status}'",
                    **session_columns,
                    "create_date": "now() at time zone 'utc'",
                    "write_date": "now() at time zone 'utc'",
                },
            )
            cursor.execute(
                f"""
                SELECT t.id, t.uuid, t.stripe_checkout_session_id, o.id, o.uuid,
                       t.amount, c.name, c.decimal_places
                  FROM omochi_payment_transaction t
                  JOIN omochi_order o ON o.id = t.order_id
                  JOIN res_currency c ON c.id = t.currency_id
                 WHERE o.name LIKE '{prefix}%%' ORDER BY o.name
                """
            )
            rows = cursor.fetchall()
        connection.commit()
    return [
        Payment(
            row[0], row[1], row[2], row[3], row[4], round(row[5] * 10 ** row[7]), row[6]
        )
        for row in rows
    ]


def wait_events_applied(dbname, timeout=600):
    """Wait until the cron workers have applied every acknowledged webhook
    event of ``dbname`` (none ``pending``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        query = "SELECT count(*) FROM omochi_payment_event WHERE state = 'pending'"
        if not db.query(dbname, query)[0][0]:
            return
        time.sleep(0.1)
    raise RuntimeError(f"webhook events still pending after {timeout} s")


def analyze(dbname):
    db.query(dbname, "VACUUM ANALYZE")


def config_param(dbname, key):
    rows = db.query(
        dbname, "SELECT value FROM ir_config_parameter WHERE key = %s", [key]
    )
    return rows[0][0] if rows else None
