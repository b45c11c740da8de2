"""Seed of the benchmarks' ``omochi`` template (run in ``odoo shell`` by
``benchkit.databases.ensure_template``): an admin API key (kept in the
parameter ``omochi_bench.api_key``), a portal customer and
``orders`` confirmed orders of theirs, each with a pending payment whose
Checkout Session awaits the customer."""

from testkit import seeding


def seed(env, portal_login, orders):
    env["ir.config_parameter"].sudo().set_param(
        "omochi_bench.api_key", seeding.api_key(env, "bench")
    )
    portal = seeding.portal_user(env, portal_login, "bench.portal@example.com")
    payments = seeding.orders_awaiting_payment(
        env, portal.partner_id, orders, "benchseed"
    )
    return {"orders": env["omochi.order"].search_count([]), "payments": len(payments)}
