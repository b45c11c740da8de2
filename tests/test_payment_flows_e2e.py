"""Stripe Checkout payment flows end to end, as a frontend and a customer's
browser drive them (DESIGN §4, §7, §8 and the integration guide).

The frontend pays orders through the ``/api`` routes with an API key; the
customer pays on the simulator's hosted page, submitting its HTML forms like a
browser; Stripe tells the live server through signed webhooks (retried with
back-off), which are the only way news reach the server here until a test asks
``check_status``. Orders are prepared and read as admin through JSON-RPC.
"""

import os
import threading
import uuid
from datetime import date
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from urllib.parse import urljoin

import pytest
import requests

from testkit.simulator import sim, stripe_api

ADMIN = ("admin", "admin")
# The server inherits the environment; DESIGN §5 gives the default.
FRONTEND_URL = os.environ.get("FRONTEND_URL", "http://localhost:3000").rstrip("/")
SUCCESS_URL = FRONTEND_URL + "/payment/status?session_id={}&status=success"
CANCEL_URL = FRONTEND_URL + "/payment/status?status=cancelled"
WEBHOOK = "/api/payments/webhook/"
PAY_KEYS = {"payment_id", "checkout_session_id", "checkout_url"}
HANDLED = {  # the event types the server acts on
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
}

# The integration guide's test cards.
CARD_SUCCESS = "4242 4242 4242 4242"
CARD_AUTHENTICATE = "4000 0025 0000 3155"
CARD_DECLINED = "4000 0000 0000 0002"
DECLINED = "Your card was declined."
AUTHENTICATION_FAILED = (
    "We are unable to authenticate your payment method. Please choose a "
    "different payment method and try again."
)
EXPIRY = f"12/{(date.today().year + 1) % 100:02d}"


# --------------------------------------------------------------------- Stripe
_events_applied = {}


@pytest.fixture(autouse=True)
def _events_applied_waiter(wait_events_applied):
    """Give ``wait_for_webhooks`` the live server's ``wait_events_applied``."""
    _events_applied["wait"] = wait_events_applied


def wait_for_webhooks(simulator_url):
    """Wait until Stripe has delivered every event (retries included) and
    the server's cron workers have applied them."""
    answer = sim(simulator_url, "POST", "/webhooks/flush", json={"timeout": 30})
    assert answer["idle"], answer
    _events_applied["wait"]()


def stripe_object(simulator_url, object_id):
    """Any object as Stripe holds it (session, payment intent, charge)."""
    return sim(simulator_url, "GET", f"/objects/{object_id}")


def deliveries(simulator_url, **filters):
    """The simulator's delivery attempts, oldest first."""
    return sim(simulator_url, "GET", "/deliveries", params=filters)["data"]


@pytest.fixture(scope="module")
def webhook_endpoint(odoo_url, simulator_url, stripe_webhook_endpoint):
    """The simulator's endpoint aimed at the live server, with short retry
    delays, for this module only (other modules deliver events by hand)."""
    endpoint_id = stripe_webhook_endpoint["id"]
    path = f"/v1/webhook_endpoints/{endpoint_id}"
    saved = sim(simulator_url, "GET", "/webhooks")
    fast = {"retry_delay": 0.1, "max_delay": 1, "max_attempts": 8}
    sim(simulator_url, "POST", "/webhooks", json=fast)
    url = f"{odoo_url}{WEBHOOK}"
    stripe_api(simulator_url, path, {"url": url, "disabled": "false"})
    enabled = sim(simulator_url, "GET", "/webhooks")["endpoints"]
    assert {"id": endpoint_id, "url": url, "enabled_events": ["*"]} in enabled
    yield {"id": endpoint_id, "url": url}
    wait_for_webhooks(simulator_url)
    stripe_api(simulator_url, path, {"disabled": "true"})
    sim(simulator_url, "POST", "/webhooks", json={k: saved[k] for k in fast})


