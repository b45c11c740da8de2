"""Property-based conformance of the live ``/api`` routes to their OpenAPI
document (``/api/openapi.json``), with schemathesis.

Schemathesis reads the document the live server serves and generates requests
for every operation (a bounded, seeded number per operation), sent with an
admin API key; every answer must be no server error and must conform to the
document: a documented status, content type and body schema. A share of the
generated requests is aimed at real data (a payable and a draft order, an
existing Checkout Session) so that the successes and 409s are exercised too,
not only the 404s of random UUIDs.
"""

import hashlib
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ADMIN = ("admin", "admin")
MAX_EXAMPLES = 25
SEED = 20261127
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CONFIG = {
    "seed": SEED,
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
    },
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 60,
}


@pytest.fixture(scope="session")
def api_schema(odoo_url):
    """The document, as the live server serves it."""
    return schemathesis.openapi.from_url(
        f"{odoo_url}/api/openapi.json",
        config=schemathesis.Config.from_dict(CONFIG),
        timeout=30,
    )


@pytest.fixture(scope="session")
def real_data(odoo_url, jsonrpc, admin_api_key):
    """Uuids of a payable and of a draft order, and a Checkout Session id."""
    admin = jsonrpc.login(*ADMIN)
    partner = admin(
        "res.partner",
        "create",
        [{"name": "Schemathesis Customer", "email": "schemathesis@example.com"}],
    )

    def order(confirm):
        line = {"name": "Daifuku", "quantity": 2, "price_unit": 6.5}
        order_id = admin(
            "omochi.order",
            "create",
            [{"partner_id": partner, "line_ids": [(0, 0, line)]}],
        )
        if confirm:
            admin("omochi.order", "action_confirm", [[order_id]])
        [values] = admin("omochi.order", "read", [[order_id], ["uuid"]])
        return values["uuid"]

    payable, draft, paid_once = order(True), order(False), order(True)
    answer = requests.post(
        f"{odoo_url}/api/orders/{paid_once}/pay/",
        headers={"Authorization": f"Bearer {admin_api_key}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return {
        "orders": (payable, draft),
        "session_id": answer.json()["checkout_session_id"],
    }


def aim_at_real_data(case, real_data):
    """Point two thirds of the generated order ids (one third of the session
    ids) at real records, chosen by a hash of the generated value."""

    def pick(value, choices):
        if not isinstance(value, str):
            return value
        index = hashlib.sha256(value.encode()).digest()[0] % (len(choices) + 1)
        return choices[index] if index < len(choices) else value

    path = case.path_parameters or {}
    if isinstance(path.get("order_id"), str):
        path["order_id"] = pick(path["order_id"], real_data["orders"])
    if isinstance(case.body, dict) and "order_id" in case.body:
        case.body["order_id"] = pick(case.body["order_id"], real_data["orders"])
    query = case.query or {}
    if isinstance(query.get("session_id"), str):
        query["session_id"] = pick(query["session_id"], (real_data["session_id"],))


schema = schemathesis.pytest.from_fixture("api_schema")
# operation label -> Counter of the statuses it answered
ANSWERED = {}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_openapi_document(case, odoo_url, admin_api_key, real_data):
    aim_at_real_data(case, real_data)
    response = case.call_and_validate(
        base_url=odoo_url,
        headers={"Authorization": f"Bearer {admin_api_key}"},
        checks=CHECKS,
        timeout=60,
    )
    ANSWERED.setdefault(case.operation.label, Counter())[response.status_code] += 1


def test_openapi_document_is_public(odoo_url):
    """The document itself needs no credentials."""
    answer = requests.get(f"{odoo_url}/api/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    assert document["openapi"].startswith("3.1.")


def test_the_run_reached_the_routes():
    """The generated requests reached every documented operation (but the
    document's own GET, which schemathesis leaves out) and real outcomes:
    sessions created or reused, a status answered."""
    assert ANSWERED, "runs after test_api_conforms_to_its_openapi_document"
    assert set(ANSWERED) == {
        "POST /api/orders/{order_id}/pay/",
        "OPTIONS /api/orders/{order_id}/pay/",
        "POST /api/payments/create_checkout_session/",
        "OPTIONS /api/payments/create_checkout_session/",
        "GET /api/payments/check_status/",
        "OPTIONS /api/payments/check_status/",
        "POST /api/payments/webhook/",
        "OPTIONS /api/openapi.json",
    }
    pay_statuses = set(ANSWERED["POST /api/orders/{order_id}/pay/"]) | set(
        ANSWERED["POST /api/payments/create_checkout_session/"]
    )
    assert pay_statuses >= {200, 400, 404, 409}, pay_statuses
    assert 200 in ANSWERED["GET /api/payments/check_status/"]
