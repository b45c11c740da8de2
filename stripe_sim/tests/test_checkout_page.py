"""The hosted checkout page (``/c/pay/{id}``) and the guide's test cards."""

import html
import re

import pytest
import requests

from stripe_sim import SimulatorServer
from stripe_sim.checkout import card_brand, luhn_valid
from stripe_sim.currencies import format_money

from .conftest import make_client, session_params

SUCCESS_URL = "http://localhost:3000/payment/status?session_id={}&status=success"
CANCEL_URL = "http://localhost:3000/payment/status?status=cancelled"
AUTH_FAILED = "We are unable to authenticate your payment method."


def card_form(number="4242 4242 4242 4242", **overrides) -> dict:
    form = {"cardnumber": number, "expiry": "12 / 34", "cvc": "123", "zip": "12345"}
    form.update(overrides)
    return form


def pay(session, number="4242 4242 4242 4242", **overrides):
    """POST the card form of ``session``'s page (redirects not followed)."""
    return requests.post(
        session.url, data=card_form(number, **overrides), allow_redirects=False
    )


def text_of(response) -> str:
    """The page's visible text, roughly (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def line(name, unit_amount, quantity, currency="eur") -> dict:
    return {
        "quantity": quantity,
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": name},
        },
    }


@pytest.fixture
def session(client):
    return client.checkout.sessions.create(params=session_params())


def events_of(sim, event_type):
    return [e for e in sim.state.events if e["type"] == event_type]


# ------------------------------------------------------------------- rendering
def test_page_shows_lines_total_and_email_in_euros(client):
    session = client.checkout.sessions.create(
        params=session_params(
            line_items=[
                line("Daifuku mochi", 1250, 2),
                line("Matcha gift box", 10970, 1),
            ]
        )
    )
    page = requests.get(session.url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "no-store" in page.headers["Cache-Control"]
    text = text_of(page)
    for expected in (
        "Daifuku mochi",
        "Matcha gift box",
        "€12.50",
        "€25.00",
        "€109.70",
        "€134.70",
        "Pay €134.70",
        "hanako@example.com",
        "Card information",
        "ZIP",
    ):
        assert expected in text, expected
    # self-contained: no script, no external asset
    assert "<script" not in page.text
    assert not re.search(r"""(src|href)=["']https?://""", page.text)
    assert 'method="post"' in page.text


@pytest.mark.parametrize(
    ("currency", "unit_amount", "quantity", "unit", "total"),
    [
        ("jpy", 3100, 4, "¥3,100", "¥12,400"),
        ("kwd", 12340, 2, "KWD 12.340", "KWD 24.680"),
        ("usd", 99999, 3, "$999.99", "$2,999.97"),
    ],
)
def test_page_formats_currencies(client, currency, unit_amount, quantity, unit, total):
    session = client.checkout.sessions.create(
        params=session_params(
            line_items=[line("Kusa mochi", unit_amount, quantity, currency)]
        )
    )
    text = text_of(requests.get(session.url))
    assert unit in text
    assert f"Pay {total}" in text
    if currency == "jpy":
        assert "¥12,400.00" not in text


def test_format_money():
    assert format_money(13470, "eur") == "€134.70"
    assert format_money(12400, "JPY") == "¥12,400"
    assert format_money(1234, "kwd") == "KWD 1.234"
    assert format_money(150000, "isk") == "ISK 1,500"
    assert format_money(-500, "usd") == "-$5.00"


def test_card_helpers():
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert card_brand("5555555555554444") == "mastercard"
    assert card_brand("378282246310005") == "amex"


def test_product_names_and_form_values_are_escaped(client):
    evil = "<script>alert(1)</script>"
    session = client.checkout.sessions.create(
        params=session_params(line_items=[line(evil, 1000, 1)])
    )
    page = requests.get(session.url)
    assert evil not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    echoed = pay(session, number='"><script>alert(2)</script>', zip=evil)
    assert echoed.status_code == 400
    assert "<script>alert(2)" not in echoed.text
    assert evil not in echoed.text
    assert "&quot;&gt;&lt;script&gt;alert(2)" in echoed.text


