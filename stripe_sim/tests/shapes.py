"""Compare the simulator's objects with Stripe's published fixtures.

Stripe publishes one example of each API object per API version
(``fixtures3.json`` of its ``stripe/openapi`` repository); the one of the
version this project pins lives beside the repository, at
``<repository root>/../shared/stripe/fixtures3-2023-10-16.json``.

:func:`collect` drives a running simulator over HTTP (the JSON exactly as it
is served or delivered) through every object kind it answers with;
:func:`differences` compares one of them with its fixture, field by field.
Run ``python3 -m stripe_sim.tests.shapes`` for the table of top-level fields.
"""

import json
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CHECKOUT = Path(__file__).resolve().parents[2]
FIXTURES_RELATIVE = Path("..", "shared", "stripe", "fixtures3-2023-10-16.json")

#: Fixture objects whose keys are free-form (``{}`` in the fixtures): any key.
FREE_FORM = {"metadata"}

#: Stripe's error body, which ``fixtures3.json`` does not hold: the fields of
#: its ``api_errors`` object, as documented on https://stripe.com/docs/api/errors
#: (each present only when it applies; ``type`` and ``message`` always).
ERROR_FIELDS = {
    "charge",
    "code",
    "decline_code",
    "doc_url",
    "message",
    "param",
    "payment_intent",
    "payment_method",
    "payment_method_type",
    "request_log_url",
    "setup_intent",
    "source",
    "type",
}
ERROR_REQUIRED_FIELDS = {"type", "message"}
#: The error fields holding objects; the others are strings.
ERROR_OBJECT_FIELDS = {"payment_intent", "payment_method", "setup_intent", "source"}


class FixturesMissing(RuntimeError):
    """The fixture file is not where the project keeps it."""


def fixtures_path() -> Path:
    """Stripe's fixture file, ``../shared/stripe/…`` from the repository root.

    :raise FixturesMissing: it is not there.
    """
    path = (CHECKOUT / FIXTURES_RELATIVE).resolve()
    if not path.is_file():
        raise FixturesMissing(
            "Stripe's fixtures are missing: expected "
            f"<repository root>/{FIXTURES_RELATIVE.as_posix()} ({path}; see "
            "shared/stripe/README.md: Stripe's openapi/fixtures3.json at its "
            "2023-10-16 release)."
        )
    return path


def load_fixtures() -> dict:
    """The ``resources`` of Stripe's fixture file, by object name."""
    return json.loads(fixtures_path().read_text())["resources"]


def json_type(value) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def differences(fixtures: dict, resource: str, obj: dict) -> list[str]:
    """How ``obj`` departs from the ``resource`` fixture: missing fields,
    extra fields and JSON type changes, recursively.

    ``null`` on either side matches any type (a feature not in use, or a
    fixture that shows no value); an empty fixture object (``metadata``,
    ``payment_method_options``…) accepts any keys; array items are compared
    with the fixture's first item. Nested objects whose fixture shows no
    example are compared with the fixture of what they hold: an event's
    ``data.object`` with its own kind's, a charge's ``refunds`` with
    ``refund``, and ``last_payment_error`` with Stripe's error object."""
    return _object_differences(fixtures, fixtures[resource], obj, "", (resource, ""))


#: ``(resource, field path in it)`` -> what to compare a value with that its
#: fixture shows no example of.
NESTED = {
    ("event", "data.object"): "by object",
    ("charge", "refunds.data"): "refund",
    ("payment_intent", "last_payment_error"): "error",
}


def _object_differences(fixtures, fixture, obj, path, within) -> list[str]:
    """Differences of an object; ``within`` is ``(resource, path of it)``."""
    kind = fixture.get("type")
    if isinstance(kind, str) and kind in fixture and obj.get("type") != kind:
        # A hash named by its ``type`` (``card``…): another type has its own.
        fixture = {key: value for key, value in fixture.items() if key != kind}
        obj = {key: value for key, value in obj.items() if key != obj.get("type")}
    found = [f"missing {path}{key}" for key in sorted(set(fixture) - set(obj))]
    if fixture:
        found += [f"extra {path}{key}" for key in sorted(set(obj) - set(fixture))]
    for key in sorted(set(fixture) & set(obj)):
        found += _value_differences(
            fixtures, fixture[key], obj[key], f"{path}{key}", within
        )
    return found


