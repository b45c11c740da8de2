"""Every object the simulator serves or delivers has the shape of Stripe's
published example of it for API 2023-10-16, field by field (``shapes.py``).

The fixture file lies beside the repository (``../shared/stripe/``); without
it these tests fail, they never skip.
"""

import copy

import pytest
import requests

from . import shapes

#: Differences from the fixtures made on purpose, each with its reason.
DELIBERATE = {
    # Stripe sends the signing secret in the answer to the creation only
    # (https://stripe.com/docs/api/webhook_endpoints/create: "secret ... only
    # returned at creation"); the fixture is a retrieved endpoint.
    ("webhook_endpoint (created)", "extra secret"),
}
#: Charges carry ``refunds`` only when expanded: "The Charges object no longer
#: auto-expands refunds by default" since API 2022-11-15
#: (https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand),
#: though fixtures3 shows the list.
UNEXPANDED_REFUNDS = {"missing refunds", "missing data.object.refunds"}
#: Object kinds the simulator answers with or delivers, by fixture name.
SERVED_KINDS = {
    "checkout.session",
    "list",
    "item",
    "payment_intent",
    "charge",
    "refund",
    "event",
    "webhook_endpoint",
    "deleted_webhook_endpoint",
    None,  # error bodies
}


@pytest.fixture(scope="module")
def fixtures():
    """Stripe's fixtures; a missing file fails every test that needs it."""
    try:
        return shapes.load_fixtures()
    except shapes.FixturesMissing as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def collected(server):
    """Each object kind, from one run of payments, refunds and expiries."""
    server.reset()
    return shapes.collect(server)


def unexpected(fixtures, label, resource, obj) -> list[str]:
    """The differences of one collected object that are not deliberate."""
    if resource is None:
        return shapes.error_differences(obj)
    if resource == "list":
        keys = {"object", "data", "has_more", "url"}
        return [] if set(obj) == keys else [f"list fields {sorted(obj)}"]
    found = shapes.differences(fixtures, resource, obj)
    allowed = {diff for lbl, diff in DELIBERATE if lbl == label}
    if "refunds expanded" not in label:
        allowed |= UNEXPANDED_REFUNDS
    return [diff for diff in found if diff not in allowed]


def test_fixture_path_is_found_from_the_repository_root():
    path = shapes.fixtures_path()
    assert path.name == "fixtures3-2023-10-16.json"
    assert path.parent.name == "stripe"
    assert path.parent.parent.name == "shared"
    assert path == (shapes.CHECKOUT / shapes.FIXTURES_RELATIVE).resolve()


def test_missing_fixture_file_fails_clearly(monkeypatch):
    monkeypatch.setattr(shapes, "FIXTURES_RELATIVE", shapes.Path("no-such.json"))
    with pytest.raises(shapes.FixturesMissing, match="no-such.json"):
        shapes.load_fixtures()


def test_every_object_kind_is_compared(fixtures, collected):
    assert {resource for _label, resource, _obj in collected} == SERVED_KINDS
    delivered = {
        obj["data"]["object"]["object"]
        for _label, resource, obj in collected
        if resource == "event"
    }
    assert delivered == {"checkout.session", "payment_intent", "charge", "refund"}
    labels = [label for label, _resource, _obj in collected]
    for state in ("created", "retrieved, open", "completed, retrieved", "expired"):
        assert f"checkout.session ({state})" in labels


def test_served_objects_have_the_fixtures_fields_and_types(fixtures, collected):
    problems = {
        label: diffs
        for label, resource, obj in collected
        if (diffs := unexpected(fixtures, label, resource, obj))
    }
    assert problems == {}


def test_charges_carry_refunds_only_when_expanded(fixtures, collected):
    charges = {label: obj for label, resource, obj in collected if resource == "charge"}
    expanded = charges.pop("charge (refunds expanded)")
    assert all("refunds" not in charge for charge in charges.values())
    refunds = expanded["refunds"]
    assert refunds["object"] == "list"
    assert refunds["url"] == f"/v1/charges/{expanded['id']}/refunds"
    assert [refund["amount"] for refund in refunds["data"]] == [500]
    assert shapes.differences(fixtures, "charge", expanded) == []


def test_inactive_sessions_have_no_url(collected):
    sessions = {
        label: obj
        for label, resource, obj in collected
        if resource == "checkout.session"
    }
    assert sessions["checkout.session (created)"]["url"].endswith(
        sessions["checkout.session (created)"]["id"]
    )
    assert sessions["checkout.session (expired)"]["url"] is None
    assert sessions["checkout.session (completed, retrieved)"]["url"] is None


def test_comparison_reports_every_kind_of_drift(fixtures):
    """The comparison itself: a missing, an extra, a retyped and a nested
    field are all reported."""
    refund = copy.deepcopy(fixtures["refund"])
    del refund["reason"]
    refund["extra_field"] = 1
    refund["amount"] = "100"
    assert shapes.differences(fixtures, "refund", refund) == [
        "missing reason",
        "extra extra_field",
        "type amount: string instead of number",
    ]
    charge = copy.deepcopy(fixtures["charge"])
    del charge["payment_method_details"]["card"]["network"]
    charge["refunds"]["data"] = [{"id": "re_1", "object": "refund"}]
    found = shapes.differences(fixtures, "charge", charge)
    assert "missing payment_method_details.card.network" in found
    assert "missing refunds.data[0].amount" in found
    intent = copy.deepcopy(fixtures["payment_intent"])
    intent["last_payment_error"] = {"type": "card_error", "oops": 1}
    assert shapes.differences(fixtures, "payment_intent", intent) == [
        "missing last_payment_error.message",
        "extra last_payment_error.oops",
    ]
    event = copy.deepcopy(fixtures["event"])
    event["data"]["object"] = {"object": "refund"}
    assert "missing data.object.amount" in shapes.differences(fixtures, "event", event)


def test_error_bodies_link_their_request_log(collected):
    """Stripe's API errors carry ``request_log_url`` (its Dashboard's log of
    the request); the simulator's points at its own request log."""
    errors = [obj["error"] for _label, resource, obj in collected if resource is None]
    assert len(errors) == 2
    for error in errors:
        logged = requests.get(error["request_log_url"], timeout=10).json()["data"]
        assert len(logged) == 1
        assert logged[0]["status"] in (400, 404)
        assert error["request_log_url"].endswith(logged[0]["request_id"])


def test_requested_features_show_in_the_session(fixtures, server):
    """A feature asked for is no longer ``null``/off, and keeps the shape."""
    api = shapes.RawApi(server)
    form = {
        **shapes.session_form(),
        "allow_promotion_codes": "true",
        "billing_address_collection": "required",
        "payment_method_collection": "if_required",
        "phone_number_collection[enabled]": "true",
    }
    session = api.post("/v1/checkout/sessions", form).json()
    assert session["allow_promotion_codes"] is True
    assert session["billing_address_collection"] == "required"
    assert session["payment_method_collection"] == "if_required"
    assert session["phone_number_collection"] == {"enabled": True}
    assert shapes.differences(fixtures, "checkout.session", session) == []
    bad = api.post(
        "/v1/checkout/sessions",
        {**shapes.session_form(), "phone_number_collection[enable]": "true"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "phone_number_collection[enable]"
