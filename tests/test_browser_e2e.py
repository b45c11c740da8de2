"""The customer's payment in a real browser (headless Chromium) against the
live server: Odoo's portal, the Stripe simulator's hosted page, and back to
Odoo's status page (the Odoo tour ``omochi_backoffice_pay`` covers the back
office's Pay button; a tour cannot follow the customer to another origin).

The tests log in through Odoo's login page, click and type with real input
events, and take the screenshots of README.md's "Screenshots" section: into a
temporary directory, or into ``$OMOCHI_SCREENSHOTS_DIR`` (``tools/screenshots``
sets it to ``docs/screenshots``).
"""

import os
import struct
import subprocess
from pathlib import Path

import pytest
from headless_chromium import Chromium

from testkit import processes
from testkit.odoo import PYTHON, REPO
from testkit.ports import free_port
from testkit.simulator import sim, stripe_api

ADMIN = ("admin", "admin")
PORTAL = ("omochi.portal@example.com", "portal")
CARD_SUCCESS = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
DECLINED = "Your card was declined."
STATUS_PAGE = "/omochi/payment/status"
SCREEN = (1280, 800)


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module (each page has its own context)."""
    browser = Chromium()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """Where the screenshots go."""
    configured = os.environ.get("OMOCHI_SCREENSHOTS_DIR")
    if configured:
        return Path(configured)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def webhooks(odoo_url, simulator_url, stripe_webhook_endpoint, wait_events_applied):
    """The simulator's webhook endpoint aimed at the live server for this
    module: Stripe tells Odoo about the payments, as in production. Call it
    to wait until every event has been delivered."""
    path = f"/v1/webhook_endpoints/{stripe_webhook_endpoint['id']}"
    url = f"{odoo_url}/api/payments/webhook/"
    stripe_api(simulator_url, path, {"url": url, "disabled": "false"})

    def flush():
        answer = sim(simulator_url, "POST", "/webhooks/flush", json={"timeout": 30})
        assert answer["idle"], answer
        wait_events_applied()

    yield flush
    flush()
    stripe_api(simulator_url, path, {"disabled": "true"})


@pytest.fixture(scope="module")
def admin(jsonrpc):
    """Admin's ``execute_kw`` through JSON-RPC."""
    return jsonrpc.login(*ADMIN)


@pytest.fixture(scope="module", autouse=True)
def base_url(admin, odoo_url):
    """The server's public address (``web.base.url``, which Stripe's return
    URLs are built on) is the live server's, as on a deployed instance."""
    parameter = "web.base.url"
    saved = admin("ir.config_parameter", "get_param", [parameter])
    admin("ir.config_parameter", "set_param", [parameter, odoo_url])
    yield odoo_url
    admin("ir.config_parameter", "set_param", [parameter, saved])


@pytest.fixture
def portal_order(admin):
    """A new confirmed order of the demo portal customer (Hana Tanaka, Sakura
    Sweets Co.): ``{"id", "name", "amount_total"}``."""
    [user] = admin(
        "res.users", "search_read", [[("login", "=", PORTAL[0])]], {"fields": ["id"]}
    )
    [customer] = admin("res.users", "read", [[user["id"]], ["partner_id"]])
    products = {
        product["default_code"]: product["id"]
        for product in admin(
            "product.product",
            "search_read",
            [[("default_code", "in", ("OM-DAIFUKU6", "OM-MATCHA"))]],
            {"fields": ["default_code"]},
        )
    }
    lines = [
        {
            "product_id": products["OM-DAIFUKU6"],
            "name": "Daifuku Mochi (box of 6)",
            "quantity": 2,
            "price_unit": 12.5,
        },
        {
            "product_id": products["OM-MATCHA"],
            "name": "Matcha Tea (100 g)",
            "quantity": 1,
            "price_unit": 18.0,
        },
    ]
    order = admin(
        "omochi.order",
        "create",
        [
            {
                "partner_id": customer["partner_id"][0],
                "line_ids": [(0, 0, line) for line in lines],
            }
        ],
    )
    admin("omochi.order", "action_confirm", [[order]])
    [values] = admin("omochi.order", "read", [[order], ["name", "amount_total"]])
    assert values["amount_total"] == 43.0
    return values


