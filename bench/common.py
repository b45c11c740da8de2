"""Shared machinery of the benchmarks (see bench/README.md).

Databases: every database the benchmarks touch is named ``omochi_bench*``.
A *template* (``omochi_bench_tpl_<kind>_<fingerprint>``) holds the installed
addons and a small seed (users, an API key, ten confirmed orders with a
pending payment each); it is kept between runs and rebuilt when the addons'
sources or the seed change. Each run clones it into a throwaway
``omochi_bench_run_*`` database, multiplies the seed with SQL to the size it
needs, and drops the clone at the end.

Servers: ``python3 -m odoo --workers=2`` on a free loopback port, no cron,
``--log-level=info`` into a log file whose werkzeug lines end with
``<queries> <query time> <remaining time>`` (parsed by ``access_log``).
"""

import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "BENCHMARKS.md"
PYTHON = os.environ.get("PYTHON", sys.executable)
# Several people benchmarking on one PostgreSQL set their own prefix.
DB_PREFIX = os.environ.get("OMOCHI_BENCH_DB_PREFIX", "omochi_bench")
WEBHOOK_SECRET = "whsec_omochi_bench"
STRIPE_SECRET_KEY = "sk_test_omochi_bench"
PORTAL_LOGIN = "bench_portal"
STARTUP_TIMEOUT = 120
SEED_ORDERS = 10

DB_SETTINGS = {
    "host": os.environ.get("OMOCHI_DB_HOST", "127.0.0.1"),
    "port": os.environ.get("OMOCHI_DB_PORT", "5432"),
    "user": os.environ.get("OMOCHI_DB_USER", "odoo"),
    "password": os.environ.get("OMOCHI_DB_PASSWORD", ""),
}


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# Prerequisites
# ----------------------------------------------------------------------------


def require_odoo():
    """Return Odoo's version, or exit with a clear message when ``PYTHON``
    cannot import Odoo 18 (the benchmarks run this machine's Odoo)."""
    probe = subprocess.run(
        [PYTHON, "-c", "import odoo.release as r; print(r.version)"],
        capture_output=True,
        text=True,
        check=False,
    )
    version = probe.stdout.strip()
    if probe.returncode or not version.startswith("18."):
        sys.exit(
            f"ERROR: '{PYTHON}' cannot import Odoo 18.0 "
            f"(found: {version or 'no odoo package'}).\n"
            "The benchmarks start this machine's Odoo (python3 -m odoo): install "
            "Odoo 18.0 for this Python as README.md, Prerequisites, says, or set "
            "PYTHON to an interpreter that imports it."
        )
    return version


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The addon's own signing helper, loaded alone (no Odoo in this process).
signature_header = _load_module(
    "omochi_bench_stripe_signature",
    REPO / "omochi_payments" / "tools" / "stripe_signature.py",
).signature_header


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------


def pg_connect(dbname="postgres", autocommit=True):
    import psycopg2  # an Odoo dependency, present wherever Odoo runs

    connection = psycopg2.connect(dbname=dbname, **DB_SETTINGS)
    connection.autocommit = autocommit
    return connection