# ------------------------------------------------------------------- frontend
class Frontend:
    """The shop's frontend: the ``/api`` routes with an API key."""

    def __init__(self, odoo_url, api_key):
        self.url = odoo_url
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def pay(self, order_uuid):
        return requests.post(
            f"{self.url}/api/orders/{order_uuid}/pay/",
            headers={**self.headers, "Content-Type": "application/json"},
            timeout=60,
        )

    def check_status(self, session_id):
        response = requests.get(
            f"{self.url}/api/payments/check_status/",
            params={"session_id": session_id},
            headers=self.headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()


class Page(HTMLParser):
    """The forms (action, input values, submit buttons) and links of a page."""

    def __init__(self, response):
        super().__init__()
        self.response, self.forms, self.links = response, [], []
        self._link = None
        self.feed(response.text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs["action"], "fields": {}, "buttons": []})
        elif tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "button" and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value")))
        elif tag == "a":
            self._link = [attrs.get("href"), ""]
            self.links.append(self._link)

    def handle_data(self, data):
        if self._link is not None:
            self._link[1] += data

    def handle_endtag(self, tag):
        if tag == "a":
            self._link = None

    def form(self, field):
        """The form with an input or a button named ``field``."""
        [form] = [
            form
            for form in self.forms
            if field in form["fields"] or field in dict(form["buttons"])
        ]
        return form


class Browser:
    """The customer's browser on Stripe's hosted checkout page. Redirects are
    not followed, so that each answer can be checked."""

    def __init__(self):
        self.session = requests.Session()

    def open(self, url):
        return self.session.get(url, timeout=10, allow_redirects=False)

    def submit(self, page, field, values):
        """Submit the form holding ``field`` with its values and ``values``."""
        form = Page(page).form(field)
        return self.session.post(
            urljoin(page.url, form["action"]),
            data={**form["fields"], **values},
            timeout=30,
            allow_redirects=False,
        )

    def pay_with_card(self, page, number):
        """Fill the card form of ``page`` and press Pay."""
        card = {"cardnumber": number, "expiry": EXPIRY, "cvc": "123", "zip": "94107"}
        return self.submit(page, "cardnumber", card)

    def authenticate(self, page, action):
        """Press "Complete" (``approve``) or "Fail authentication" (``fail``)."""
        assert ("action", action) in Page(page).form("action")["buttons"]
        return self.submit(page, "action", {"action": action})

    def follow(self, page, text):
        """Follow the link of ``page`` reading ``text``."""
        [href] = [href for href, label in Page(page).links if label.strip() == text]
        return self.open(urljoin(page.url, href))


# ---------------------------------------------------------------- back office
class BackOffice:
    """Admin's view through JSON-RPC."""

    def __init__(self, jsonrpc):
        self.call = jsonrpc.login(*ADMIN)
        self.Error = jsonrpc.Error

    def confirmed_order(self, price_unit=12.5, quantity=2):
        """A new customer's confirmed order: ``(id, uuid)``."""
        tag = uuid.uuid4().hex[:8]
        partner = self.call(
            "res.partner",
            "create",
            [{"name": f"E2E Flow {tag}", "email": f"e2e.flow.{tag}@example.com"}],
        )
        line = {"name": "Daifuku", "quantity": quantity, "price_unit": price_unit}
        order = self.call(
            "omochi.order",
            "create",
            [{"partner_id": partner, "line_ids": [(0, 0, line)]}],
        )
        self.call("omochi.order", "action_confirm", [[order]])
        [values] = self.read("omochi.order", order, ["uuid", "state"])
        assert values["state"] == "confirmed"
        return order, values["uuid"]

    def read(self, model, record_id, fields):
        return self.call(model, "read", [[record_id], fields])

    def order_state(self, order):
        [values] = self.read("omochi.order", order, ["state", "payment_state"])
        return values["state"], values["payment_state"]

    def transaction(self, payment_id):
        [values] = self.call(
            "omochi.payment.transaction",
            "search_read",
            [[("uuid", "=", payment_id)]],
            {
                "fields": [
                    "status",
                    "error_message",
                    "amount_refunded",
                    "stripe_charge_id",
                ]
            },
        )
        return values

    def events(self, domain):
        return self.call(
            "omochi.payment.event",
            "search_read",
            [domain],
            {"fields": ["stripe_event_id", "type", "state", "payload"]},
        )

    def messages(self, model, record_id, text):
        """How many chatter messages of a record contain ``text``."""
        domain = [("model", "=", model), ("res_id", "=", record_id)]
        return self.call(
            "mail.message", "search_count", [[*domain, ("body", "ilike", text)]]
        )

    def refund(self, transaction_id, amount=None):
        """Refund from the payment's form: the refund wizard, its amount
        defaulting to what remains refundable."""
        context = {
            "active_id": transaction_id,
            "active_model": "omochi.payment.transaction",
        }
        values = {} if amount is None else {"amount": amount}
        wizard = self.call(
            "omochi.payment.refund.wizard", "create", [values], {"context": context}
        )
        self.call("omochi.payment.refund.wizard", "action_refund", [[wizard]])
        return wizard


