"""Seed of the multi-server test (run by ``testkit.odoo.seed``): orders
awaiting payment for the webhook storms, one confirmed order to pay, and an
API key of admin."""

from testkit import seeding


def seed(env, payments, tag):
    """``payments`` orders awaiting payment (their payments' details), one
    confirmed order without payment, an API key."""
    partner = env["res.partner"].create(
        {"name": f"Multi-server {tag}", "email": f"multi.{tag}@example.com"}
    )
    [to_pay] = seeding.confirmed_orders(env, partner, 1)
    return {
        "payments": seeding.orders_awaiting_payment(env, partner, payments, tag),
        "order_to_pay": to_pay.uuid,
        "api_key": seeding.api_key(env, f"multi-server {tag}"),
    }