def _value_differences(fixtures, expected, value, path, within) -> list[str]:
    """Differences of one field's value (see :func:`differences`)."""
    resource, root = within
    nested = NESTED.get((resource, path[len(root) :]))
    if nested and value is not None:
        return _nested_differences(fixtures, nested, value, path)
    if expected is None or value is None:
        return []
    if json_type(expected) != json_type(value):
        return [f"type {path}: {json_type(value)} instead of {json_type(expected)}"]
    key = path.rsplit(".", 1)[-1]
    if isinstance(expected, dict) and key not in FREE_FORM:
        return _object_differences(fixtures, expected, value, f"{path}.", within)
    if isinstance(expected, list) and expected and isinstance(expected[0], dict):
        return [
            diff
            for index, item in enumerate(value)
            for diff in _object_differences(
                fixtures, expected[0], item, f"{path}[{index}].", within
            )
        ]
    return []


def _nested_differences(fixtures, nested: str, value, path: str) -> list[str]:
    """Differences of a nested object compared with another fixture."""
    if nested == "error":
        found = [
            diff.replace(" error.", f" {path}.", 1)
            for diff in error_differences({"error": value})
        ]
        if isinstance(value.get("payment_method"), dict):
            pm_path = f"{path}.payment_method."
            found += _object_differences(
                fixtures,
                fixtures["payment_method"],
                value["payment_method"],
                pm_path,
                ("payment_method", pm_path),
            )
        return found
    if nested == "by object":
        nested = value.get("object")
        if nested not in fixtures:
            return [f"unknown object {path}: {nested}"]
    if isinstance(value, list):
        return [
            diff
            for index, item in enumerate(value)
            for diff in _object_differences(
                fixtures,
                fixtures[nested],
                item,
                f"{path}[{index}].",
                (nested, f"{path}[{index}]."),
            )
        ]
    return _object_differences(
        fixtures, fixtures[nested], value, f"{path}.", (nested, f"{path}.")
    )


def top_level(fixture: dict, obj: dict) -> tuple[int, int, list[str], list[str]]:
    """``(carried, total, missing, extra)`` top-level fields of ``obj``."""
    missing = sorted(set(fixture) - set(obj))
    extra = sorted(set(obj) - set(fixture))
    return len(fixture) - len(missing), len(fixture), missing, extra


def error_differences(body: dict) -> list[str]:
    """How an error body departs from Stripe's documented error object."""
    if set(body) != {"error"}:
        return [f"top level {sorted(body)} instead of ['error']"]
    error = body["error"]
    found = [f"missing error.{k}" for k in sorted(ERROR_REQUIRED_FIELDS - set(error))]
    found += [f"extra error.{k}" for k in sorted(set(error) - ERROR_FIELDS)]
    found += [
        f"type error.{k}: {json_type(v)} instead of string"
        for k, v in error.items()
        if k in ERROR_FIELDS - ERROR_OBJECT_FIELDS and json_type(v) != "string"
    ]
    return found


