"""Fixtures of the end-to-end suite: a real Odoo server process on loopback.

`.ci/run` hands over a database that already has both addons installed with
demo data (OMOCHI_E2E_DB, OMOCHI_E2E_CONFIG). Run on its own, the suite builds
such a database itself and drops it afterwards.
"""

import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from testkit import db, odoo
from testkit.simulator import stripe_api

# The live server's webhook signing secret (STRIPE_WEBHOOK_SECRET): the tests
# sign the events they deliver with it.
WEBHOOK_SECRET = os.environ.get("OMOCHI_E2E_WEBHOOK_SECRET", "whsec_omochi_e2e")
# Long cases (marked ``slow``) run only when this variable is 1.
SLOW_TESTS_VARIABLE = "OMOCHI_SLOW_TESTS"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"slow: a long case, deselected (not skipped) unless {SLOW_TESTS_VARIABLE}=1",
    )


def pytest_collection_modifyitems(config, items):
    """Deselect the ``slow`` cases unless OMOCHI_SLOW_TESTS=1: deselected
    rather than skipped, so that a run without them has no skipped test."""
    if os.environ.get(SLOW_TESTS_VARIABLE) == "1":
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """Shadow pytest-odoo's autouse fixture: this suite talks to a server
    process, it loads no Odoo registry itself (and may run without
    --odoo-database)."""
    yield


@pytest.fixture(scope="module", autouse=True)
def enable_odoo_test_flag():
    """Shadow pytest-odoo's autouse fixture (no in-process Odoo here)."""
    yield


def db_connect(config, database):
    """A psycopg2 connection to ``database`` with the settings of ``config``."""
    return db.connect(database, config)


@pytest.fixture(scope="session")
def odoo_database(tmp_path_factory):
    """(config path, database name) of a database with both addons and demo."""
    if os.environ.get("OMOCHI_E2E_DB"):
        yield Path(os.environ["OMOCHI_E2E_CONFIG"]), os.environ["OMOCHI_E2E_DB"]
        return
    directory = tmp_path_factory.mktemp("odoo")
    config = odoo.write_config(directory)
    database = f"omochi_e2e_{uuid.uuid4().hex[:8]}"
    try:
        odoo.install(config, database, directory / "install.log")
        yield config, database
    finally:
        db.drop_database(database, config)


@pytest.fixture(scope="session")
def stripe_webhook_endpoint():
    """A webhook endpoint of the simulator (all events), registered through the
    Stripe API before the server starts so that the server knows its signing
    secret; disabled (and aimed nowhere) until a test points it at the server:
    ``{"id", "secret"}``."""
    api = os.environ["OMOCHI_TEST_STRIPE_API_BASE"]
    endpoint = stripe_api(
        api,
        "/v1/webhook_endpoints",
        {"url": "http://127.0.0.1:9/unused", "enabled_events[]": "*"},
    )
    disabled = stripe_api(
        api, f"/v1/webhook_endpoints/{endpoint['id']}", {"disabled": "true"}
    )
    assert disabled["status"] == "disabled", disabled
    return {"id": endpoint["id"], "secret": endpoint["secret"]}


@pytest.fixture(scope="session")
def odoo_log(tmp_path_factory):
    """Path of the live server's log file (``odoo_url``'s ``--logfile``)."""
    return tmp_path_factory.mktemp("server") / "odoo.log"


@pytest.fixture(scope="session")
def odoo_url(odoo_database, odoo_log, stripe_webhook_endpoint):
    """Base URL of a live Odoo server (threaded, with two cron threads that
    apply the acknowledged webhook events, DESIGN §8) on the database,
    talking to the Stripe simulator; it logs to ``odoo_log``."""
    config, database = odoo_database
    # The server reaches Stripe through the simulator the root conftest started.
    # Ours and the simulator endpoint's webhook secrets: the environment's
    # secrets hide the companies' (precedence of DESIGN §5).
    stripe_env = odoo.stripe_environment(
        os.environ["OMOCHI_TEST_STRIPE_API_BASE"],
        os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"],
        (WEBHOOK_SECRET, stripe_webhook_endpoint["secret"]),
    )
    server = odoo.OdooServer(
        config, database, odoo_log, cron_threads=2, env=stripe_env
    ).start()
    yield server.url
    server.stop()  # graceful: Odoo finishes the requests under way


