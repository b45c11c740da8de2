"""Building blocks of seed modules, run inside ``odoo shell`` (``env`` given)
by :func:`testkit.odoo.seed`: customers, API keys, orders awaiting payment.
"""

from datetime import timedelta

LINES = (
    {"name": "Daifuku", "quantity": 3, "price_unit": 4.5},
    {"name": "Mochi ice", "quantity": 2, "price_unit": 3.0},
)


def api_key(env, name):
    """A new API key of admin (as Preferences ▸ New API Key makes it)."""
    admin = env.ref("base.user_admin")
    return env["res.users.apikeys"].with_user(admin)._generate("rpc", name, None)


def portal_user(env, login, email):
    """A portal user whose password is its login."""
    return (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            {
                "name": f"Portal {login}",
                "login": login,
                "password": login,
                "email": email,
                "groups_id": [(6, 0, [env.ref("base.group_portal").id])],
            }
        )
    )


def confirmed_orders(env, partner, count):
    """``count`` confirmed orders of ``partner`` (two lines each), made as
    admin with tracking on."""
    admin = env.ref("base.user_admin")
    orders = (
        env["omochi.order"]
        .with_user(admin)
        .with_context(tracking_disable=False)
        .create(
            [
                {
                    "partner_id": partner.id,
                    "line_ids": [(0, 0, dict(line)) for line in LINES],
                }
                for _index in range(count)
            ]
        )
    )
    orders.action_confirm()
    return orders


def orders_awaiting_payment(env, partner, count, tag):
    """``count`` confirmed orders, each with a pending payment whose Checkout
    Session (a made-up id ``cs_test_<tag>_<n>``, open 23 h) awaits the
    customer; return the payments as dicts for building their events."""
    payments = env["omochi.payment.transaction"].sudo().browse()
    for index, order in enumerate(confirmed_orders(env, partner, count)):
        session_id = f"cs_test_{tag}_{index}"
        payment = payments.create({"order_id": order.id})
        payment.write(
            {
                "stripe_checkout_session_id": session_id,
                "checkout_url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "stripe_checkout_attempt": 1,
                "expires_at": env.cr.now() + timedelta(hours=23),
            }
        )
        payments |= payment
    return [
        {
            "transaction_id": payment.id,
            "payment_id": payment.uuid,
            "session_id": payment.stripe_checkout_session_id,
            "order_id": payment.order_id.id,
            "order_uuid": payment.order_id.uuid,
            "order_name": payment.order_id.name,
            "amount_minor": round(
                payment.amount * 10**payment.currency_id.decimal_places
            ),
            "currency": payment.currency_id.name,
        }
        for payment in payments
    ]