@pytest.fixture
def frontend(odoo_url, admin_api_key, webhook_endpoint):
    """The frontend, Stripe telling the server through webhooks meanwhile."""
    return Frontend(odoo_url, admin_api_key)


@pytest.fixture
def back_office(jsonrpc):
    return BackOffice(jsonrpc)


@pytest.fixture
def browser():
    return Browser()


@pytest.fixture
def checkout(frontend, back_office, browser):
    """Start paying a new confirmed order of 25.00: ``(order id, order uuid,
    pay answer, hosted page)``."""

    def checkout():
        order, order_uuid = back_office.confirmed_order()
        response = frontend.pay(order_uuid)
        assert response.status_code == 201, response.text
        payment = response.json()
        assert set(payment) == PAY_KEYS
        page = browser.open(payment["checkout_url"])
        assert page.status_code == 200, page.text
        assert "25.00" in page.text
        assert back_office.order_state(order) == ("confirmed", "pending")
        return order, order_uuid, payment, page

    return checkout


def assert_paid_once(frontend, back_office, order, payment):
    """The webhooks completed the payment: the order is paid once, Stripe's
    completion event stored once and done; check_status says COMPLETED."""
    transaction = back_office.transaction(payment["payment_id"])
    assert (transaction["status"], transaction["error_message"]) == ("completed", False)
    assert back_office.order_state(order) == ("paid", "paid")
    events = back_office.events([("transaction_id", "=", transaction["id"])])
    completions = [e for e in events if e["type"] == "checkout.session.completed"]
    assert [e["state"] for e in completions] == ["done"]
    assert all(e["state"] == "done" for e in events), events
    assert back_office.messages("omochi.order", order, "Order paid") == 1
    status = frontend.check_status(payment["checkout_session_id"])
    assert status["status"] == "COMPLETED"
    assert status["payment_id"] == payment["payment_id"]
    assert (status["amount"], status["error_message"]) == ("25.00", None)


def assert_status(frontend, back_office, payment, status, error=None):
    """The payment has ``status`` (and ``error``) in the back office, and
    check_status says so."""
    transaction = back_office.transaction(payment["payment_id"])
    assert transaction["status"] == status.lower()
    answer = frontend.check_status(payment["checkout_session_id"])
    assert (answer["status"], answer["error_message"]) == (status, error)


# ------------------------------------------------------------------ scenarios
def test_card_payment(simulator_url, frontend, back_office, browser, checkout):
    order, order_uuid, payment, page = checkout()
    session_id = payment["checkout_session_id"]
    paid = browser.pay_with_card(page, CARD_SUCCESS)
    assert paid.status_code == 303, paid.text
    assert paid.headers["Location"] == SUCCESS_URL.format(session_id)
    wait_for_webhooks(simulator_url)
    assert_paid_once(frontend, back_office, order, payment)
    assert frontend.check_status(session_id)["order_id"] == order_uuid
    # The hosted page is gone; the order cannot be paid twice.
    assert browser.open(payment["checkout_url"]).status_code == 410
    assert frontend.pay(order_uuid).status_code == 409


def test_authenticated_card_payment(
    simulator_url, frontend, back_office, browser, checkout
):
    order, _order_uuid, payment, page = checkout()
    challenge = browser.pay_with_card(page, CARD_AUTHENTICATE)
    assert challenge.status_code == 200, challenge.text
    assert "Authenticate your payment" in challenge.text
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "PENDING")
    approved = browser.authenticate(challenge, "approve")
    assert approved.status_code == 303, approved.text
    assert approved.headers["Location"] == SUCCESS_URL.format(
        payment["checkout_session_id"]
    )
    wait_for_webhooks(simulator_url)
    assert_paid_once(frontend, back_office, order, payment)