def test_email_field_when_the_session_has_none(sim, client):
    params = session_params()
    del params["customer_email"]
    session = client.checkout.sessions.create(params=params)
    assert 'name="email"' in requests.get(session.url).text
    bad = pay(session, email="not-an-email")
    assert "Your email address is invalid." in text_of(bad)
    assert pay(session, email="taro@example.com").status_code == 303
    paid = sim.state.get_checkout_session(session.id)
    assert paid["customer_details"]["email"] == "taro@example.com"


# --------------------------------------------------------------- test cards
def test_success_card_completes_and_redirects(sim, client, session):
    response = pay(session, number="4242424242424242", expiry="08/31")
    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS_URL.format(session.id)
    done = client.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.payment_intent.status == "succeeded"
    card = done.payment_intent.latest_charge.payment_method_details.card
    assert (card.last4, card.exp_month, card.exp_year) == ("4242", 8, 2031)
    assert events_of(sim, "checkout.session.completed")
    # paying twice is impossible: the page is gone
    again = pay(session)
    assert again.status_code == 410
    assert "This checkout session is no longer available." in again.text


def test_authentication_approved(sim, client, session):
    response = pay(session, number="4000 0025 0000 3155")
    assert response.status_code == 200
    text = text_of(response)
    assert "Complete authentication" in text
    assert "Fail authentication" in text
    assert "3155" in text
    assert f"/c/pay/{session.id}/authenticate" in response.text
    intent = events_of(sim, "payment_intent.requires_action")[0]["data"]["object"]
    assert intent["status"] == "requires_action"
    assert "_pending_card" not in intent
    assert intent["next_action"]["redirect_to_url"]["url"].endswith("/authenticate")
    # reloading the page shows the authentication step again
    assert "Complete authentication" in requests.get(session.url).text
    assert client.checkout.sessions.retrieve(session.id).status == "open"

    approved = requests.post(
        session.url + "/authenticate",
        data={"action": "approve"},
        allow_redirects=False,
    )
    assert approved.status_code == 303
    assert approved.headers["Location"] == SUCCESS_URL.format(session.id)
    done = client.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.payment_intent.id == intent["id"]
    assert done.payment_intent.status == "succeeded"
    assert done.payment_intent.next_action is None


def test_authentication_failed_keeps_session_open(sim, client, session):
    pay(session, number="4000002500003155")
    failed = requests.post(
        session.url + "/authenticate", data={"action": "fail"}, allow_redirects=False
    )
    assert failed.status_code == 402
    assert AUTH_FAILED in text_of(failed)
    assert 'name="cardnumber"' in failed.text  # back on the payment form
    assert client.checkout.sessions.retrieve(session.id).status == "open"
    event = events_of(sim, "payment_intent.payment_failed")[-1]
    intent = event["data"]["object"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == (
        "payment_intent_authentication_failure"
    )
    assert intent["last_payment_error"]["message"].startswith(AUTH_FAILED)
    # nothing left to authenticate: the step page sends back to the form
    stale = requests.post(
        session.url + "/authenticate", data={"action": "approve"}, allow_redirects=False
    )
    assert stale.status_code == 303
    assert stale.headers["Location"].endswith(f"/c/pay/{session.id}")
    assert pay(session).status_code == 303


def test_declined_card_keeps_session_open_then_success(sim, client, session):
    declined = pay(session, number="4000 0000 0000 0002")
    assert declined.status_code == 402
    assert "Your card was declined." in text_of(declined)
    assert client.checkout.sessions.retrieve(session.id).status == "open"
    event = events_of(sim, "payment_intent.payment_failed")[0]
    intent = event["data"]["object"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["message"] == "Your card was declined."
    assert intent["last_payment_error"]["code"] == "card_declined"
    assert client.payment_intents.retrieve(intent["id"]).status == (
        "requires_payment_method"
    )

    assert pay(session).status_code == 303
    done = client.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.payment_intent == intent["id"]  # the same payment intent
    assert client.payment_intents.retrieve(intent["id"]).status == "succeeded"


def test_invalid_and_unknown_numbers(sim, client, session):
    invalid = pay(session, number="4242 4242 4242 4241")
    assert invalid.status_code == 400
    assert "Your card number is invalid." in text_of(invalid)
    assert sim.state.events == []  # nothing was attempted
    unknown = pay(session, number="4111 1111 1111 1111")  # Luhn-valid
    assert unknown.status_code == 402
    assert "Your card was declined." in text_of(unknown)
    assert client.checkout.sessions.retrieve(session.id).status == "open"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cardnumber", "", "Your card number is incomplete."),
        ("expiry", "01/20", "Your card's expiration date is in the past."),
        ("expiry", "13/30", "Your card's expiration date is invalid."),
        ("expiry", "1230x", "Your card's expiration date is incomplete."),
        ("cvc", "12", "Your card's security code is incomplete."),
        ("zip", "1234", "Your postal code is incomplete."),
    ],
)
def test_form_validation_messages(sim, session, field, value, message):
    response = pay(session, **{field: value})
    assert response.status_code == 400
    assert message in text_of(response)
    assert sim.state.get_checkout_session(session.id)["payment_intent"] is None


