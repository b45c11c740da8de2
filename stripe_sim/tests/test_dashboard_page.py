"""``/dashboard/<id>``: the simulator's page for a session or payment, where
Odoo's "Open in Stripe Dashboard" links lead in simulator mode."""

import requests

from .conftest import session_params
from .test_checkout_page import pay, text_of


def test_session_page_then_its_payment_intent(sim, client):
    session = client.checkout.sessions.create(params=session_params())
    page = requests.get(f"{sim.url}/dashboard/{session.id}", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    text = text_of(page)
    assert session.id in text
    assert "€25.00" in text
    assert "open" in text

    assert pay(session).status_code in (302, 303)
    paid = client.checkout.sessions.retrieve(session.id)
    intent_page = requests.get(f"{sim.url}/dashboard/{paid.payment_intent}", timeout=10)
    assert intent_page.status_code == 200
    assert "succeeded" in text_of(intent_page)


def test_unknown_object_is_a_404_page(sim):
    page = requests.get(f"{sim.url}/dashboard/cs_test_nothing", timeout=10)
    assert page.status_code == 404
    assert "cs_test_nothing" in text_of(page)
    assert requests.get(f"{sim.url}/dashboard/", timeout=10).status_code == 404
