"""End-to-end checks of the installed addons on a live Odoo server (JSON-RPC)."""

import pytest
import requests

ADMIN = ("admin", "admin")
PORTAL = ("omochi.portal@example.com", "portal")


def test_server_answers_health(odoo_url):
    assert requests.get(f"{odoo_url}/web/health", timeout=5).json()["status"] == "pass"


def test_both_addons_are_installed(jsonrpc):
    execute = jsonrpc.login(*ADMIN)
    modules = execute(
        "ir.module.module",
        "search_read",
        [[("name", "in", ["omochi_orders", "omochi_payments"])]],
        {"fields": ["name", "state"]},
    )
    assert {m["name"]: m["state"] for m in modules} == {
        "omochi_orders": "installed",
        "omochi_payments": "installed",
    }


def test_portal_customer_reads_only_own_orders(jsonrpc):
    admin = jsonrpc.login(*ADMIN)
    portal = jsonrpc.login(*PORTAL)
    [portal_user] = admin(
        "res.users",
        "search_read",
        [[("login", "=", PORTAL[0])]],
        {"fields": ["commercial_partner_id"]},
    )
    own_partner = portal_user["commercial_partner_id"][0]
    all_orders = admin("omochi.order", "search_read", [[]], {"fields": ["partner_id"]})
    own = {
        order["id"]
        for order in all_orders
        if admin(
            "res.partner",
            "read",
            [[order["partner_id"][0]], ["commercial_partner_id"]],
        )[0]["commercial_partner_id"][0]
        == own_partner
    }
    others = {order["id"] for order in all_orders} - own
    assert own and others, "the demo data has orders of this customer and others"

    visible = portal(
        "omochi.order", "search_read", [[]], {"fields": ["name", "amount_total"]}
    )
    assert {order["id"] for order in visible} == own

    with pytest.raises(jsonrpc.Error) as denied:
        portal("omochi.order", "read", [sorted(others)[:1], ["name"]])
    assert denied.value.name == "odoo.exceptions.AccessError"


def test_portal_customer_cannot_write_orders_nor_read_events(jsonrpc):
    portal = jsonrpc.login(*PORTAL)
    [own_order] = portal("omochi.order", "search_read", [[]], {"limit": 1})
    with pytest.raises(jsonrpc.Error) as denied:
        portal("omochi.order", "write", [[own_order["id"]], {"note": "hacked"}])
    assert denied.value.name == "odoo.exceptions.AccessError"
    with pytest.raises(jsonrpc.Error) as denied:
        portal("omochi.payment.event", "search_read", [[]])
    assert denied.value.name == "odoo.exceptions.AccessError"