def test_cancel_link(sim, client, session):
    page = requests.get(session.url)
    assert f'href="/c/pay/{session.id}/cancel"' in page.text
    cancel = requests.get(session.url + "/cancel", allow_redirects=False)
    assert cancel.status_code == 303
    assert cancel.headers["Location"] == CANCEL_URL
    assert client.checkout.sessions.retrieve(session.id).status == "open"


def test_cancel_without_cancel_url(client):
    params = session_params()
    del params["cancel_url"]
    session = client.checkout.sessions.create(params=params)
    response = requests.get(session.url + "/cancel", allow_redirects=False)
    assert response.status_code == 200
    assert "no cancel URL" in response.text


def test_expired_and_unknown_sessions(sim, client, session):
    client.checkout.sessions.expire(session.id)
    page = requests.get(f"{sim.url}/c/pay/{session.id}")
    assert page.status_code == 410
    assert "This checkout session is no longer available." in page.text
    assert CANCEL_URL in html.unescape(page.text)  # a way back to the shop
    posted = requests.post(f"{sim.url}/c/pay/{session.id}", data=card_form())
    assert posted.status_code == 410
    assert client.checkout.sessions.retrieve(session.id).status == "expired"

    other = client.checkout.sessions.create(params=session_params())
    sim.state.advance_time(2 * 3600)  # past expires_at
    assert requests.get(other.url).status_code == 410

    missing = requests.get(f"{sim.url}/c/pay/cs_test_<b>nope</b>")
    assert missing.status_code == 404
    assert "<b>" not in missing.text


def test_links_follow_the_public_url():
    with SimulatorServer(public_url="http://shop.example/stripe/") as sim:
        client = make_client(sim).v1
        session = client.checkout.sessions.create(params=session_params())
        assert session.url == f"http://shop.example/stripe/c/pay/{session.id}"
        page = requests.get(f"{sim.url}/c/pay/{session.id}")  # behind a proxy
        assert f'action="/stripe/c/pay/{session.id}"' in page.text
        assert f'href="/stripe/c/pay/{session.id}/cancel"' in page.text


def test_control_authenticate(sim, session):
    pay(session, number="4000 0025 0000 3155")
    control = f"{sim.url}/_sim/checkout/sessions/{session.id}/authenticate"
    assert requests.post(control, json={"action": "maybe"}).status_code == 400
    failed = requests.post(control, json={"action": "fail"}).json()
    assert failed["checkout_session"]["status"] == "open"
    assert failed["payment_intent"]["status"] == "requires_payment_method"
    assert requests.post(control, json={}).status_code == 400  # nothing pending
    pay(session, number="4000 0025 0000 3155")
    approved = requests.post(control, json={"action": "approve"}).json()
    assert approved["checkout_session"]["payment_status"] == "paid"
    assert approved["charge"]["payment_method_details"]["card"]["last4"] == "3155"
    assert "_pending_card" not in approved["payment_intent"]