@pytest.fixture(scope="session")
def odoo_sql(odoo_database):
    """Run one SQL statement on the live server's database (autocommit: each
    one sees what the server committed); return its rows, if any."""
    connection = db_connect(*odoo_database)
    connection.autocommit = True

    def sql(query, params=None):
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    yield sql
    connection.close()


EVENTS_APPLIED_TIMEOUT = 60


@pytest.fixture(scope="session")
def wait_events_applied(odoo_url, odoo_sql):
    """Wait until the server's cron workers have applied the acknowledged
    webhook events (``stripe_event_ids``, or every event): none ``pending``.

    :return: ``{stripe_event_id: state}`` of the events waited for.
    """

    def wait(stripe_event_ids=None, timeout=EVENTS_APPLIED_TIMEOUT):
        query = "SELECT stripe_event_id, state FROM omochi_payment_event"
        params = None
        if stripe_event_ids is not None:
            query += " WHERE stripe_event_id = ANY(%s)"
            params = [list(stripe_event_ids)]
        deadline = time.monotonic() + timeout
        while True:
            states = dict(odoo_sql(query, params))
            if "pending" not in states.values():
                return states
            if time.monotonic() > deadline:
                pending = sorted(k for k, v in states.items() if v == "pending")
                pytest.fail(f"events still pending after {timeout} s: {pending[:10]}")
            time.sleep(0.1)

    return wait


class JsonRpcError(Exception):
    """An error answered by Odoo's /jsonrpc endpoint."""

    def __init__(self, error):
        data = error.get("data") or {}
        self.name = data.get("name", "")
        super().__init__(f"{self.name}: {data.get('message', error.get('message'))}")


class JsonRpc:
    """A minimal client of Odoo's external API (`/jsonrpc`)."""

    Error = JsonRpcError

    def __init__(self, url, database):
        self.url = f"{url}/jsonrpc"
        self.database = database

    def call(self, service, method, *args):
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": 1,
        }
        answer = requests.post(self.url, json=payload, timeout=30).json()
        if "error" in answer:
            raise JsonRpcError(answer["error"])
        return answer["result"]

    def login(self, login, password):
        """Return an `execute_kw` caller bound to that user, or fail."""
        uid = self.call("common", "login", self.database, login, password)
        assert uid, f"{login} could not log in"

        def execute_kw(model, method, args, kwargs=None):
            return self.call(
                "object",
                "execute_kw",
                self.database,
                uid,
                password,
                model,
                method,
                args,
                kwargs or {},
            )

        return execute_kw


@pytest.fixture(scope="session")
def jsonrpc(odoo_url, odoo_database):
    return JsonRpc(odoo_url, odoo_database[1])


@pytest.fixture(scope="session")
def simulator_url():
    """Base URL of the Stripe simulator that the live server talks to (the root
    conftest started it); its control interface lies under ``/_sim``."""
    return os.environ["OMOCHI_TEST_STRIPE_API_BASE"]


@pytest.fixture(scope="session")
def webhook_secret():
    """The signing secret the live server verifies Stripe webhooks with."""
    return WEBHOOK_SECRET


def _web_call(session, url, path, params):
    """Call one of the web client's JSON routes in a logged-in ``session``."""
    payload = {"jsonrpc": "2.0", "method": "call", "params": params, "id": 1}
    answer = session.post(f"{url}{path}", json=payload, timeout=30).json()
    if "error" in answer:
        raise JsonRpcError(answer["error"])
    return answer["result"]


@pytest.fixture(scope="session")
def admin_api_key(odoo_url, odoo_database):
    """An API key of admin, made as in Preferences ▸ Account Security ▸ New API
    Key: the key wizard runs behind the password check, in a web session."""
    session = requests.Session()
    _web_call(
        session,
        odoo_url,
        "/web/session/authenticate",
        {"db": odoo_database[1], "login": "admin", "password": "admin"},
    )

    def call(model, method, args, button=False):
        path = "/web/dataset/call_button" if button else "/web/dataset/call_kw"
        params = {"model": model, "method": method, "args": args, "kwargs": {}}
        return _web_call(session, odoo_url, path, params)

    wizard = call("res.users.apikeys.description", "create", [{"name": "e2e"}])
    check = call("res.users.apikeys.description", "make_key", [[wizard]], button=True)
    assert check["res_model"] == "res.users.identitycheck", check
    call("res.users.identitycheck", "write", [[check["res_id"]], {"password": "admin"}])
    shown = call("res.users.identitycheck", "run_check", [[check["res_id"]]], True)
    return shown["context"]["default_key"]
