"""Seed of the benchmarks' ``odoo_stripe`` template (run in ``odoo shell``):
Odoo's own Stripe provider in test mode with a webhook secret, and
``transactions`` pending transactions of it (``pi_benchseed<n>``)."""


def seed(env, secret_key, webhook_secret, transactions):
    provider = env.ref("payment.payment_provider_stripe")
    provider.write(
        {
            "state": "test",
            "stripe_publishable_key": "pk_test_omochi_bench",
            "stripe_secret_key": secret_key,
            "stripe_webhook_secret": webhook_secret,
        }
    )
    partner = env["res.partner"].create(
        {"name": "Bench Stripe Customer", "email": "bench.stripe@example.com"}
    )
    method = env.ref("payment.payment_method_card")
    env["payment.transaction"].create(
        [
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "reference": f"BENCHSEED-{index}",
                "amount": 19.5,
                "currency_id": env.company.currency_id.id,
                "partner_id": partner.id,
                "state": "pending",
                "provider_reference": f"pi_benchseed{index}",
            }
            for index in range(transactions)
        ]
    )
    return {"transactions": env["payment.transaction"].search_count([])}
