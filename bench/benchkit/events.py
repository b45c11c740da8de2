"""Stripe events of the benchmarks' payments, signed with the benchmark
server's webhook secret (built by the test kit, as the tests build them)."""

from testkit import stripe_events

from .constants import WEBHOOK_SECRET


def checkout_completed_event(payment, event_id=None):
    """A ``checkout.session.completed`` event (paid) for ``payment`` (a
    :class:`~benchkit.databases.Payment`), as Stripe sends it."""
    session = stripe_events.paid_checkout_session(
        payment.session_id,
        payment.payment_id,
        payment.order_uuid,
        payment.amount_minor,
        payment.currency,
        payment_intent=f"pi_bench{payment.transaction_id}",
        email="bench.portal@example.com",
        order_name="OM/bench",
    )
    return stripe_events.checkout_completed(session, event_id)


def signed_headers(body, secret=WEBHOOK_SECRET):
    """Headers of a delivery of ``body`` signed as Stripe signs it."""
    return stripe_events.signed_headers(body, secret)