def test_failed_authentication_then_paying_again(
    simulator_url, frontend, back_office, browser, checkout
):
    order, order_uuid, payment, page = checkout()
    challenge = browser.pay_with_card(page, CARD_AUTHENTICATE)
    failed = browser.authenticate(challenge, "fail")
    assert failed.status_code == 402, failed.text
    assert AUTHENTICATION_FAILED in failed.text
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "FAILED", AUTHENTICATION_FAILED)
    assert back_office.order_state(order) == ("confirmed", "not_paid")
    session = stripe_object(simulator_url, payment["checkout_session_id"])
    assert session["status"] == "open"

    # Paying again reuses the still-open session, where the next card works.
    again = frontend.pay(order_uuid)
    assert (again.status_code, again.json()) == (200, payment)
    page = browser.open(again.json()["checkout_url"])
    assert page.status_code == 200, page.text
    paid = browser.pay_with_card(page, CARD_SUCCESS)
    assert paid.status_code == 303, paid.text
    wait_for_webhooks(simulator_url)
    assert_paid_once(frontend, back_office, order, payment)


def test_declined_card_then_another_card(
    simulator_url, frontend, back_office, browser, checkout
):
    order, _order_uuid, payment, page = checkout()
    declined = browser.pay_with_card(page, CARD_DECLINED)
    assert declined.status_code == 402, declined.text
    assert DECLINED in declined.text
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "FAILED", DECLINED)
    assert back_office.order_state(order) == ("confirmed", "not_paid")

    paid = browser.pay_with_card(declined, CARD_SUCCESS)  # the same page
    assert paid.status_code == 303, paid.text
    wait_for_webhooks(simulator_url)
    assert_paid_once(frontend, back_office, order, payment)


def test_customer_cancels(simulator_url, frontend, back_office, browser, checkout):
    order, _order_uuid, payment, page = checkout()
    cancelled = browser.follow(page, "Cancel and return to the shop")
    assert cancelled.status_code == 303
    assert cancelled.headers["Location"] == CANCEL_URL
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "PENDING")
    assert back_office.order_state(order) == ("confirmed", "pending")
    assert browser.open(payment["checkout_url"]).status_code == 200  # still open


def test_expired_session_then_a_new_one(
    simulator_url, frontend, back_office, browser, checkout
):
    order, order_uuid, payment, _page = checkout()
    session_id = payment["checkout_session_id"]
    sim(simulator_url, "POST", f"/checkout/sessions/{session_id}/expire_now")
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "EXPIRED")
    [expired] = back_office.events(
        [
            ("transaction_id.uuid", "=", payment["payment_id"]),
            ("type", "=", "checkout.session.expired"),
        ]
    )
    assert expired["state"] == "done"
    assert back_office.order_state(order) == ("confirmed", "not_paid")
    assert browser.open(payment["checkout_url"]).status_code == 410

    again = frontend.pay(order_uuid)
    assert again.status_code == 201, again.text
    fresh = again.json()
    assert fresh["payment_id"] != payment["payment_id"]
    assert fresh["checkout_session_id"] != session_id
    assert browser.open(fresh["checkout_url"]).status_code == 200
    assert back_office.order_state(order) == ("confirmed", "pending")


def test_refunds_from_the_back_office(
    simulator_url, frontend, back_office, browser, checkout
):
    order, _order_uuid, payment, page = checkout()
    assert browser.pay_with_card(page, CARD_SUCCESS).status_code == 303
    wait_for_webhooks(simulator_url)
    transaction = back_office.transaction(payment["payment_id"])
    refunded_text = "Refunded at Stripe"

    back_office.refund(transaction["id"], 10.0)
    assert_status(frontend, back_office, payment, "PARTIALLY_REFUNDED")
    assert back_office.order_state(order) == ("paid", "partially_refunded")
    wait_for_webhooks(simulator_url)  # charge.refunded: nothing more to do
    transaction = back_office.transaction(payment["payment_id"])
    assert (transaction["status"], transaction["amount_refunded"]) == (
        "partially_refunded",
        10.0,
    )
    model = "omochi.payment.transaction"
    assert back_office.messages(model, transaction["id"], refunded_text) == 1
    charge = transaction["stripe_charge_id"]
    assert stripe_object(simulator_url, charge)["amount_refunded"] == 1000

    wizard = back_office.refund(transaction["id"])  # the rest, by default
    [values] = back_office.read("omochi.payment.refund.wizard", wizard, ["amount"])
    assert values["amount"] == 15.0
    wait_for_webhooks(simulator_url)
    assert_status(frontend, back_office, payment, "REFUNDED")
    assert back_office.transaction(payment["payment_id"])["amount_refunded"] == 25.0
    assert back_office.order_state(order) == ("refunded", "refunded")
    assert back_office.messages(model, transaction["id"], refunded_text) == 2
    assert back_office.messages("omochi.order", order, "Order fully refunded") == 1
    assert stripe_object(simulator_url, charge)["amount_refunded"] == 2500
    refunds = back_office.events(
        [("transaction_id", "=", transaction["id"]), ("type", "=", "charge.refunded")]
    )
    assert [event["state"] for event in refunds] == ["done", "done"]
    with pytest.raises(back_office.Error) as refused:
        back_office.refund(transaction["id"], 1.0)
    assert refused.value.name == "odoo.exceptions.UserError"