# ---------------------------------------------------------------- collection
class _Receiver:
    """A webhook endpoint in a thread, keeping the bodies it receives."""

    def __init__(self):
        self.bodies: list[dict] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        ).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        self.bodies.append(json.loads(request.get_data()))
        return Response("ok")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class RawApi:
    """Raw HTTP calls to the simulator's Stripe API (JSON as served)."""

    def __init__(self, sim):
        self.sim = sim
        self.headers = {
            "Authorization": f"Bearer {sim.api_key}",
            "Stripe-Version": "2023-10-16",
        }

    def get(self, path: str, params=None) -> requests.Response:
        return requests.get(
            self.sim.url + path, params=params, headers=self.headers, timeout=10
        )

    def post(self, path: str, data=None) -> requests.Response:
        return requests.post(
            self.sim.url + path, data=data, headers=self.headers, timeout=10
        )

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.sim.url + path, headers=self.headers, timeout=10)

    def control(self, path: str, payload=None) -> dict:
        response = requests.post(
            f"{self.sim.url}/_sim/{path}", json=payload or {}, timeout=10
        )
        response.raise_for_status()
        return response.json()


def session_form(payment_id: str = "pay-uuid-1") -> dict:
    """Form parameters of a Checkout Session like the addon creates (25 EUR)."""
    return {
        "mode": "payment",
        "line_items[0][quantity]": "2",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "1250",
        "line_items[0][price_data][product_data][name]": "Daifuku mochi",
        "client_reference_id": payment_id,
        "metadata[payment_id]": payment_id,
        "payment_intent_data[metadata][payment_id]": payment_id,
        "customer_email": "hanako@example.com",
        "expires_at": str(int(time.time()) + 3600),
        "success_url": "http://localhost:3000/payment/status?status=success",
        "cancel_url": "http://localhost:3000/payment/status?status=cancelled",
    }


def collect(sim) -> list[tuple[str, str, dict]]:
    """Every object kind the simulator serves or delivers, as
    ``(label, fixture resource name, object)``; ``error`` bodies have the
    resource name ``None`` (no fixture)."""
    api = RawApi(sim)
    receiver = _Receiver()
    try:
        return _collect(api, receiver)
    finally:
        receiver.stop()


