"""The webhook on Stripe's own example objects (DESIGN §4, §8).

Stripe publishes one example of each API object per API version; the one of
API 2023-10-16 lies beside the repository, at
``<repository root>/../shared/stripe/fixtures3-2023-10-16.json``. Each test
runs one story twice on two payments of 51.00 USD: once with the events the
project's simulator sends, once with Stripe's ``checkout.session``,
``payment_intent`` and ``charge`` examples as published, in Stripe's example
``event``, and checks that both end the same way.

What is replaced in the examples, and nothing else (``published()`` refuses
a field the example lacks):

* ids: the object's own ``id``, the ids it points at (``payment_intent``,
  ``latest_charge``), and the Omochi ids the addon sets on every object it
  creates (``client_reference_id``, ``metadata``), the way Stripe echoes them;
* amounts, in minor units (the examples are in USD, as the payments);
* for the session only, what no example shows: the published session is an
  ``open``, ``unpaid`` one without a currency, so a completed, a failed and an
  expired one take the ``status``, ``payment_status`` and ``currency`` of
  that state;
* for the event: its ``id``, ``type`` and ``data.object``. Its published
  ``api_version`` (2020-08-27) and ``created`` stay, the addon reads neither.
"""

import copy
import json
import uuid
from pathlib import Path

from odoo.tests import tagged
from odoo.tools import mute_logger

from .. import const
from ..tools.stripe_amounts import to_minor_units
from .test_webhook import LOGGERS, WebhookCase, encode, new_event_id

FIXTURES_RELATIVE = Path("..", "shared", "stripe", "fixtures3-2023-10-16.json")
#: The minor units of each payment (51.00 USD: two items of 25.50).
AMOUNT = 5100


def load_stripe_fixtures():
    """Stripe's example objects by name; a missing file is an error.

    :raise FileNotFoundError: the file is not beside the repository.
    """
    path = (Path(__file__).resolve().parents[2] / FIXTURES_RELATIVE).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            "Stripe's fixtures are missing: expected <repository root>/"
            f"{FIXTURES_RELATIVE.as_posix()} ({path})."
        )
    return json.loads(path.read_text())["resources"]


def new_stripe_id(prefix):
    return f"{prefix}_1{uuid.uuid4().hex[:23]}"