def pg_query(dbname, sql, params=None):
    """Run one statement in ``dbname``; return its rows (or ``[]``)."""
    with (
        contextlib.closing(pg_connect(dbname)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def pg_version():
    return pg_query("postgres", "SHOW server_version")[0][0]


def databases(like):
    rows = pg_query(
        "postgres", "SELECT datname FROM pg_database WHERE datname LIKE %s", [like]
    )
    return [row[0] for row in rows]


def drop_database(name):
    assert name.startswith(DB_PREFIX), name
    pg_query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clone_database(template, purpose):
    name = f"{DB_PREFIX}_run_{purpose}_{os.getpid()}"
    drop_database(name)
    pg_query("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


# ----------------------------------------------------------------------------
# Odoo configuration and templates
# ----------------------------------------------------------------------------


# A folder holding other copies of omochi_orders/omochi_payments (e.g. with an
# optimisation to try) replaces the repository's in the addons path.
ADDONS = Path(os.environ.get("OMOCHI_BENCH_ADDONS") or REPO).resolve()


def addons_path():
    paths = subprocess.run(
        [str(REPO / "bin" / "odoo-addons-path")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": PYTHON},
    ).stdout.strip()
    return ",".join(
        str(ADDONS) if Path(path).resolve() == REPO else path
        for path in paths.split(",")
    )


def write_config(directory):
    config = Path(directory) / "odoo.conf"
    config.write_text(
        "[options]\n"
        f"addons_path = {addons_path()}\n"
        f"data_dir = {directory}/data\n"
        f"db_host = {DB_SETTINGS['host']}\n"
        f"db_port = {DB_SETTINGS['port']}\n"
        f"db_user = {DB_SETTINGS['user']}\n"
        f"db_password = {DB_SETTINGS['password']}\n"
        "list_db = False\n"
    )
    return config


SEED_OMOCHI = f'''
from datetime import timedelta
from odoo import fields
admin = env.ref("base.user_admin")
key = env["res.users.apikeys"].with_user(admin)._generate("rpc", "bench", None)
env["ir.config_parameter"].sudo().set_param("omochi_bench.api_key", key)
portal = env["res.users"].with_context(no_reset_password=True).create({{
    "name": "Bench Portal Customer",
    "login": "{PORTAL_LOGIN}",
    "password": "{PORTAL_LOGIN}",
    "email": "bench.portal@example.com",
    "groups_id": [(6, 0, [env.ref("base.group_portal").id])],
}})
Order = env["omochi.order"].with_user(admin).with_context(tracking_disable=False)
for index in range({SEED_ORDERS}):
    order = Order.create({{
        "partner_id": portal.partner_id.id,
        "line_ids": [
            (0, 0, {{"name": "Daifuku", "quantity": 3, "price_unit": 4.5}}),
            (0, 0, {{"name": "Mochi ice", "quantity": 2, "price_unit": 3.0}}),
        ],
    }})
    order.action_confirm()
    tx = env["omochi.payment.transaction"].sudo().create({{"order_id": order.id}})
    tx.write({{
        "stripe_checkout_session_id": f"cs_test_benchseed{{index}}",
        "checkout_url": f"https://checkout.stripe.com/c/pay/cs_test_benchseed{{index}}",
        "stripe_checkout_attempt": 1,
        "expires_at": fields.Datetime.now() + timedelta(hours=23),
    }})
env.cr.commit()
print("seeded", Order.search_count([]), "orders")
'''

SEED_ODOO_STRIPE = (
    """
provider = env.ref("payment.payment_provider_stripe")
provider.write({
    "state": "test",
    "stripe_publishable_key": "pk_test_omochi_bench",
    "stripe_secret_key": "{secret_key}",
    "stripe_webhook_secret": "{webhook_secret}",
})
partner = env["res.partner"].create({"name": "Bench Stripe Customer",
                                     "email": "bench.stripe@example.com"})
method = env.ref("payment.payment_method_card")
for index in range({seed_orders}):
    env["payment.transaction"].create({
        "provider_id": provider.id,
        "payment_method_id": method.id,
        "reference": f"BENCHSEED-{index}",
        "amount": 19.5,
        "currency_id": env.company.currency_id.id,
        "partner_id": partner.id,
        "state": "pending",
        "provider_reference": f"pi_benchseed{index}",
    })
env.cr.commit()
print("seeded", env["payment.transaction"].search_count([]), "transactions")
""".replace("{secret_key}", STRIPE_SECRET_KEY)
    .replace("{webhook_secret}", WEBHOOK_SECRET)
    .replace("{seed_orders}", str(SEED_ORDERS))
)

TEMPLATES = {
    # kind: (modules, seed script, source folders in the fingerprint)
    "omochi": (
        "omochi_orders,omochi_payments",
        SEED_OMOCHI,
        ("omochi_orders", "omochi_payments"),
    ),
    "odoo_stripe": ("payment_stripe", SEED_ODOO_STRIPE, ()),
}


def _fingerprint(kind, odoo_version):
    modules, seed, folders = TEMPLATES[kind]
    digest = hashlib.sha1(f"{odoo_version}\n{modules}\n{seed}".encode())
    for folder in folders:
        for path in sorted((ADDONS / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ADDONS)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def ensure_template(kind, workdir, odoo_version):
    """Return the name of the template database of ``kind``, building it
    (install + seed, about 30 s) when the addons changed since the last one."""
    flavour = kind if ADDONS == REPO else f"{kind}_alt"
    name = f"{DB_PREFIX}_tpl_{flavour}_{_fingerprint(kind, odoo_version)}"
    if databases(name):
        log(f"template {name} is up to date")
        return name
    for stale in databases(f"{DB_PREFIX}_tpl_{flavour}_%"):
        log(f"dropping the stale template {stale}")
        drop_database(stale)
    modules, seed, _folders = TEMPLATES[kind]
    building = f"{DB_PREFIX}_build_{kind}_{os.getpid()}"
    drop_database(building)
    config = write_config(workdir)
    logfile = Path(workdir) / f"build_{kind}.log"
    log(f"building the template {name} (installing {modules})")
    common = [PYTHON, "-m", "odoo", "-c", str(config), "-d", building]
    steps = (
        (
            [*common, "-i", modules, "--without-demo=all", "--stop-after-init"],
            None,
        ),
        ([*common[:3], "shell", *common[3:]], seed),
    )
    try:
        for command, stdin in steps:
            done = subprocess.run(
                [*command, "--no-http", f"--logfile={logfile}", "--log-level=warn"],
                input=stdin,
                text=True,
                capture_output=True,
                cwd=REPO,
                check=False,
            )
            if done.returncode:
                sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
                sys.stderr.write(logfile.read_text()[-3000:])
                sys.exit(f"ERROR: building the template {name} failed")
        pg_query("postgres", f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    finally:
        drop_database(building)
    return name


# ----------------------------------------------------------------------------
# Data: multiply the seed with SQL
# ----------------------------------------------------------------------------


def _columns(cursor, table):
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _clone_rows(cursor, table, source_sql, overrides):
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
    with contextlib.closing(pg_connect(dbname, autocommit=False)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(order_id) FROM omochi_payment_transaction "
                "WHERE reference NOT LIKE 'BENCH%%'"
            )
            seed = cursor.fetchone()[0]
            prefix = f"BENCH/{tag}/"
            _clone_rows(
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
            _clone_rows(
                cursor,
                "omochi_order_line",
                f"FROM omochi_order_line s, {new_orders} AND s.order_id = {seed}",
                {"order_id": "o.id"},
            )
            _clone_rows(
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
        if not pg_query(dbname, query)[0][0]:
            return
        time.sleep(0.1)
    raise RuntimeError(f"webhook events still pending after {timeout} s")


def analyze(dbname):
    pg_query(dbname, "VACUUM ANALYZE")


def config_param(dbname, key):
    rows = pg_query(
        dbname, "SELECT value FROM ir_config_parameter WHERE key = %s", [key]
    )
    return rows[0][0] if rows else None


# ----------------------------------------------------------------------------
# Stripe events
# ----------------------------------------------------------------------------


def checkout_completed_event(payment, event_id=None):
    """A ``checkout.session.completed`` event (paid) for ``payment``, shaped
    as Stripe sends it (API version 2023-10-16)."""
    now = int(time.time())
    metadata = {
        "payment_id": payment.payment_id,
        "order_id": payment.order_uuid,
        "order_name": "OM/bench",
    }
    session = {
        "id": payment.session_id,
        "object": "checkout.session",
        "amount_subtotal": payment.amount_minor,
        "amount_total": payment.amount_minor,
        "client_reference_id": payment.payment_id,
        "created": now - 60,
        "currency": payment.currency.lower(),
        "customer_email": "bench.portal@example.com",
        "expires_at": now + 86000,
        "livemode": False,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": f"pi_bench{payment.transaction_id}",
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "success_url": "http://localhost:3000/payment/status?status=success",
        "cancel_url": "http://localhost:3000/payment/status?status=cancelled",
        "url": None,
    }
    return {
        "id": event_id or f"evt_bench_{payment.transaction_id}_{os.urandom(4).hex()}",
        "object": "event",
        "api_version": "2023-10-16",
        "created": now,
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }


def signed_headers(body, secret=WEBHOOK_SECRET):
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, secret),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


# ----------------------------------------------------------------------------
# Processes: the Stripe simulator and Odoo
# ----------------------------------------------------------------------------


def _wait_http(url, process, what, logfile=None):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            if http_request("GET", url, timeout=2).status == 200:
                return
        time.sleep(0.3)
    process.kill()
    detail = f"; see {logfile}" if logfile else ""
    sys.exit(f"ERROR: {what} did not start{detail}")


def _stop(process, timeout=30):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def simulator():
    """Run the project's Stripe simulator (``python -m stripe_sim``) on a free
    loopback port; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "stripe_sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            STRIPE_SECRET_KEY,
            "--quiet",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/_sim/health", process, "the Stripe simulator")
        yield url
    finally:
        _stop(process, 10)


class OdooServer:
    """``python3 -m odoo --workers=2`` on ``dbname`` (loopback, free port, no
    cron threads unless ``cron_threads``, INFO log into ``self.logfile``).

    ``-d`` without ``--db-filter``, as a single-database production server:
    Odoo then does not list the databases on every request (a filter would
    add a ``pg_database`` query to each one, the no-op route included)."""

    def __init__(
        self, dbname, workdir, workers=2, env=None, log_sql=False, cron_threads=0
    ):
        self.dbname = dbname
        self.workdir = Path(workdir)
        self.workers = workers
        self.cron_threads = cron_threads
        self.env = env or {}
        self.log_sql = log_sql
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = self.workdir / f"odoo_{dbname}_{self.port}.log"
        self.process = None

    def __enter__(self):
        config = write_config(self.workdir)
        command = [
            PYTHON,
            "-m",
            "odoo",
            "-c",
            str(config),
            "-d",
            self.dbname,
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--gevent-port={free_port()}",
            f"--workers={self.workers}",
            f"--max-cron-threads={self.cron_threads}",
            "--limit-time-real=300",
            f"--logfile={self.logfile}",
            "--log-level=info",
        ]
        if self.log_sql:
            command.append("--log-sql")
        environment = {
            **os.environ,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            **self.env,
        }
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_http(f"{self.url}/web/health", self.process, "Odoo", self.logfile)
        log(
            f"Odoo (workers={self.workers}, cron threads={self.cron_threads}) "
            f"serves {self.dbname} at {self.url}"
        )
        return self

    def __exit__(self, *exc):
        _stop(self.process)

    def mark(self):
        """The current end of the log (give it to ``access_log``)."""
        time.sleep(0.3)  # let the workers write their last lines
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_text(self, start=0, end=None):
        with open(self.logfile, "rb") as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(end - start)
        return data.decode("utf-8", "replace")

    def access_log(self, start=0, end=None, path=None):
        """Parsed werkzeug lines between two marks (optionally one path)."""
        entries = parse_access_log(self.log_text(start, end))
        return [e for e in entries if path is None or e.path.startswith(path)]

    def count_log(self, pattern, start=0, end=None):
        return len(re.findall(pattern, self.log_text(start, end), re.MULTILINE))


# ----------------------------------------------------------------------------
# Access log
# ----------------------------------------------------------------------------

ACCESS_LINE = re.compile(
    r"^\S+ \S+ (?P<pid>\d+) \w+ \S+ werkzeug: \S+ - - \[[^\]]*\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \S+ '
    r"(?P<queries>\d+) (?P<query_time>[\d.]+) (?P<other_time>[\d.]+)",
    re.MULTILINE,
)


@dataclass
class AccessEntry:
    pid: int
    method: str
    path: str
    status: int
    queries: int
    query_time: float
    other_time: float


def parse_access_log(text):
    return [
        AccessEntry(
            int(m["pid"]),
            m["method"],
            m["path"],
            int(m["status"]),
            int(m["queries"]),
            float(m["query_time"]),
            float(m["other_time"]),
        )
        for m in ACCESS_LINE.finditer(text)
    ]


# ----------------------------------------------------------------------------
# HTTP load
# ----------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict


def http_request(method, url, body=None, headers=None, timeout=120):
    """One request on a fresh connection (Odoo's prefork workers serve one
    connection at a time)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(
            method,
            target,
            body=body,
            headers={"Connection": "close", **(headers or {})},
        )
        answer = connection.getresponse()
        return Response(answer.status, answer.read(), dict(answer.getheaders()))
    finally:
        connection.close()


@dataclass
class LoadResult:
    label: str
    concurrency: int
    latencies: list = field(default_factory=list)  # seconds, completed requests
    statuses: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # connection errors
    bodies: list = field(default_factory=list)
    elapsed: float = 0.0
    resets: int = 0  # connection resets sent again (burst)

    @property
    def count(self):
        return len(self.latencies)

    @property
    def rate(self):
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile(self, q):
        return percentile(self.latencies, q)

    @property
    def server_errors(self):
        return sum(1 for status in self.statuses if status >= 500) + len(self.errors)

    def status_counts(self):
        counts = {}
        for status in self.statuses:
            counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))


def run_load(
    label,
    make_request,
    concurrency,
    duration=None,
    max_requests=None,
    keep_bodies=False,
):
    """Call ``make_request(index)`` from ``concurrency`` threads until
    ``duration`` seconds passed or ``max_requests`` were started (each
    bounds the run); ``make_request`` returns ``(method, url, body,
    headers)`` and is prepared before the clock of its request starts."""
    assert duration or max_requests
    result = LoadResult(label, concurrency)
    lock = threading.Lock()
    counter = iter(range(max_requests or 10**9))
    barrier = threading.Barrier(concurrency + 1)
    deadline = [None]

    def worker():
        barrier.wait()
        while True:
            with lock:
                index = next(counter, None)
            if index is None or (deadline[0] and time.perf_counter() > deadline[0]):
                return
            method, url, body, headers = make_request(index)
            started = time.perf_counter()
            try:
                answer = http_request(method, url, body, headers)
            except OSError as error:
                with lock:
                    result.errors.append(repr(error))
                continue
            latency = time.perf_counter() - started
            with lock:
                result.latencies.append(latency)
                result.statuses.append(answer.status)
                if keep_bodies:
                    result.bodies.append(answer.body)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    if duration:
        deadline[0] = started + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    return result


def burst(label, requests_, timeout=120, resend_resets=0):
    """Send every ``(method, url, body, headers)`` of ``requests_`` from its
    own thread, all released at the same moment (a barrier). A connection
    reset before any answer is sent again up to ``resend_resets`` times (as
    Stripe redelivers), counted in ``result.resets``; the latency runs from
    the first attempt."""
    result = LoadResult(label, len(requests_))
    lock = threading.Lock()
    barrier = threading.Barrier(len(requests_) + 1)
    answers = [None] * len(requests_)

    def worker(index, request):
        barrier.wait()
        started = time.perf_counter()
        for attempt in range(1 + resend_resets):
            try:
                answer = http_request(*request, timeout=timeout)
            except ConnectionResetError as error:
                with lock:
                    result.resets += 1
                if attempt < resend_resets:
                    continue
                answers[index] = (None, repr(error), time.perf_counter() - started)
                return
            except OSError as error:
                answers[index] = (None, repr(error), time.perf_counter() - started)
                return
            answers[index] = (answer, None, time.perf_counter() - started)
            return

    threads = [
        threading.Thread(target=worker, args=(index, request), daemon=True)
        for index, request in enumerate(requests_)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    for answer, error, latency in answers:
        if error:
            result.errors.append(error)
            continue
        result.latencies.append(latency)
        result.statuses.append(answer.status)
        result.bodies.append(answer.body)
    return result


def percentile(values, q):
    """The ``q``-th percentile (0-100) with linear interpolation between the
    closest ranks (numpy's default); ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def ms(seconds):
    return f"{seconds * 1000:.1f}"


# ----------------------------------------------------------------------------
# Sessions (logged-in web clients)
# ----------------------------------------------------------------------------


def web_login(url, dbname, login, password):
    """Log in through ``/web/session/authenticate``; return the session
    cookie header."""
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {"db": dbname, "login": login, "password": password},
    }
    answer = http_request(
        "POST",
        f"{url}/web/session/authenticate",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json"},
    )
    data = json.loads(answer.body)
    if "error" in data or not data.get("result", {}).get("uid"):
        sys.exit(f"ERROR: {login} could not log in: {data}")
    cookie = answer.headers.get("Set-Cookie", "")
    return cookie.split(";", 1)[0]


def json_rpc(url, path, params, cookie):
    payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
    return (
        "POST",
        f"{url}{path}",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", "Cookie": cookie},
    )


# ----------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------


def markdown_table(headers, rows):
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def load_average():
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def machine_line(odoo_version, load_before):
    """The machine, the versions, and the load averages (1/5/15 min) before
    and after the run: other work on the machine skews the figures."""
    return (
        f"Machine: {os.cpu_count()} CPUs (`os.cpu_count()`), Odoo {odoo_version}, "
        f"PostgreSQL {pg_version()}, Python {sys.version.split()[0]}; "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load_before} before, {load_average()} after."
    )


DOCS_HEADER = """# Benchmarks

Figures printed by the commands of `bench/` (see `bench/README.md`). Each
section between `bench:` markers is rewritten by its command; the rest of this
file is kept as written.
"""


def write_section(name, title, body):
    """Write (or replace) the section ``name`` of docs/BENCHMARKS.md, leaving
    every other section as it is."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    text = DOCS.read_text() if DOCS.exists() else DOCS_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)
    log(f"wrote the section '{name}' of {DOCS.relative_to(REPO)}")


def verdict(met):
    return "met" if met else "**not met**"


@contextlib.contextmanager
def workspace(keep=False):
    """A temporary directory for configs and logs (kept with ``keep``)."""
    directory = tempfile.mkdtemp(prefix="omochi-bench-")
    try:
        yield Path(directory)
    finally:
        if keep:
            log(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def throwaway(template, purpose):
    """A clone of ``template``, dropped at the end."""
    name = clone_database(template, purpose)
    try:
        yield name
    finally:
        drop_database(name)