def _collect(api: RawApi, receiver: _Receiver) -> list[tuple[str, str, dict]]:
    found = []

    def keep(label, resource, response_or_obj):
        obj = response_or_obj
        if isinstance(response_or_obj, requests.Response):
            obj = response_or_obj.json()
        found.append((label, resource, obj))
        return obj

    endpoint = keep(
        "webhook_endpoint (created)",
        "webhook_endpoint",
        api.post(
            "/v1/webhook_endpoints",
            {"url": receiver.url, "enabled_events[0]": "*"},
        ),
    )
    keep(
        "webhook_endpoint (retrieved)",
        "webhook_endpoint",
        api.get(f"/v1/webhook_endpoints/{endpoint['id']}"),
    )
    # A paid session, a failed attempt on another, a refund, an expiry.
    paid = keep(
        "checkout.session (created)",
        "checkout.session",
        api.post("/v1/checkout/sessions", session_form("pay-paid")),
    )
    keep(
        "checkout.session (retrieved, open)",
        "checkout.session",
        api.get(f"/v1/checkout/sessions/{paid['id']}"),
    )
    line_items = keep(
        "line items list",
        "list",
        api.get(f"/v1/checkout/sessions/{paid['id']}/line_items"),
    )
    for item in line_items["data"]:
        keep("line item", "item", item)
    result = api.control(
        f"checkout/sessions/{paid['id']}/complete", {"outcome": "paid"}
    )
    keep(
        "checkout.session (completed, retrieved)",
        "checkout.session",
        api.get(f"/v1/checkout/sessions/{paid['id']}"),
    )
    intent_id = result["payment_intent"]["id"]
    keep(
        "payment_intent (succeeded)",
        "payment_intent",
        api.get(f"/v1/payment_intents/{intent_id}"),
    )
    charge_id = result["charge"]["id"]
    keep("charge (succeeded)", "charge", api.get(f"/v1/charges/{charge_id}"))
    keep(
        "refund (created)",
        "refund",
        api.post("/v1/refunds", {"charge": charge_id, "amount": "500"}),
    )
    keep("charge (refunded)", "charge", api.get(f"/v1/charges/{charge_id}"))
    keep(
        "charge (refunds expanded)",
        "charge",
        api.get(f"/v1/charges/{charge_id}", {"expand[]": "refunds"}),
    )

    failed = api.post("/v1/checkout/sessions", session_form("pay-failed")).json()
    result = api.control(
        f"checkout/sessions/{failed['id']}/complete", {"outcome": "failed"}
    )
    keep(
        "payment_intent (payment failed)",
        "payment_intent",
        api.get(f"/v1/payment_intents/{result['payment_intent']['id']}"),
    )
    keep("charge (failed)", "charge", api.get(f"/v1/charges/{result['charge']['id']}"))
    keep(
        "checkout.session (expired)",
        "checkout.session",
        api.post(f"/v1/checkout/sessions/{failed['id']}/expire"),
    )

    # An asynchronous (SEPA Direct Debit) payment that fails.
    pending = api.post("/v1/checkout/sessions", session_form("pay-async")).json()
    result = api.control(
        f"checkout/sessions/{pending['id']}/complete", {"outcome": "unpaid"}
    )
    keep(
        "checkout.session (completed, unpaid)",
        "checkout.session",
        api.get(f"/v1/checkout/sessions/{pending['id']}"),
    )
    keep(
        "charge (pending, sepa_debit)",
        "charge",
        api.get(f"/v1/charges/{result['charge']['id']}"),
    )
    api.control(
        f"checkout/sessions/{pending['id']}/async_result", {"outcome": "failed"}
    )
    keep(
        "payment_intent (async payment failed)",
        "payment_intent",
        api.get(f"/v1/payment_intents/{result['payment_intent']['id']}"),
    )
    # A card asking for 3-D Secure, which the customer fails.
    secure = api.post("/v1/checkout/sessions", session_form("pay-3ds")).json()
    result = api.sim.state.require_authentication(secure["id"])
    intent_path = f"/v1/payment_intents/{result['payment_intent']['id']}"
    keep("payment_intent (requires_action)", "payment_intent", api.get(intent_path))
    api.control(f"checkout/sessions/{secure['id']}/authenticate", {"action": "fail"})
    keep(
        "payment_intent (authentication failed)", "payment_intent", api.get(intent_path)
    )

    events = api.get("/v1/events", {"limit": 100}).json()["data"]
    keep("event (retrieved)", "event", api.get(f"/v1/events/{events[0]['id']}"))
    api.control("webhooks/flush", {"timeout": 30})
    for event in receiver.bodies:
        keep(f"event {event['type']} (delivered)", "event", event)

    keep(
        "webhook_endpoint (deleted)",
        "deleted_webhook_endpoint",
        api.delete(f"/v1/webhook_endpoints/{endpoint['id']}"),
    )
    keep("error (404)", None, api.get("/v1/checkout/sessions/cs_test_missing"))
    keep("error (400)", None, api.post("/v1/refunds", {}))
    return found


def table(fixtures: dict, collected) -> list[str]:
    """One line per object: the fixture's top-level fields it carries, the
    ones it lacks, those it adds, and the differences below the top level."""
    lines = []
    for label, resource, obj in collected:
        if resource is None:
            lines.append(f"{label}: {error_differences(obj) or 'as documented'}")
        elif resource == "list":
            lines.append(f"{label}: fields {sorted(obj)}")
        else:
            carried, total, missing, extra = top_level(fixtures[resource], obj)
            nested = [
                diff
                for diff in differences(fixtures, resource, obj)
                if diff.split(" ", 1)[1].split(":")[0].count(".") or "[" in diff
            ]
            lines.append(
                f"{label}: {carried}/{total} of {resource}; missing {missing}; "
                f"extra {extra}; nested {nested}"
            )
    return lines


def main() -> None:
    """Print the comparison table of a fresh simulator."""
    from stripe_sim import SimulatorServer

    fixtures = load_fixtures()
    with SimulatorServer() as sim:
        for line in table(fixtures, collect(sim)):
            print(line)


if __name__ == "__main__":
    main()