@tagged("post_install", "-at_install")
class TestWebhookOnStripeFixtures(WebhookCase):
    """Stripe's example objects complete, fail and refund a payment as the
    simulator's do."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fixtures = load_stripe_fixtures()
        cls.currency_usd = cls.env.ref("base.USD")
        cls.currency_usd.active = True

    # ------------------------------------------------------------------
    # The two sides of each story
    # ------------------------------------------------------------------

    def usd_payment(self):
        """A 51.00 USD order and its open checkout at the simulator."""
        order = self._create_order(
            self.customer_contact,
            price_unit=25.5,
            quantity=2,
            currency_id=self.currency_usd.id,
        )
        transaction, created = order._omochi_checkout()
        self.assertTrue(created)
        self.assertEqual(to_minor_units(transaction.amount, "USD"), AMOUNT)
        return transaction

    def published(self, name, **values):
        """A deep copy of Stripe's example ``name`` with ``values`` replaced;
        only fields of the example may be replaced."""
        stripe_object = copy.deepcopy(self.fixtures[name])
        unknown = set(values) - set(stripe_object)
        self.assertFalse(unknown, f"not fields of Stripe's {name}: {unknown}")
        stripe_object.update(values)
        return stripe_object

    def published_event(self, event_type, stripe_object):
        """Stripe's example event around ``stripe_object``."""
        return self.published(
            "event",
            id=new_event_id(),
            type=event_type,
            data={"object": stripe_object},
        )

    @staticmethod
    def omochi_ids(transaction):
        """The ids the addon sets on the objects Stripe makes for a payment."""
        return {
            "payment_id": transaction.uuid,
            "order_id": transaction.order_id.uuid,
            "order_name": transaction.order_id.name,
        }

    def published_session(self, transaction, intent_id, **state):
        """Stripe's example session, for ``transaction``'s, in ``state``."""
        return self.published(
            "checkout.session",
            id=transaction.stripe_checkout_session_id,
            payment_intent=intent_id,
            client_reference_id=transaction.uuid,
            metadata=self.omochi_ids(transaction),
            amount_subtotal=AMOUNT,
            amount_total=AMOUNT,
            **state,
        )

    def published_intent(self, transaction, intent_id, charge_id, received):
        return self.published(
            "payment_intent",
            id=intent_id,
            latest_charge=charge_id,
            metadata=self.omochi_ids(transaction),
            amount=AMOUNT,
            amount_received=received,
        )

    def published_charge(self, transaction, intent_id, charge_id, refunded):
        return self.published(
            "charge",
            id=charge_id,
            payment_intent=intent_id,
            metadata=self.omochi_ids(transaction),
            amount=AMOUNT,
            amount_captured=AMOUNT,
            amount_refunded=refunded,
        )

    # ------------------------------------------------------------------
    # Delivery and observation
    # ------------------------------------------------------------------

    def _deliver(self, event):
        """POST ``event`` to the webhook, signed as Stripe signs; return the
        stored event once it has been handled. The one way these tests
        deliver events."""
        with mute_logger(*LOGGERS):
            response = self.post(encode(event))
            self.assertEqual(response.status_code, 200, response.text)
            self.process_events()
        return self.stored(event["id"])

    def outcome(self, transaction, stripe_ids):
        """What an event sequence did to a payment; ``stripe_ids`` are the
        intent and charge ids its objects carried."""
        transaction.invalidate_recordset()
        return {
            "status": transaction.status,
            "amount_refunded": to_minor_units(transaction.amount_refunded, "USD"),
            "order_state": transaction.order_id.state,
            "intent_id": transaction.stripe_payment_intent_id
            == stripe_ids.get("intent"),
            "charge_id": transaction.stripe_charge_id == stripe_ids.get("charge"),
            "error": bool(transaction.error_message),
            "events": transaction.sudo().event_ids.sorted("id").mapped("state"),
        }

    def assertSameOutcome(self, simulated, published, expected):
        """Both sides ended as ``expected`` (a subset of ``outcome()``)."""
        self.assertEqual(simulated, published)
        self.assertEqual({key: published[key] for key in expected}, expected)

    # ------------------------------------------------------------------
    # Stories
    # ------------------------------------------------------------------

    def test_completed_session_completes_the_payment(self):
        simulated = self.usd_payment()
        result = self.pay(simulated)
        session = result["checkout_session"]
        self._deliver(self.sim_event("checkout.session.completed", session["id"]))

        published = self.usd_payment()
        intent_id = new_stripe_id("pi")
        self._deliver(
            self.published_event(
                "checkout.session.completed",
                self.published_session(
                    published,
                    intent_id,
                    status="complete",
                    payment_status="paid",
                    currency="usd",
                ),
            )
        )
        self.assertSameOutcome(
            self.outcome(simulated, {"intent": result["payment_intent"]["id"]}),
            self.outcome(published, {"intent": intent_id}),
            {
                "status": const.STATUS_COMPLETED,
                "order_state": "paid",
                "intent_id": True,
                "error": False,
                "events": ["done"],
            },
        )

    def test_succeeded_payment_intent_completes_the_payment(self):
        simulated = self.usd_payment()
        result = self.pay(simulated)
        intent = result["payment_intent"]
        self._deliver(self.sim_event("payment_intent.succeeded", intent["id"]))

        published = self.usd_payment()
        intent_id, charge_id = new_stripe_id("pi"), new_stripe_id("ch")
        self._deliver(
            self.published_event(
                "payment_intent.succeeded",
                self.published_intent(published, intent_id, charge_id, AMOUNT),
            )
        )
        self.assertSameOutcome(
            self.outcome(
                simulated, {"intent": intent["id"], "charge": result["charge"]["id"]}
            ),
            self.outcome(published, {"intent": intent_id, "charge": charge_id}),
            {
                "status": const.STATUS_COMPLETED,
                "order_state": "paid",
                "intent_id": True,
                "charge_id": True,
                "events": ["done"],
            },
        )

    def test_failed_payment_intent_fails_the_payment(self):
        simulated = self.usd_payment()
        intent = self.pay(simulated, "failed")["payment_intent"]
        self._deliver(self.sim_event("payment_intent.payment_failed", intent["id"]))

        published = self.usd_payment()
        intent_id = new_stripe_id("pi")
        self._deliver(
            self.published_event(
                "payment_intent.payment_failed",
                self.published_intent(published, intent_id, None, 0),
            )
        )
        self.assertSameOutcome(
            self.outcome(simulated, {"intent": intent["id"]}),
            self.outcome(published, {"intent": intent_id}),
            {
                "status": const.STATUS_FAILED,
                "intent_id": True,
                "error": True,
                "events": ["done"],
            },
        )
        # The message is the intent's error, or a generic one without any
        # (the published intent has ``last_payment_error: null``).
        self.assertEqual(
            simulated.error_message, intent["last_payment_error"]["message"]
        )
        self.assertEqual(published.error_message, "The payment failed.")

    def test_failed_asynchronous_payment_fails_the_payment(self):
        simulated = self.usd_payment()
        self.pay(simulated, "unpaid")
        session_id = simulated.stripe_checkout_session_id
        self._deliver(self.sim_event("checkout.session.completed", session_id))
        self.assertEqual(simulated.status, const.STATUS_PROCESSING)
        result = self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "failed"},
        )
        self._deliver(
            self.sim_event("checkout.session.async_payment_failed", session_id)
        )

        published = self.usd_payment()
        intent_id = new_stripe_id("pi")
        for event_type in (
            "checkout.session.completed",
            "checkout.session.async_payment_failed",
        ):
            session = self.published_session(
                published,
                intent_id,
                status="complete",
                payment_status="unpaid",
                currency="usd",
            )
            self._deliver(self.published_event(event_type, session))
            if event_type == "checkout.session.completed":
                self.assertEqual(published.status, const.STATUS_PROCESSING)
        self.assertSameOutcome(
            self.outcome(simulated, {"intent": result["payment_intent"]["id"]}),
            self.outcome(published, {"intent": intent_id}),
            {
                "status": const.STATUS_FAILED,
                "intent_id": True,
                "error": True,
                "events": ["done", "done"],
            },
        )

    def test_expired_session_expires_the_payment(self):
        simulated = self.usd_payment()
        session_id = simulated.stripe_checkout_session_id
        self.simulator("POST", f"checkout/sessions/{session_id}/expire_now")
        self._deliver(self.sim_event("checkout.session.expired", session_id))

        published = self.usd_payment()
        self._deliver(
            self.published_event(
                "checkout.session.expired",
                # An expired session without a payment attempt has no intent.
                self.published_session(
                    published, None, status="expired", currency="usd"
                ),
            )
        )
        self.assertSameOutcome(
            self.outcome(simulated, {}),
            self.outcome(published, {}),
            {
                "status": const.STATUS_EXPIRED,
                "events": ["done"],
            },
        )

    def test_refunded_charge_refunds_the_payment(self):
        simulated = self.usd_payment()
        result = self.pay(simulated)
        session_id = simulated.stripe_checkout_session_id
        charge_id = result["charge"]["id"]
        self._deliver(self.sim_event("checkout.session.completed", session_id))
        for amount in (1000, AMOUNT - 1000):
            self.refund(charge_id, amount)
            self._deliver(self.sim_events("charge.refunded", charge_id)[-1])
            if amount == 1000:
                self.assertEqual(simulated.status, const.STATUS_PARTIALLY_REFUNDED)

        published = self.usd_payment()
        intent_id, published_charge_id = new_stripe_id("pi"), new_stripe_id("ch")
        self._deliver(
            self.published_event(
                "checkout.session.completed",
                self.published_session(
                    published,
                    intent_id,
                    status="complete",
                    payment_status="paid",
                    currency="usd",
                ),
            )
        )
        for refunded in (1000, AMOUNT):
            charge = self.published_charge(
                published, intent_id, published_charge_id, refunded
            )
            self._deliver(self.published_event("charge.refunded", charge))
            if refunded == 1000:
                self.assertEqual(published.status, const.STATUS_PARTIALLY_REFUNDED)
                self.assertEqual(to_minor_units(published.amount_refunded, "USD"), 1000)
        self.assertSameOutcome(
            self.outcome(
                simulated,
                {"intent": result["payment_intent"]["id"], "charge": charge_id},
            ),
            self.outcome(
                published, {"intent": intent_id, "charge": published_charge_id}
            ),
            {
                "status": const.STATUS_REFUNDED,
                "amount_refunded": AMOUNT,
                "order_state": "refunded",
                "intent_id": True,
                "charge_id": True,
                "events": ["done", "done", "done"],
            },
        )

    def test_refund_before_completion_completes_then_refunds(self):
        """A ``charge.refunded`` arriving first: the paid charge completes the
        payment, then its refund applies (§4, events in any order)."""
        simulated = self.usd_payment()
        result = self.pay(simulated)
        charge_id = result["charge"]["id"]
        self.refund(charge_id, AMOUNT)
        self._deliver(self.sim_event("charge.refunded", charge_id))

        published = self.usd_payment()
        intent_id, published_charge_id = new_stripe_id("pi"), new_stripe_id("ch")
        self._deliver(
            self.published_event(
                "charge.refunded",
                self.published_charge(
                    published, intent_id, published_charge_id, AMOUNT
                ),
            )
        )
        self.assertSameOutcome(
            self.outcome(
                simulated,
                {"intent": result["payment_intent"]["id"], "charge": charge_id},
            ),
            self.outcome(
                published, {"intent": intent_id, "charge": published_charge_id}
            ),
            {
                "status": const.STATUS_REFUNDED,
                "amount_refunded": AMOUNT,
                "order_state": "refunded",
                "intent_id": True,
                "charge_id": True,
                "events": ["done"],
            },
        )

    def test_examples_keep_stripes_shape(self):
        """The replaced examples still have exactly the published fields."""
        transaction = self.usd_payment()
        for name, stripe_object in (
            ("checkout.session", self.published_session(transaction, "pi_x")),
            ("payment_intent", self.published_intent(transaction, "pi_x", None, 0)),
            ("charge", self.published_charge(transaction, "pi_x", "ch_x", 0)),
            ("event", self.published_event("charge.refunded", {})),
        ):
            with self.subTest(name):
                self.assertEqual(set(stripe_object), set(self.fixtures[name]))
        with self.assertRaises(AssertionError):
            self.published("charge", not_a_stripe_field=1)