# -------------------------------------------------------------------- helpers
def login(page, odoo_url, credentials):
    """Log in on Odoo's login page."""
    page.goto(f"{odoo_url}/web/login")
    page.fill("input#login", credentials[0])
    page.fill("input#password", credentials[1])
    page.click(".oe_login_form button[type=submit]")
    page.wait_for_url("location.pathname !== '/web/login'")


def pay_on_hosted_page(page, card):
    """Fill the simulator's card form and press Pay."""
    page.wait_for_selector("input#cardnumber")
    page.fill("input#cardnumber", card)
    page.fill("input[name=expiry]", "12/30")
    page.fill("input[name=cvc]", "123")
    page.fill("input[name=zip]", "12345")
    page.click("button.pay")


def assert_png(path):
    """``path`` is a PNG image of the browser's viewport."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert struct.unpack(">II", data[16:24]) == SCREEN, path
    assert len(data) > 20_000, f"{path} looks empty"


def order_state(admin, order_id):
    [values] = admin("omochi.order", "read", [[order_id], ["state", "payment_state"]])
    return values["state"], values["payment_state"]


def pay_now(page, odoo_url, simulator_url, order):
    """Open the order in the portal and press Pay now: the browser is on the
    simulator's hosted page, for the order's total."""
    page.goto(f"{odoo_url}/my/omochi_orders/{order['id']}")
    page.wait_for_selector("form.o_omochi_pay_form button[type=submit]")
    assert order["name"] in page.text()
    page.click("form.o_omochi_pay_form button[type=submit]")
    page.wait_for_url(f"location.href.startsWith({simulator_url + '/c/pay/'!r})")
    page.wait_for_selector("input#cardnumber")
    assert "43.00" in page.text("[data-total]")


def see_success(page, odoo_url, webhooks):
    """Back on Odoo's status page: once Stripe's webhooks are in, it says the
    payment was received."""
    page.wait_for_url(
        f"location.href.startsWith({odoo_url + STATUS_PAGE!r})", timeout=30
    )
    webhooks()
    page.reload()
    page.wait_for_selector(".o_omochi_payment_status [data-status=success]")
    assert "Payment received" in page.text(".o_omochi_payment_status")


# ------------------------------------------------------------------ scenarios
def test_portal_customer_pays_by_card(
    chromium,
    odoo_url,
    simulator_url,
    webhooks,
    admin,
    portal_order,
    screenshots,
):
    page = chromium.new_page(*SCREEN)
    try:
        login(page, odoo_url, PORTAL)
        page.goto(f"{odoo_url}/my/omochi_orders/{portal_order['id']}")
        page.wait_for_selector("form.o_omochi_pay_form button[type=submit]")
        assert_png(page.screenshot(screenshots / "portal_order.png"))

        pay_now(page, odoo_url, simulator_url, portal_order)
        pay_on_hosted_page(page, CARD_SUCCESS)
        see_success(page, odoo_url, webhooks)
        assert portal_order["name"] in page.text(".o_omochi_payment_status")
        assert_png(page.screenshot(screenshots / "payment_status.png"))
        assert order_state(admin, portal_order["id"]) == ("paid", "paid")

        # Back to the order: paid, nothing left to pay.
        page.click(".o_omochi_payment_status_order_link a")
        page.wait_for_url(
            f"location.pathname === '/my/omochi_orders/{portal_order['id']}'"
        )
        page.wait_for_selector("#omochi_order_sidebar_actions")
        assert page.evaluate("!document.querySelector('form.o_omochi_pay_form')")
        badges = page.evaluate(
            "[...document.querySelectorAll('.o_omochi_order_payment_state')]"
            ".map(badge => badge.dataset.paymentState)"
        )
        assert badges and set(badges) == {"paid"}, badges
        assert page.errors() == []
    finally:
        page.close()

    # The back office shows the paid order and its payment.
    page = chromium.new_page(*SCREEN)
    try:
        login(page, odoo_url, ADMIN)
        page.goto(
            f"{odoo_url}/odoo/action-omochi_orders.action_omochi_order"
            f"/{portal_order['id']}"
        )
        page.wait_for_selector(
            ".o_form_view .o_statusbar_status "
            "button.o_arrow_button_current[data-value=paid]"
        )
        page.wait_for_selector(".o_form_view button[name=action_view_transactions]")
        page.wait_for_selector(".o-mail-Chatter .o-mail-Message")
        assert_png(page.screenshot(screenshots / "backoffice_order_form.png"))

        page.goto(
            f"{odoo_url}/odoo/action-omochi_payments.omochi_payment_transaction_action"
        )
        page.wait_for_selector(".o_list_view .o_data_row")
        assert portal_order["name"] in page.text(".o_list_view")
        assert_png(page.screenshot(screenshots / "transactions_list.png"))

        # Health: a read-only dashboard (no New, no save/discard).
        page.goto(
            f"{odoo_url}/odoo/action-omochi_payments.omochi_payment_health_action_server"
        )
        page.wait_for_selector(".o_form_view [name=refused_delivery_count]")
        assert page.evaluate(
            "!document.querySelector('.o_form_button_create, .o_form_button_save')"
        )
        assert_png(page.screenshot(screenshots / "health_dashboard.png"))
        assert page.errors() == []
    finally:
        page.close()


def test_declined_card_then_another_card(
    chromium, odoo_url, simulator_url, webhooks, admin, portal_order
):
    page = chromium.new_page(*SCREEN)
    try:
        login(page, odoo_url, PORTAL)
        pay_now(page, odoo_url, simulator_url, portal_order)
        hosted_page = page.url

        pay_on_hosted_page(page, CARD_DECLINED)
        page.wait_for_selector(".alert[role=alert]")
        assert DECLINED in page.text(".alert[role=alert]")
        assert page.url.startswith(hosted_page)  # still on the hosted page
        webhooks()
        assert order_state(admin, portal_order["id"]) == ("confirmed", "not_paid")

        pay_on_hosted_page(page, CARD_SUCCESS)  # the same page, another card
        see_success(page, odoo_url, webhooks)
        assert order_state(admin, portal_order["id"]) == ("paid", "paid")
        assert page.errors() == []
    finally:
        page.close()


# ---------------------------------------------------------- example frontend
@pytest.fixture(scope="module")
def frontend_url(odoo_url, admin):
    """The example frontend on a free port, forwarding ``/api`` to the live
    server, and configured as the company's FRONTEND_URL (Stripe returns
    there)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            PYTHON,
            str(REPO / "frontend" / "server.py"),
            f"--port={port}",
            f"--odoo-url={odoo_url}",
        ]
    )
    try:
        alive = processes.wait_http(url, lambda: server.poll() is None, 30)
        assert alive, "the example frontend did not start"
        [company] = admin("res.company", "search", [[]], {"limit": 1})
        [saved] = admin("res.company", "read", [[company], ["omochi_frontend_url"]])
        admin("res.company", "write", [[company], {"omochi_frontend_url": url}])
        yield url
        admin(
            "res.company",
            "write",
            [[company], {"omochi_frontend_url": saved["omochi_frontend_url"]}],
        )
    finally:
        processes.stop(server)


def test_frontend_pays_with_the_guides_javascript(
    chromium,
    frontend_url,
    simulator_url,
    admin,
    admin_api_key,
    portal_order,
    screenshots,
):
    [order] = admin("omochi.order", "read", [[portal_order["id"]], ["uuid"]])
    page = chromium.new_page(*SCREEN)
    try:
        page.goto(frontend_url)
        page.fill("#api-key", admin_api_key)
        page.fill("#order-id", order["uuid"])
        assert_png(page.screenshot(screenshots / "example_frontend.png"))
        page.click("#pay")
        page.wait_for_url(f"location.href.startsWith({simulator_url + '/c/pay/'!r})")
        pay_on_hosted_page(page, CARD_SUCCESS)

        page.wait_for_url(
            f"location.href.startsWith({frontend_url + '/payment/status?'!r})",
            timeout=30,
        )
        page.wait_for_selector("#status[data-status=COMPLETED]", timeout=30)
        assert "Payment successful" in page.text("#status")
        assert_png(page.screenshot(screenshots / "example_frontend_status.png"))
        assert order_state(admin, portal_order["id"]) == ("paid", "paid")
        assert page.errors() == []
    finally:
        page.close()