# ------------------------------------------------- webhook endpoint recovering
class FlakyProxy:
    """A webhook endpoint down for its first ``failures`` deliveries (503),
    then forwarding each one to ``target`` unchanged (body and signature)."""

    def __init__(self, target, failures):
        self.target, self.failures = target, failures
        self.received = []  # (answered status, body, Stripe-Signature)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}{WEBHOOK}"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signature = self.headers["Stripe-Signature"]
                with proxy._lock:
                    down = len(proxy.received) < proxy.failures
                if down:
                    status, answer = 503, b"Service Unavailable"
                else:
                    forwarded = requests.post(
                        proxy.target,
                        data=body,
                        headers={
                            "Content-Type": self.headers["Content-Type"],
                            "Stripe-Signature": signature,
                        },
                        timeout=60,
                    )
                    status, answer = forwarded.status_code, forwarded.content
                with proxy._lock:
                    proxy.received.append((status, body, signature))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args):
                pass

        return Handler

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc):
        self._server.shutdown()
        self._server.server_close()


def test_webhook_endpoint_down_then_recovering(
    simulator_url, webhook_endpoint, frontend, back_office, browser, checkout
):
    failures = 3
    order, _order_uuid, payment, page = checkout()
    path = f"/v1/webhook_endpoints/{webhook_endpoint['id']}"
    with FlakyProxy(webhook_endpoint["url"], failures) as proxy:
        stripe_api(simulator_url, path, {"url": proxy.url})
        try:
            assert browser.pay_with_card(page, CARD_SUCCESS).status_code == 303
            wait_for_webhooks(simulator_url)
        finally:
            stripe_api(simulator_url, path, {"url": webhook_endpoint["url"]})

    # Stripe retried the first event until the endpoint came back, signing
    # each attempt afresh, then delivered the rest in order.
    attempts = deliveries(simulator_url, url=proxy.url)
    first = attempts[0]["event_id"]
    assert [(a["event_id"], a["attempt"], a["status"]) for a in attempts[:4]] == [
        (first, 1, 503),
        (first, 2, 503),
        (first, 3, 503),
        (first, 4, 200),
    ]
    assert all(a["status"] == 200 and a["attempt"] == 1 for a in attempts[4:])
    backoff = [a["next_retry_in"] for a in attempts[:failures]]
    assert backoff == [0.1, 0.2, 0.4]
    sent = [a["timestamp"] for a in attempts[: failures + 1]]
    gaps = [later - earlier for earlier, later in pairwise(sent)]
    assert all(gap >= delay for gap, delay in zip(gaps, backoff, strict=True)), gaps
    signed_at = [a["signed_at"] for a in attempts[:4]]
    assert signed_at == sorted(set(signed_at))
    assert len({a["signature"] for a in attempts}) == len(attempts)
    assert [(s, sig) for s, _body, sig in proxy.received] == [
        (a["status"], a["signature"]) for a in attempts
    ]

    # Each event is stored once, as Stripe sent it; the order is paid once.
    event_ids = [a["event_id"] for a in attempts[failures:]]
    stored = back_office.events([("stripe_event_id", "in", event_ids)])
    assert sorted(e["stripe_event_id"] for e in stored) == sorted(event_ids)
    states = {e["type"]: e["state"] for e in stored}
    assert states["checkout.session.completed"] == "done"
    assert states["payment_intent.succeeded"] == "done"
    assert {s for t, s in states.items() if t not in HANDLED} <= {"ignored"}
    [first_stored] = [e for e in stored if e["stripe_event_id"] == first]
    assert first_stored["payload"].encode() == proxy.received[failures][1]
    assert_paid_once(frontend, back_office, order, payment)
