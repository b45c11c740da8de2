"""HTTP tests of the Stripe webhook ``POST /api/payments/webhook/`` (DESIGN §4, §8).

The events are Stripe's own: the payments are made through the order's
checkout against the project's simulator, the customer acts on the
simulator's control interface, and the webhook receives the events the
simulator recorded, signed as Stripe signs them. Nothing of the ORM is
mocked; every request goes through Odoo's HTTP stack.
"""

import copy
import itertools
import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from unittest.mock import patch

import requests
from psycopg2.extensions import TRANSACTION_STATUS_INTRANS

from odoo import fields, sql_db
from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from .. import const
from ..const import WEBHOOK_MAX_BODY_BYTES
from ..models.omochi_payment_event import _CronWaker
from ..tools.stripe_signature import compute_signature, signature_header
from .common import OmochiPaymentsCase, StripeSimulatorMixin

_logger = logging.getLogger(__name__)

WEBHOOK = "/api/payments/webhook/"
SECRET = "whsec_omochi_webhook_current_0123456789"
OLD_SECRET = "whsec_omochi_webhook_previous_987654321"
RETIRED_SECRET = "whsec_omochi_webhook_retired_000000000"
OTHER_COMPANY_SECRET = "whsec_omochi_webhook_other_company_42"
API_VERSION = "2023-10-16"
PAST = datetime(2020, 1, 1, 12, 0, 0)
SIGN = object()  # post(): sign the body with the given secret
LOGGERS = (
    "odoo.addons.omochi_payments.controllers.webhook",
    "odoo.addons.omochi_payments.models.omochi_payment_event",
)


def new_event_id():
    return f"evt_1{uuid.uuid4().hex[:23]}"


def make_event(event_type, stripe_object):
    """A Stripe event around ``stripe_object``, shaped like Stripe's."""
    return {
        "id": new_event_id(),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": copy.deepcopy(stripe_object)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def encode(event):
    """The body Stripe sends: pretty-printed JSON."""
    return json.dumps(event, indent=2).encode()


class WebhookCase(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    """Payments at the simulator, signed deliveries, database observations."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.company"].search([]).omochi_stripe_webhook_secret = False
        cls.env.company.omochi_stripe_webhook_secret = SECRET
        cls.customer_contact.email = "omochi.contact@customer.example"

    # ------------------------------------------------------------------
    # Stripe's side
    # ------------------------------------------------------------------

    def new_payment(self, price_unit=25.5, quantity=2):
        """A confirmed order (51.00 EUR by default) and its open checkout."""
        order = self._create_order(
            self.customer_contact, price_unit=price_unit, quantity=quantity
        )
        transaction, created = order._omochi_checkout()
        self.assertTrue(created)
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertTrue(transaction.stripe_checkout_session_id.startswith("cs_"))
        return transaction

    def pay(self, transaction, outcome="paid", **values):
        """The customer on the hosted page: ``{"checkout_session",
        "payment_intent", "charge"}`` as the simulator answers."""
        return self.complete_session(
            transaction.stripe_checkout_session_id, outcome, **values
        )

    def stripe_api(self, path, data):
        """POST to the simulator's Stripe API, as the Dashboard would."""
        response = requests.post(
            f"{self.simulator_url}{path}",
            data=data,
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        )
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()

    def refund(self, charge_id, amount):
        return self.stripe_api("/v1/refunds", {"charge": charge_id, "amount": amount})

    def sim_events(self, event_type, object_id):
        """The events the simulator recorded for ``object_id``, oldest first."""
        events = self.simulator("GET", f"events?type={event_type}")["data"]
        events = [e for e in events if e["data"]["object"]["id"] == object_id]
        for event in events:
            self.assertTrue(event["id"].startswith("evt_"))
            self.assertEqual(event["object"], "event")
            self.assertEqual(event["api_version"], API_VERSION)
            self.assertIs(event["livemode"], False)
            self.assertIsInstance(event["created"], int)
        return events

    def sim_event(self, event_type, object_id):
        events = self.sim_events(event_type, object_id)
        self.assertEqual(len(events), 1, f"{event_type} of {object_id}")
        return events[0]

    # ------------------------------------------------------------------
    # Deliveries
    # ------------------------------------------------------------------

    def post(
        self,
        body,
        header=SIGN,
        *,
        secret=SECRET,
        timestamp=None,
        offset=None,
        headers=None,
    ):
        """POST ``body`` (bytes) to the webhook as Stripe does, signed at
        ``timestamp``, or ``offset`` seconds from now (the nearest second)."""
        if offset is not None:
            timestamp = round(time.time()) + offset
        all_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        if header is SIGN:
            header = signature_header(body, secret, timestamp)
        if header is not None:
            all_headers["Stripe-Signature"] = header
        all_headers.update(headers or {})
        response = self.opener.post(
            self.base_url() + WEBHOOK,
            data=body,
            headers=all_headers,
            timeout=60,
            allow_redirects=False,
        )
        self.env.invalidate_all()
        self.assertLess(response.status_code, 500, response.text)
        return response

    def send(self, event, state="done", duplicate=False, **kwargs):
        """Deliver ``event``; assert the 200 answer; return the stored event."""
        body = encode(event)
        with mute_logger(*LOGGERS):
            response = self.post(body, **kwargs)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.headers["Content-Type"].split(";")[0], "application/json"
        )
        self.assertEqual(response.json(), {"received": True, "duplicate": duplicate})
        with mute_logger(*LOGGERS):
            self.process_events()
        stored = self.stored(event["id"])
        self.assertEqual(stored.state, state)
        return stored

    def stored(self, event_id):
        return self.env["omochi.payment.event"].search(
            [("stripe_event_id", "=", event_id)]
        )

    def assertRefused(self, response, status, code):
        """The §7 error body with ``status`` and ``code``."""
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(
            response.headers["Content-Type"].split(";")[0], "application/json"
        )
        body = response.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(set(body["error"]), {"code", "message"})
        self.assertEqual(body["error"]["code"], code)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertTrue(body["error"]["message"])
        self.assertNotIn("whsec_", response.text)

    # ------------------------------------------------------------------
    # Database observations
    # ------------------------------------------------------------------

    def age(self, *records):
        """Set ``write_date`` of ``records`` in the past, so that any later
        ORM write shows (all writes of one test share one timestamp)."""
        self.env.flush_all()
        for record in records:
            self.env.cr.execute(
                SQL(
                    "UPDATE %s SET write_date = %s WHERE id IN %s",
                    SQL.identifier(record._table),
                    PAST,
                    tuple(record.ids),
                )
            )
        self.env.invalidate_all()

    def row_counts(self):
        # The test's pending tracking messages are written by the precommit
        # hooks, which the next HTTP request of the test would run.
        self.env.flush_all()
        self.env.cr.flush()
        self.env.cr.execute(
            """
            SELECT (SELECT count(*) FROM omochi_payment_event),
                   (SELECT count(*) FROM mail_message),
                   (SELECT count(*) FROM mail_tracking_value),
                   (SELECT count(*) FROM omochi_payment_transaction)
            """
        )
        return dict(
            zip(
                ("events", "messages", "trackings", "transactions"),
                self.env.cr.fetchone(),
                strict=True,
            )
        )

    def state_of(self, transaction):
        """What a webhook could change of a transaction and its order."""
        self.env.invalidate_all()
        order = transaction.order_id
        return {
            "status": transaction.status,
            "write_date": transaction.write_date,
            "amount_refunded": transaction.amount_refunded,
            "error_message": transaction.error_message,
            "completed_at": transaction.completed_at,
            "stripe_payment_intent_id": transaction.stripe_payment_intent_id,
            "stripe_charge_id": transaction.stripe_charge_id,
            "messages": len(transaction.message_ids),
            "order_state": order.state,
            "payment_state": order.payment_state,
            "order_write_date": order.write_date,
            "order_messages": len(order.message_ids),
        }

    @contextmanager
    def assertNothingWritten(self, transaction):
        """Nothing at all is written: no event, message, tracking value, no
        change to the transaction or its order."""
        self.age(transaction, transaction.order_id)
        before = (self.row_counts(), self.state_of(transaction))
        yield
        self.assertEqual((self.row_counts(), self.state_of(transaction)), before)

    def messages(self, record, needle):
        return record.message_ids.filtered(lambda m: needle in (m.body or ""))

    def make_due(self, event, minutes_ago, attempts=None):
        """Set the last attempt of ``event`` ``minutes_ago`` before the
        database's now (the clock of the retry query)."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE omochi_payment_event
               SET write_date = (now() AT TIME ZONE 'UTC')
                                - interval '1 minute' * %(minutes)s,
                   attempts = COALESCE(%(attempts)s, attempts)
             WHERE id = %(id)s
            """,
            {"minutes": minutes_ago, "attempts": attempts, "id": event.id},
        )
        self.env.invalidate_all()

    def assertCompleted(self, transaction):
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertTrue(transaction.completed_at)
        self.assertFalse(transaction.error_message)
        order = transaction.order_id
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.payment_state, "paid")
        self.assertEqual(len(self.messages(transaction, "completed at Stripe")), 1)
        self.assertEqual(len(self.messages(order, "Order paid")), 1)
        self.assertIn(transaction.reference, self.messages(order, "Order paid").body)

    def retry_failed(self):
        with mute_logger(*LOGGERS):
            self.env["omochi.payment.event"]._cron_omochi_retry_failed()
        self.env.invalidate_all()


@tagged("post_install", "-at_install")
class TestWebhookSignature(WebhookCase):
    """§8: verified before anything is parsed; any failure answers 400 and
    writes nothing."""

    def setUp(self):
        super().setUp()
        self.transaction = self.new_payment()
        session = self.pay(self.transaction)["checkout_session"]
        self.event = self.sim_event("checkout.session.completed", session["id"])
        self.body = encode(self.event)

    def assertAcceptedNow(self):
        """The positive control: the same event, correctly signed, completes."""
        stored = self.send(self.event)
        self.assertEqual(stored.state, "done")
        self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)

    def assertRefusals(self, cases, status=400, code="invalid_signature"):
        """Each case is ``name: post() keyword arguments``."""
        for name, kwargs in cases.items():
            with self.subTest(name), self.assertNothingWritten(self.transaction):
                kwargs = dict(kwargs)
                body = kwargs.pop("body", self.body)
                with mute_logger(*LOGGERS):
                    response = self.post(body, **kwargs)
                self.assertRefused(response, status, code)

    def test_valid_signature(self):
        intent_id = self.event["data"]["object"]["payment_intent"]
        succeeded = self.sim_event("payment_intent.succeeded", intent_id)
        with self.subTest("299 s ahead"):
            self.assertEqual(self.send(succeeded, offset=299).state, "done")
        with self.subTest("299 s old"):
            self.assertEqual(self.send(self.event, offset=-299).state, "done")
        self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)

    def test_several_v1_entries(self):
        now = int(time.time())
        good = compute_signature(self.body, now, SECRET)
        bad = compute_signature(self.body, now, RETIRED_SECRET)
        header = f"t={now},v1={bad},v1={'0' * 64},v1={good},v0={bad}"
        stored = self.send(self.event, header=header)
        self.assertEqual(stored.state, "done")

    def test_secret_rotation(self):
        """Two secrets during a rotation: either verifies, a third does not."""
        self.env.company.omochi_stripe_webhook_secret = f"{OLD_SECRET}, {SECRET}"
        self.assertRefusals({"retired secret": {"secret": RETIRED_SECRET}})
        intent_id = self.event["data"]["object"]["payment_intent"]
        succeeded = self.sim_event("payment_intent.succeeded", intent_id)
        self.assertEqual(self.send(succeeded, secret=OLD_SECRET).state, "done")
        self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(self.send(self.event, secret=SECRET).state, "done")

    def test_retired_secret_refused_after_rotation(self):
        self.env.company.omochi_stripe_webhook_secret = SECRET
        self.assertRefusals({"signed with the old secret": {"secret": OLD_SECRET}})
        self.assertAcceptedNow()

    def test_secrets_of_every_company(self):
        """One endpoint per company is possible: any company's secret
        verifies, but it speaks for its own company only (§5)."""
        self.other_company.omochi_stripe_webhook_secret = OTHER_COMPANY_SECRET
        stored = self.send(self.event, "ignored", secret=OTHER_COMPANY_SECRET)
        self.assertEqual(stored.signature_scope, "company")
        self.assertEqual(stored.signature_company_ids, self.other_company)
        self.assertIn("Omochi Other Co.", stored.error)
        self.assertIn(self.env.company.name, stored.error)
        self.assertFalse(stored.transaction_id)
        self.assertEqual(self.transaction.status, const.STATUS_PENDING)
        self.assertEqual(self.transaction.order_id.state, "confirmed")
        # The same change signed with the payment's company's secret applies.
        again = dict(self.event, id=new_event_id())
        stored = self.send(again)
        self.assertEqual(stored.signature_company_ids, self.env.company)
        self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)

    def test_secret_shared_by_companies(self):
        """A secret configured for several companies speaks for each."""
        self.other_company.omochi_stripe_webhook_secret = SECRET
        stored = self.send(self.event)
        self.assertEqual(
            stored.signature_company_ids, self.env.company | self.other_company
        )
        self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)

    def test_livemode_must_match_the_company_key(self):
        """A live-mode event never changes a payment of a company whose key
        is a test key (and the reverse): stored ignored, error says why."""
        live = dict(self.event, livemode=True)
        stored = self.send(live, "ignored")
        self.assertIn("live-mode event", stored.error)
        self.assertIs(stored.livemode, True)
        self.assertEqual(self.transaction.status, const.STATUS_PENDING)
        os.environ["STRIPE_SECRET_KEY"] = "sk_live_omochi_not_a_real_key"
        stored = self.send(dict(self.event, id=new_event_id()), "ignored")
        self.assertIn("test-mode event", stored.error)
        self.assertEqual(self.transaction.status, const.STATUS_PENDING)

    def test_secret_cache_follows_the_settings(self):
        """The active secrets are cached per worker; changing a company's
        secret clears the cache at once."""
        self.send(self.event)
        self.env.company.omochi_stripe_webhook_secret = OLD_SECRET
        self.assertRefusals({"replaced secret": {"secret": SECRET}})
        succeeded = self.sim_event(
            "payment_intent.succeeded", self.event["data"]["object"]["payment_intent"]
        )
        self.send(succeeded, "done", secret=OLD_SECRET)

    def test_environment_secret(self):
        """The process environment wins over the companies' settings (§5),
        and its secrets speak for every company."""
        os.environ["STRIPE_WEBHOOK_SECRET"] = f"{OLD_SECRET},{RETIRED_SECRET}"
        self.assertRefusals({"company secret overridden": {"secret": SECRET}})
        stored = self.send(self.event, secret=RETIRED_SECRET)
        self.assertEqual(stored.state, "done")
        self.assertEqual(stored.signature_scope, "process")
        self.assertFalse(stored.signature_company_ids)

    def test_garbled_headers(self):
        now = int(time.time())
        good = compute_signature(self.body, now, SECRET)
        self.assertRefusals(
            {
                "missing header": {"header": None},
                "empty header": {"header": ""},
                "no t": {"header": f"v1={good}"},
                "no v1": {"header": f"t={now}"},
                "v0 only": {"header": f"t={now},v0={good}"},
                "non-numeric t": {"header": f"t=now,v1={good}"},
                "duplicated t": {"header": f"t={now},t={now},v1={good}"},
                "garbage": {"header": "this is not a signature"},
                "huge": {"header": f"t={now},v1={good}," + "v1=00," * 2000},
                "signature of another body": {
                    "header": signature_header(b"{}", SECRET, now)
                },
            }
        )
        self.assertAcceptedNow()

    def test_wrong_secret_and_tampered_body(self):
        now = int(time.time())
        header = signature_header(self.body, SECRET, now)
        one_byte = bytearray(self.body)
        one_byte[self.body.index(b'"amount_total"') + 1] = ord("A")
        self.assertRefusals(
            {
                "wrong secret": {"secret": RETIRED_SECRET},
                "secret of another endpoint": {"secret": OTHER_COMPANY_SECRET},
                "one byte changed": {"body": bytes(one_byte), "header": header},
                "whitespace added": {"body": self.body + b" ", "header": header},
                "re-indented": {
                    "body": json.dumps(self.event).encode(),
                    "header": header,
                },
            }
        )
        self.assertAcceptedNow()

    def test_timestamp_tolerance(self):
        self.assertRefusals(
            {
                "301 s old": {"offset": -301},
                "301 s ahead": {"offset": 301},
                "a day old": {"offset": -86_400},
                "zero": {"timestamp": 0},
            }
        )
        stored = self.send(self.event, offset=-299)
        self.assertEqual(stored.state, "done")

    def test_signed_body_that_is_no_event(self):
        event_like = {k: v for k, v in self.event.items()}
        bodies = {
            "not JSON": b"<xml>checkout.session.completed</xml>",
            "not UTF-8": b"\xff\xfe{}",
            "empty": b"",
            "JSON list": b"[]",
            "JSON string": b'"evt_1"',
            "no id": {k: v for k, v in event_like.items() if k != "id"},
            "id not evt_": {**event_like, "id": "cs_test_123"},
            "no type": {k: v for k, v in event_like.items() if k != "type"},
            "no data": {k: v for k, v in event_like.items() if k != "data"},
            "no data.object": {**event_like, "data": {}},
            "data.object a string": {**event_like, "data": {"object": "cs_1"}},
            "type not a string": {**event_like, "type": ["charge.refunded"]},
        }
        self.assertRefusals(
            {
                name: {"body": body if isinstance(body, bytes) else encode(body)}
                for name, body in bodies.items()
            },
            code="invalid_payload",
        )
        self.assertAcceptedNow()

    def test_no_secret_configured(self):
        """No secret at all: every webhook is refused, never processed."""
        self.env["res.company"].search([]).omochi_stripe_webhook_secret = False
        now = int(time.time())
        self.assertRefusals(
            {
                "signed with the former secret": {},
                "signed with an empty secret": {
                    "header": signature_header(self.body, "", now)
                },
                "unsigned": {"header": None},
            }
        )
        self.env.company.omochi_stripe_webhook_secret = SECRET
        self.assertAcceptedNow()

    def test_body_too_large(self):
        limit = WEBHOOK_MAX_BODY_BYTES
        self.assertEqual(limit, 256 * 1024)
        padded = self.body[:-1] + b" " * (limit + 1 - len(self.body)) + b"}"
        self.assertEqual(len(padded), limit + 1)
        self.assertRefusals(
            {
                "signed, 256 KiB + 1": {"body": padded},
                "unsigned, 1 MiB": {"body": b"{" * (1024 * 1024), "header": None},
            },
            status=413,
            code="body_too_large",
        )

        def chunks():
            for start in range(0, len(padded), 65536):
                yield padded[start : start + 65536]

        with (
            self.subTest("chunked, no Content-Length"),
            self.assertNothingWritten(self.transaction),
            mute_logger(*LOGGERS),
        ):
            response = self.post(chunks(), header=signature_header(padded, SECRET))
            self.assertRefused(response, 413, "body_too_large")
        with self.subTest("exactly 256 KiB is accepted"):
            exact = padded[:-2] + b"}"
            self.assertEqual(len(exact), limit)
            response = self.post(exact)
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(self.stored(self.event["id"]).payload, exact.decode())
            self.process_events()
            self.assertEqual(self.transaction.status, const.STATUS_COMPLETED)

    @contextmanager
    def count_queries(self):
        """Count the SQL statements of every cursor of the process meanwhile
        (Odoo's cursors, and the NOTIFY of the cron waker)."""
        self.env.flush_all()
        counter = {"queries": 0}
        execute = sql_db.Cursor.execute
        wake = _CronWaker.wake

        def counting_execute(cursor, *args, **kwargs):
            counter["queries"] += 1
            return execute(cursor, *args, **kwargs)

        def counting_wake(waker, *args, **kwargs):
            counter["queries"] += 1  # the NOTIFY, sent by the waker's thread
            return wake(waker, *args, **kwargs)

        with (
            patch.object(sql_db.Cursor, "execute", counting_execute),
            patch.object(_CronWaker, "wake", counting_wake),
        ):
            yield counter

    def test_cost_of_acknowledgements(self):
        """§8: an acknowledgement costs at most 3 SQL queries (Odoo's registry
        check, which test mode skips, is the third), a duplicate or a forged
        request fewer; applying is the job's (queries per event logged)."""
        forged_header = signature_header(self.body, RETIRED_SECRET)
        with mute_logger(*LOGGERS):  # warm the caches
            self.post(self.body, header=forged_header)
            self.post(self.body)
        samples = {"forged": [], "new": [], "duplicate": [], "applied": []}

        def measure(kind, body, **kwargs):
            with self.count_queries() as counter, mute_logger(*LOGGERS):
                response = self.post(body, **kwargs)
            samples[kind].append(counter["queries"])
            return response

        for _index in range(5):
            response = measure("forged", self.body, header=forged_header)
            self.assertRefused(response, 400, "invalid_signature")
        for _index in range(3):
            transaction = self.new_payment()
            session = self.pay(transaction)["checkout_session"]
            event = self.sim_event("checkout.session.completed", session["id"])
            response = measure("new", encode(event))
            self.assertEqual(response.json(), {"received": True, "duplicate": False})
            self.assertEqual(transaction.status, const.STATUS_PENDING)
            response = measure("duplicate", encode(event))
            self.assertEqual(response.json(), {"received": True, "duplicate": True})
            with self.count_queries() as counter:
                self.process_events()
            samples["applied"].append(counter["queries"])
            self.assertEqual(self.stored(event["id"]).state, "done")
            self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        # Applying a batch: the job's fixed cost is shared by its events.
        batch = []
        for _index in range(5):
            transaction = self.new_payment()
            session = self.pay(transaction)["checkout_session"]
            event = self.sim_event("checkout.session.completed", session["id"])
            self.post(encode(event))
            batch.append(transaction)
        with self.count_queries() as counter:
            self.process_events()
        samples["applied in a batch of 5, per event"] = [counter["queries"] / 5]
        self.assertEqual(
            {t.status for t in batch}, {const.STATUS_COMPLETED}, "all applied"
        )
        _logger.info(
            "Webhook cost (SQL queries): %s",
            ", ".join(f"{kind}: {values}" for kind, values in samples.items()),
        )
        # No query per event beyond its own writes (no N+1 lookups).
        self.assertLessEqual(samples["applied in a batch of 5, per event"][0], 8)
        self.assertLessEqual(max(samples["new"]), 2)
        self.assertLessEqual(max(samples["duplicate"]), 1)
        self.assertLessEqual(max(samples["forged"]), 1)


@tagged("post_install", "-at_install")
class TestWebhookEventLog(WebhookCase):
    """§8: every verified event is stored once, processed in a savepoint."""

    def test_event_stored_once(self):
        transaction = self.new_payment()
        session = self.pay(transaction)["checkout_session"]
        event = self.sim_event("checkout.session.completed", session["id"])
        body = encode(event)
        before = fields.Datetime.now().replace(microsecond=0)
        response = self.post(body)
        after = fields.Datetime.now()
        self.assertEqual(response.json(), {"received": True, "duplicate": False})
        stored = self.stored(event["id"])
        # Acknowledged only: pending, nothing applied yet.
        self.assertEqual((stored.state, stored.attempts), ("pending", 0))
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.process_events()
        self.assertEqual(len(stored), 1)
        self.assertRecordValues(
            stored,
            [
                {
                    "stripe_event_id": event["id"],
                    "type": "checkout.session.completed",
                    "payload": body.decode(),
                    "state": "done",
                    "error": False,
                    "attempts": 1,
                    "transaction_id": transaction.id,
                    "company_id": transaction.company_id.id,
                }
            ],
        )
        self.assertTrue(before <= stored.received_at <= after)
        self.assertEqual(transaction.event_ids, stored)
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

        # Stripe delivers it again (same body, new signature), then a copy
        # serialised differently: 200 no-ops.
        for name, again in (
            ("same body", body),
            ("re-serialised", json.dumps(event).encode()),
        ):
            with self.subTest(name), self.assertNothingWritten(transaction):
                response = self.post(again)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.json(), {"received": True, "duplicate": True})
                self.process_events()
        stored.invalidate_recordset()
        self.assertEqual(stored.payload, body.decode())
        self.assertEqual(stored.attempts, 1)
        self.assertEqual(len(self.messages(transaction.order_id, "Order paid")), 1)

    def test_unknown_event_types_ignored(self):
        transaction = self.new_payment()
        result = self.pay(transaction)
        intent_id = result["payment_intent"]["id"]
        unknown = [
            self.sim_event("payment_intent.created", intent_id),
            self.sim_event("charge.succeeded", result["charge"]["id"]),
            make_event("customer.created", {"id": "cus_1", "object": "customer"}),
            make_event(
                "checkout.session.async_payment_pending", result["checkout_session"]
            ),
        ]
        for event in unknown:
            with self.subTest(event["type"]):
                self.age(transaction, transaction.order_id)
                before = self.state_of(transaction)
                stored = self.send(event, state="ignored")
                self.assertRecordValues(
                    stored,
                    [
                        {
                            "type": event["type"],
                            "state": "ignored",
                            "error": False,
                            "attempts": 1,
                            "transaction_id": False,
                        }
                    ],
                )
                self.assertEqual(self.state_of(transaction), before)
                self.send(event, state="ignored", duplicate=True)

    def test_event_for_no_known_payment(self):
        """A payment of another system on the same Stripe account."""
        session = self.stripe_api(
            "/v1/checkout/sessions",
            {
                "mode": "payment",
                "line_items[0][quantity]": 1,
                "line_items[0][price_data][currency]": "eur",
                "line_items[0][price_data][unit_amount]": 5100,
                "line_items[0][price_data][product_data][name]": "Not ours",
                "success_url": "https://elsewhere.example/ok",
                "cancel_url": "https://elsewhere.example/ko",
            },
        )
        result = self.complete_session(session["id"])
        count = self.row_counts()["transactions"]
        for event in (
            self.sim_event("checkout.session.completed", session["id"]),
            self.sim_event("payment_intent.succeeded", result["payment_intent"]["id"]),
        ):
            with self.subTest(event["type"]):
                stored = self.send(event, state="ignored")
                self.assertRecordValues(
                    stored,
                    [
                        {
                            "state": "ignored",
                            "error": "No matching payment.",
                            "attempts": 1,
                            "transaction_id": False,
                        }
                    ],
                )
        self.assertEqual(self.row_counts()["transactions"], count)

    def test_lookup_order(self):
        """metadata payment_id, then client_reference_id, session id, intent id."""
        cases = {
            "metadata payment_id": ("metadata",),
            "client_reference_id": ("client_reference_id",),
            "session id": ("id",),
            "payment intent id": ("payment_intent",),
        }
        for name, keep in cases.items():
            with self.subTest(name):
                transaction = self.new_payment()
                session = self.pay(transaction)["checkout_session"]
                if name == "payment intent id":
                    transaction.stripe_payment_intent_id = session["payment_intent"]
                    session["id"] = "cs_test_unknown_session_0000"
                stripped = {
                    **session,
                    "metadata": {},
                    "client_reference_id": None,
                    # Unknown, and each another object (one change each).
                    "id": f"cs_test_unknown_session_{uuid.uuid4().hex}",
                    "payment_intent": None,
                }
                for key in keep:
                    stripped[key] = session[key]
                stored = self.send(make_event("checkout.session.completed", stripped))
                self.assertEqual(stored.transaction_id, transaction)
                self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        with self.subTest("metadata wins over the session id"):
            first, second = self.new_payment(), self.new_payment()
            session = self.pay(first)["checkout_session"]
            # Ids of another payment: metadata says it is ``first``'s.
            misleading = {
                **session,
                "client_reference_id": second.uuid,
                "id": second.stripe_checkout_session_id,
            }
            stored = self.send(make_event("checkout.session.completed", misleading))
            self.assertEqual(stored.transaction_id, first)
            self.assertEqual(first.status, const.STATUS_COMPLETED)
            self.assertEqual(second.status, const.STATUS_PENDING)

    def test_payment_not_visible_yet_is_retried(self):
        """Our metadata, but no such payment (yet): stored failed, retried by
        the cron once due, then done."""
        transaction = self.new_payment()
        session = self.pay(transaction)["checkout_session"]
        event = self.sim_event("checkout.session.completed", session["id"])
        hidden = {"uuid": transaction.uuid, "session": session["id"]}
        # As if the payment's creation were not committed yet.
        self.env.flush_all()
        self.env.cr.execute(
            """
            UPDATE omochi_payment_transaction
               SET uuid = %s, stripe_checkout_session_id = NULL
             WHERE id = %s
            """,
            [str(uuid.uuid4()), transaction.id],
        )
        stored = self.send(event, state="failed")
        self.assertRecordValues(
            stored,
            [{"state": "failed", "attempts": 1, "transaction_id": False}],
        )
        self.assertIn("No payment matches this event yet.", stored.error)
        self.assertEqual(transaction.status, const.STATUS_PENDING)

        with self.subTest("not due yet"):
            self.retry_failed()
            self.assertEqual(stored.state, "failed")
            self.assertEqual(stored.attempts, 1)

        with self.subTest("a redelivery is a no-op"):
            self.send(event, state="failed", duplicate=True)
            self.assertEqual(stored.attempts, 1)

        self.env.cr.execute(
            """
            UPDATE omochi_payment_transaction
               SET uuid = %(uuid)s, stripe_checkout_session_id = %(session)s
             WHERE id = %(id)s
            """,
            {**hidden, "id": transaction.id},
        )
        self.make_due(stored, minutes_ago=3)
        self.retry_failed()
        self.assertRecordValues(
            stored,
            [
                {
                    "state": "done",
                    "error": False,
                    "attempts": 2,
                    "transaction_id": transaction.id,
                }
            ],
        )
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(transaction.order_id.state, "paid")


@tagged("post_install", "-at_install")
class TestWebhookFailures(WebhookCase):
    """§8: a processing failure keeps the event, marked failed, and the cron
    retries it with back-off."""

    def broken_intent_succeeded(self, transaction):
        """A payment_intent.succeeded without ``amount_received``."""
        intent = self.pay(transaction)["payment_intent"]
        event = self.sim_event("payment_intent.succeeded", intent["id"])
        broken = copy.deepcopy(event)
        del broken["data"]["object"]["amount_received"]
        return event, broken

    def test_failure_then_retry(self):
        transaction = self.new_payment()
        event, broken = self.broken_intent_succeeded(transaction)
        self.age(transaction, transaction.order_id)
        before = self.state_of(transaction)
        counts = self.row_counts()
        stored = self.send(broken, state="failed")
        self.assertRecordValues(
            stored,
            [
                {
                    "state": "failed",
                    "attempts": 1,
                    "transaction_id": False,
                    "payload": encode(broken).decode(),
                }
            ],
        )
        self.assertEqual(stored.error, "KeyError: 'amount_received'")
        self.assertEqual(self.state_of(transaction), before)
        self.assertEqual(self.row_counts(), {**counts, "events": counts["events"] + 1})

        self.retry_failed()  # not due: failed a moment ago
        self.assertEqual(stored.attempts, 1)

        # Fix the stored payload (as an operator would) and let time pass.
        self.env.cr.execute(
            "UPDATE omochi_payment_event SET payload = %s WHERE id = %s",
            [encode(event).decode(), stored.id],
        )
        self.make_due(stored, minutes_ago=3)
        self.retry_failed()
        self.assertRecordValues(
            stored,
            [
                {
                    "state": "done",
                    "error": False,
                    "attempts": 2,
                    "transaction_id": transaction.id,
                }
            ],
        )
        self.assertRecordValues(
            transaction,
            [
                {
                    "status": const.STATUS_COMPLETED,
                    "stripe_payment_intent_id": event["data"]["object"]["id"],
                    "stripe_charge_id": event["data"]["object"]["latest_charge"],
                }
            ],
        )
        self.assertEqual(transaction.order_id.state, "paid")

    def test_back_off(self):
        transaction = self.new_payment()
        _event, broken = self.broken_intent_succeeded(transaction)
        maximum = const.EVENT_MAX_ATTEMPTS
        # (attempts, minutes since the last attempt, retried?)
        cases = [
            (1, 1, False),
            (1, 3, True),
            (3, 1, False),
            (3, 7, False),
            (3, 9, True),
            (maximum - 1, 2 ** (maximum - 1) - 1, False),
            (maximum - 1, 2 ** (maximum - 1) + 1, True),
            (maximum, 60 * 24 * 365, False),
            (maximum + 3, 60 * 24 * 365, False),
        ]
        events = {}
        for case in cases:
            copy_event = {**broken, "id": new_event_id()}
            events[case] = self.send(copy_event, state="failed")
            self.make_due(events[case], minutes_ago=case[1], attempts=case[0])
        done = self.send(make_event("customer.created", {"id": "cus_1"}), "ignored")
        self.make_due(done, minutes_ago=60 * 24, attempts=1)
        self.retry_failed()
        for (attempts, minutes, retried), event in events.items():
            with self.subTest(attempts=attempts, minutes_ago=minutes):
                self.assertEqual(event.state, "failed")
                self.assertEqual(event.attempts, attempts + 1 if retried else attempts)
        self.assertEqual((done.state, done.attempts), ("ignored", 1))

        with self.subTest("the last attempt is never retried"):
            last = events[(maximum - 1, 2 ** (maximum - 1) + 1, True)]
            self.assertEqual(last.attempts, maximum)
            self.make_due(last, minutes_ago=60 * 24 * 365)
            self.retry_failed()
            self.assertEqual(last.attempts, maximum)
        self.assertEqual(transaction.status, const.STATUS_PENDING)


@tagged("post_install", "-at_install")
class TestWebhookTransitions(WebhookCase):
    """§4: each event type and transition, with the order's side effects."""

    def test_checkout_session_completed_paid(self):
        transaction = self.new_payment()
        result = self.pay(transaction)
        event = self.sim_event(
            "checkout.session.completed", result["checkout_session"]["id"]
        )
        self.assertEqual(event["data"]["object"]["payment_status"], "paid")
        stored = self.send(event)
        self.assertEqual(stored.transaction_id, transaction)
        self.assertCompleted(transaction)
        self.assertEqual(
            transaction.stripe_payment_intent_id, result["payment_intent"]["id"]
        )

    def test_checkout_session_completed_unpaid_then_async_succeeded(self):
        transaction = self.new_payment()
        session_id = transaction.stripe_checkout_session_id
        self.pay(transaction, "unpaid")
        event = self.sim_event("checkout.session.completed", session_id)
        self.assertEqual(event["data"]["object"]["payment_status"], "unpaid")
        self.send(event)
        self.assertEqual(transaction.status, const.STATUS_PROCESSING)
        self.assertFalse(transaction.completed_at)
        self.assertEqual(transaction.order_id.state, "confirmed")
        self.assertEqual(transaction.order_id.payment_state, "pending")

        self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "succeeded"},
        )
        self.send(
            self.sim_event("checkout.session.async_payment_succeeded", session_id)
        )
        self.assertCompleted(transaction)

    def test_async_payment_failed(self):
        transaction = self.new_payment()
        session_id = transaction.stripe_checkout_session_id
        self.pay(transaction, "unpaid")
        self.send(self.sim_event("checkout.session.completed", session_id))
        self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/async_result",
            {"outcome": "failed"},
        )
        self.send(self.sim_event("checkout.session.async_payment_failed", session_id))
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        self.assertTrue(transaction.error_message)
        self.assertEqual(transaction.order_id.state, "confirmed")
        self.assertEqual(transaction.order_id.payment_state, "not_paid")

    def test_checkout_session_expired(self):
        transaction = self.new_payment()
        session_id = transaction.stripe_checkout_session_id
        self.simulator("POST", f"checkout/sessions/{session_id}/expire_now")
        event = self.sim_event("checkout.session.expired", session_id)
        self.assertEqual(event["data"]["object"]["status"], "expired")
        self.send(event)
        self.assertEqual(transaction.status, const.STATUS_EXPIRED)
        self.assertEqual(transaction.order_id.payment_state, "not_paid")
        self.assertEqual(transaction.order_id.state, "confirmed")

    def test_payment_intent_succeeded(self):
        transaction = self.new_payment()
        result = self.pay(transaction)
        intent = result["payment_intent"]
        self.send(self.sim_event("payment_intent.succeeded", intent["id"]))
        self.assertCompleted(transaction)
        self.assertEqual(transaction.stripe_payment_intent_id, intent["id"])
        self.assertEqual(transaction.stripe_charge_id, result["charge"]["id"])

    def test_payment_intent_payment_failed(self):
        transaction = self.new_payment()
        message = "Your card was declined. (omochi test)"
        intent = self.pay(transaction, "failed", failure_message=message)[
            "payment_intent"
        ]
        event = self.sim_event("payment_intent.payment_failed", intent["id"])
        self.assertEqual(
            event["data"]["object"]["last_payment_error"]["message"], message
        )
        self.send(event)
        self.assertRecordValues(
            transaction,
            [
                {
                    "status": const.STATUS_FAILED,
                    "error_message": message,
                    "stripe_payment_intent_id": intent["id"],
                    "completed_at": False,
                }
            ],
        )
        self.assertEqual(transaction.order_id.payment_state, "not_paid")

    def test_charge_refunded_partial_then_full(self):
        transaction = self.new_payment()  # 51.00 EUR
        result = self.pay(transaction)
        self.send(
            self.sim_event("payment_intent.succeeded", result["payment_intent"]["id"])
        )
        charge_id = result["charge"]["id"]
        order = transaction.order_id

        self.refund(charge_id, 1250)
        events = self.sim_events("charge.refunded", charge_id)
        self.assertEqual(events[-1]["data"]["object"]["amount_refunded"], 1250)
        self.send(events[-1])
        self.assertRecordValues(
            transaction,
            [{"status": const.STATUS_PARTIALLY_REFUNDED, "amount_refunded": 12.5}],
        )
        self.assertEqual(order.payment_state, "partially_refunded")
        self.assertEqual(order.state, "paid")

        self.refund(charge_id, 5100 - 1250)
        events = self.sim_events("charge.refunded", charge_id)
        self.assertEqual(len(events), 2)
        self.assertIs(events[-1]["data"]["object"]["refunded"], True)
        self.send(events[-1])
        self.assertRecordValues(
            transaction,
            [{"status": const.STATUS_REFUNDED, "amount_refunded": 51.0}],
        )
        self.assertEqual(order.payment_state, "refunded")
        self.assertEqual(order.state, "refunded")

    def test_charge_refunded_full_at_once(self):
        transaction = self.new_payment()
        result = self.pay(transaction)
        self.send(
            self.sim_event(
                "checkout.session.completed", result["checkout_session"]["id"]
            )
        )
        self.refund(result["charge"]["id"], 5100)
        self.send(self.sim_event("charge.refunded", result["charge"]["id"]))
        self.assertRecordValues(
            transaction,
            [
                {
                    "status": const.STATUS_REFUNDED,
                    "amount_refunded": 51.0,
                    "stripe_charge_id": result["charge"]["id"],
                }
            ],
        )
        self.assertEqual(transaction.order_id.state, "refunded")

    def test_amount_or_currency_mismatch(self):
        cases = {
            "amount_total lower": {"amount_total": 5000},
            "amount_total higher": {"amount_total": 5101},
            "other currency": {"currency": "usd"},
        }
        for name, override in cases.items():
            for event_type in (
                "checkout.session.completed",
                "payment_intent.succeeded",
            ):
                with self.subTest(name, event_type=event_type):
                    transaction = self.new_payment()
                    result = self.pay(transaction, **override)
                    key = (
                        "checkout_session"
                        if "session" in event_type
                        else ("payment_intent")
                    )
                    event = self.sim_event(event_type, result[key]["id"])
                    self.send(event)
                    self.assertEqual(transaction.status, const.STATUS_PENDING)
                    self.assertIn("5100", transaction.error_message)
                    self.assertIn("not completed", transaction.error_message)
                    self.assertFalse(transaction.completed_at)
                    self.assertEqual(transaction.order_id.state, "confirmed")
                    self.assertFalse(self.messages(transaction.order_id, "Order paid"))


# The pairs of events of §4 that may arrive in either order, and the state
# both orders converge to. ``setup`` events are delivered first, in order.
ORDERING_CASES = [
    {
        "name": "checkout.session.completed + payment_intent.succeeded",
        "scenario": "paid",
        "events": ("completed", "intent_succeeded"),
        "status": const.STATUS_COMPLETED,
    },
    {
        "name": "payment_intent.payment_failed + checkout.session.completed (paid)",
        "scenario": "failed_then_paid",
        "events": ("intent_failed", "completed"),
        "status": const.STATUS_COMPLETED,
    },
    {
        "name": "payment_intent.payment_failed + payment_intent.succeeded",
        "scenario": "failed_then_paid",
        "events": ("intent_failed", "intent_succeeded"),
        "status": const.STATUS_COMPLETED,
    },
    {
        "name": "checkout.session.completed + checkout.session.expired",
        "scenario": "paid",
        "events": ("completed", "expired"),
        "status": const.STATUS_COMPLETED,
    },
    {
        "name": "checkout.session.completed (unpaid) + async_payment_succeeded",
        "scenario": "async_succeeded",
        "events": ("completed", "async_succeeded"),
        "status": const.STATUS_COMPLETED,
    },
    {
        "name": "checkout.session.completed (unpaid) + async_payment_failed",
        "scenario": "async_failed",
        "events": ("completed", "async_failed"),
        "status": const.STATUS_FAILED,
        "paid": False,
    },
    {
        "name": "charge.refunded partial twice",
        "scenario": "two_partial_refunds",
        "setup": ("completed",),
        "events": ("refund_1", "refund_2"),
        "status": const.STATUS_PARTIALLY_REFUNDED,
        "amount_refunded": 20.0,
    },
    {
        "name": "charge.refunded partial + full",
        "scenario": "partial_then_full_refund",
        "setup": ("completed",),
        "events": ("refund_1", "refund_2"),
        "status": const.STATUS_REFUNDED,
        "amount_refunded": 51.0,
    },
    {
        "name": "checkout.session.completed + charge.refunded partial",
        "scenario": "two_partial_refunds",
        "events": ("completed", "refund_1"),
        "status": const.STATUS_PARTIALLY_REFUNDED,
        "amount_refunded": 5.0,
    },
]


@tagged("post_install", "-at_install")
class TestWebhookOrdering(WebhookCase):
    """§4: events in any order converge to the state of the in-order
    delivery; a final state never regresses."""

    def scenario(self, name, transaction):
        """Drive the payment at the simulator; return its events by name."""
        session_id = transaction.stripe_checkout_session_id
        events = {}
        if name == "failed_then_paid":
            intent = self.pay(transaction, "failed")["payment_intent"]
            events["intent_failed"] = self.sim_event(
                "payment_intent.payment_failed", intent["id"]
            )
        if name in ("async_succeeded", "async_failed"):
            self.pay(transaction, "unpaid")
            outcome = name.removeprefix("async_")
            self.simulator(
                "POST",
                f"checkout/sessions/{session_id}/async_result",
                {"outcome": outcome},
            )
            events[name] = self.sim_event(
                f"checkout.session.async_payment_{outcome}", session_id
            )
            events["completed"] = self.sim_event(
                "checkout.session.completed", session_id
            )
            return events
        result = self.pay(transaction)
        intent_id = result["payment_intent"]["id"]
        events["completed"] = self.sim_event("checkout.session.completed", session_id)
        events["intent_succeeded"] = self.sim_event(
            "payment_intent.succeeded", intent_id
        )
        # Stripe never expires a completed session; a delayed expiry event
        # of the session as it was while open stands for a late delivery.
        open_session = {
            **result["checkout_session"],
            "status": "expired",
            "payment_status": "unpaid",
            "url": None,
        }
        events["expired"] = make_event("checkout.session.expired", open_session)
        charge_id = result["charge"]["id"]
        if name == "two_partial_refunds":
            self.refund(charge_id, 500)
            self.refund(charge_id, 1500)
        if name == "partial_then_full_refund":
            self.refund(charge_id, 500)
            self.refund(charge_id, 4600)
        for index, event in enumerate(self.sim_events("charge.refunded", charge_id)):
            events[f"refund_{index + 1}"] = event
        return events

    def snapshot(self, transaction):
        self.env.invalidate_all()
        return {
            "status": transaction.status,
            "amount_refunded": transaction.amount_refunded,
            "order_state": transaction.order_id.state,
            "payment_state": transaction.order_id.payment_state,
            "completion_messages": len(self.messages(transaction, "completed at")),
            "order_paid_messages": len(
                self.messages(transaction.order_id, "Order paid")
            ),
        }

    def assertNoRegression(self, previous, current):
        if previous["status"] in const.PAID_STATUSES:
            self.assertIn(current["status"], const.PAID_STATUSES)
            self.assertIn(current["order_state"], ("paid", "refunded"))
        self.assertGreaterEqual(current["amount_refunded"], previous["amount_refunded"])
        if previous["status"] == const.STATUS_REFUNDED:
            self.assertEqual(current["status"], const.STATUS_REFUNDED)

    def test_events_in_any_order_converge(self):
        for case in ORDERING_CASES:
            finals = {}
            for order in itertools.permutations(case["events"]):
                with self.subTest(case["name"], order=order):
                    transaction = self.new_payment()  # 51.00 EUR
                    events = self.scenario(case["scenario"], transaction)
                    for name in case.get("setup", ()):
                        self.send(events[name])
                    previous = self.snapshot(transaction)
                    for name in order:
                        self.send(events[name])
                        current = self.snapshot(transaction)
                        self.assertNoRegression(previous, current)
                        previous = current
                    self.assertEqual(previous["status"], case["status"])
                    if "amount_refunded" in case:
                        self.assertEqual(
                            previous["amount_refunded"], case["amount_refunded"]
                        )
                    paid = int(case.get("paid", True))
                    self.assertEqual(previous["completion_messages"], paid)
                    self.assertEqual(previous["order_paid_messages"], paid)
                    finals[order] = previous
            with self.subTest(case["name"], check="same final state"):
                self.assertEqual(len(set(map(str, finals.values()))), 1, finals)
            with self.subTest(case["name"], check="redelivery changes nothing"):
                # Stripe retries every event: all are duplicates now.
                for name in case["events"]:
                    self.send(
                        events[name],
                        state=self.stored(events[name]["id"]).state,
                        duplicate=True,
                    )
                self.assertEqual(self.snapshot(transaction), previous)

    def test_failed_final_states_do_not_regress(self):
        """Once COMPLETED, a payment failure or an expiry changes nothing,
        and the failure's message is not recorded either."""
        transaction = self.new_payment()
        events = self.scenario("paid", transaction)
        self.send(events["completed"])
        completed = self.state_of(transaction)
        failed = make_event(
            "payment_intent.payment_failed",
            {
                **events["intent_succeeded"]["data"]["object"],
                "status": "requires_payment_method",
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                },
            },
        )
        for event in (failed, events["expired"], events["intent_succeeded"]):
            with self.subTest(event["type"]):
                self.send(event)
                self.assertEqual(self.state_of(transaction), completed)


@tagged("post_install", "-at_install")
class TestWebhookProcessingJob(WebhookCase):
    """§8: acknowledged first, applied by the processing job: in Stripe's
    order per payment, each change once."""

    def deliver(self, event):
        """Acknowledge ``event`` without applying it (no job run)."""
        with mute_logger(*LOGGERS):
            response = self.post(encode(event))
        self.assertEqual(response.json(), {"received": True, "duplicate": False})
        return self.stored(event["id"])

    def test_acknowledged_events_wait_for_the_job(self):
        transaction = self.new_payment()
        session = self.pay(transaction)["checkout_session"]
        event = self.sim_event("checkout.session.completed", session["id"])
        stored = self.deliver(event)
        self.assertRecordValues(
            stored,
            [
                {
                    "state": "pending",
                    "attempts": 0,
                    "stripe_created": event["created"],
                    "stripe_object_id": session["id"],
                    "livemode": False,
                    "signature_scope": "company",
                }
            ],
        )
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        # The request triggered both processing crons (run by any worker).
        crons = [self.env.ref(xmlid) for xmlid in const.EVENT_PROCESSING_CRONS]
        triggers = self.env["ir.cron.trigger"].search(
            [("cron_id", "in", [cron.id for cron in crons])]
        )
        self.assertEqual(set(triggers.cron_id.ids), {cron.id for cron in crons})
        with mute_logger(*LOGGERS):
            processed = self.env["omochi.payment.event"]._omochi_process_pending()
        self.assertEqual(processed, 1)
        self.assertEqual(self.stored(event["id"]).state, "done")
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def _future_triggers(self):
        """The processing crons' triggers due after now (the test's clock)
        and how far ahead, in seconds."""
        crons = [self.env.ref(xmlid).id for xmlid in const.EVENT_PROCESSING_CRONS]
        self.env.cr.execute(
            """
            SELECT cron_id, EXTRACT(EPOCH FROM call_at - now() AT TIME ZONE 'UTC')
              FROM ir_cron_trigger
             WHERE cron_id = ANY(%s) AND call_at > now() AT TIME ZONE 'UTC'
             ORDER BY cron_id, call_at
            """,
            [crons],
        )
        return [(cron_id, float(ahead)) for cron_id, ahead in self.env.cr.fetchall()]

    def test_deliveries_of_one_window_share_a_wake_up(self):
        """The first delivery stores each processing cron's trigger due at
        the end of the wake window and has the workers woken then; the next
        ones find those triggers ahead and add none, nor any wake-up. Past
        the window's first half, a delivery triggers again."""
        window = const.EVENT_WAKE_WINDOW_SECONDS
        crons = sorted(self.env.ref(x).id for x in const.EVENT_PROCESSING_CRONS)
        wake, delays = _CronWaker.wake, []

        def recording_wake(waker, dbname, delay=0.0):
            delays.append(delay)
            return wake(waker, dbname, delay)

        def deliver_new_event():
            transaction = self.new_payment()
            session = self.pay(transaction)["checkout_session"]
            event = self.sim_event("checkout.session.completed", session["id"])
            self.assertEqual(self.deliver(event).state, "pending")

        with patch.object(_CronWaker, "wake", recording_wake):
            for _index in range(3):
                deliver_new_event()
            self.assertEqual(self._future_triggers(), [(c, window) for c in crons])
            self.assertEqual(delays, [window])
            # Half the window and a little more later (the database's clock
            # stands still in a test: the triggers are moved instead).
            self.env.cr.execute(
                "UPDATE ir_cron_trigger SET call_at = call_at - %s * interval '1s'"
                " WHERE cron_id = ANY(%s)",
                [window * 0.6, crons],
            )
            deliver_new_event()
        ahead = [round(seconds, 6) for _cron, seconds in self._future_triggers()]
        self.assertEqual(
            sorted(ahead), sorted([round(window * 0.4, 6)] * 2 + [window] * 2)
        )
        self.assertEqual(delays, [window, window])
        self.process_events()
        self.assertFalse(
            self.env["omochi.payment.event"].search([("state", "=", "pending")])
        )

    def test_waker_sends_each_wake_up_when_due(self):
        """The waker's thread sends a wake-up when it is due, not before, the
        earliest first; the request that asked for it never waits."""
        waker, sent = _CronWaker(), []
        done = threading.Event()

        def recording_notify(dbname):
            sent.append((dbname, time.monotonic() - start))
            if len(sent) == 3:
                done.set()

        # This waker's only: the process's own waker may be sending a wake-up
        # of an earlier test meanwhile.
        with patch.object(waker, "_notify", recording_notify):
            start = time.monotonic()
            waker.wake("db_late", 0.3)
            waker.wake("db_now")
            waker.wake("db_soon", 0.1)
            asked = time.monotonic() - start
            self.assertTrue(done.wait(5))
        self.assertLess(asked, 0.25)
        self.assertEqual(
            [dbname for dbname, _at in sent], ["db_now", "db_soon", "db_late"]
        )
        at = dict(sent)
        self.assertGreaterEqual(at["db_soon"], 0.1)
        self.assertGreaterEqual(at["db_late"], 0.3)

    def test_a_processing_cron_deleted_by_hand_refuses_no_event(self):
        """The event is stored and the remaining processing cron triggered
        (the deleted cron's missing id once made every delivery fail)."""
        kept, deleted = (self.env.ref(xmlid) for xmlid in const.EVENT_PROCESSING_CRONS)
        deleted.unlink()
        transaction = self.new_payment()
        session = self.pay(transaction)["checkout_session"]
        event = self.sim_event("checkout.session.completed", session["id"])
        self.assertEqual(self.deliver(event).state, "pending")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", kept.id)])
        self.assertTrue(triggers)
        self.process_events()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

    def test_two_event_objects_for_one_change_apply_once(self):
        """Stripe may send two Event objects for one change: the same
        (data.object.id, type) applies once, in one batch or two."""
        for together in (True, False):
            with self.subTest(in_one_batch=together):
                transaction = self.new_payment()
                session = self.pay(transaction)["checkout_session"]
                event = self.sim_event("checkout.session.completed", session["id"])
                twin = dict(event, id=new_event_id())
                first = self.deliver(event)
                if not together:
                    self.process_events()
                second = self.deliver(twin)
                self.process_events()
                self.assertEqual(first.state, "done")
                self.assertEqual(second.state, "ignored")
                self.assertIn(event["id"], second.error)
                self.assertEqual(second.attempts, 1)
                order = transaction.order_id
                self.assertEqual(len(self.messages(order, "Order paid")), 1)
                self.assertEqual(len(self.messages(transaction, "completed at")), 1)

    def test_successive_refunds_of_one_charge_are_two_changes(self):
        """charge.refunded events of one charge with other refunded amounts
        are different changes: both apply."""
        transaction = self.new_payment()
        result = self.pay(transaction)
        self.send(
            self.sim_event(
                "checkout.session.completed", result["checkout_session"]["id"]
            )
        )
        charge_id = result["charge"]["id"]
        self.refund(charge_id, 1000)
        self.refund(charge_id, 4100)
        refunds = self.simulator("GET", "events?type=charge.refunded")["data"]
        refunds = sorted(
            (e for e in refunds if e["data"]["object"]["id"] == charge_id),
            key=lambda e: e["data"]["object"]["amount_refunded"],
        )
        self.assertEqual(len(refunds), 2)
        for event in refunds:
            self.deliver(event)
        self.process_events()
        self.assertEqual({self.stored(e["id"]).state for e in refunds}, {"done"})
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)

    def test_stale_failure_after_async_completion_does_not_win(self):
        """A declined card, then an asynchronous payment that succeeds: the
        failure's event, older at Stripe, arrives last. Applied in Stripe's
        order in one batch, or after the completion in a later run, the
        payment ends COMPLETED and the order paid."""
        for together in (True, False):
            with self.subTest(in_one_batch=together):
                transaction = self.new_payment()
                session_id = transaction.stripe_checkout_session_id
                declined = self.pay(transaction, "failed")
                self.pay(transaction, "unpaid")
                self.simulator(
                    "POST",
                    f"checkout/sessions/{session_id}/async_result",
                    {"outcome": "succeeded"},
                )
                failed = self.sim_event(
                    "payment_intent.payment_failed", declined["payment_intent"]["id"]
                )
                completed = self.sim_event("checkout.session.completed", session_id)
                succeeded = self.sim_event(
                    "checkout.session.async_payment_succeeded", session_id
                )
                # Stripe's clock: the failure first, then the completions.
                now = int(time.time())
                failed["created"] = now - 10
                completed["created"] = now - 5
                succeeded["created"] = now
                self.deliver(succeeded)
                self.deliver(completed)
                if not together:
                    self.process_events()
                    self.assertCompleted(transaction)
                self.deliver(failed)
                self.process_events()
                self.assertCompleted(transaction)
                self.assertEqual(
                    {
                        self.stored(e["id"]).state
                        for e in (failed, completed, succeeded)
                    },
                    {"done"},
                )

    def test_job_claims_in_stripe_order(self):
        """Pending events are claimed oldest at Stripe first (that workers
        skip each other's claims is the end-to-end tests')."""
        events = self.env["omochi.payment.event"].sudo()
        stored = []
        for created in (300, 100, 200):
            event = make_event("customer.created", {"id": f"cus_{created}"})
            event["created"] = created
            stored.append(self.deliver(event))
        self.env.flush_all()
        claimed = events._omochi_claim("state = 'pending'", 10)
        self.assertEqual(claimed.mapped("stripe_created")[:3], [100, 200, 300])
        self.process_events()
        self.assertEqual({record.state for record in stored}, {"ignored"})

    # ------------------------------------------------------------------
    # A batch's chatter: one message per change, written together
    # ------------------------------------------------------------------

    def tracked(self, message):
        """``{field: (old, new)}`` of a message's tracking values."""
        return {
            value.field_id.name: (
                value.old_value_char or value.old_value_float,
                value.new_value_char or value.new_value_float,
            )
            for value in message.tracking_value_ids
        }

    def apply_events(self):
        """Run the processing job and what Odoo does at commit (tracking
        messages); return the messages written meanwhile."""
        self.env.flush_all()
        self.env.cr.execute("SELECT COALESCE(max(id), 0) FROM mail_message")
        [last_before] = self.env.cr.fetchone()
        with mute_logger(*LOGGERS):
            self.process_events()
        self.env.cr.precommit.run()
        self.env.invalidate_all()
        return self.env["mail.message"].search([("id", ">", last_before)])

    def event_messages(self, written, record):
        """The messages of ``written`` on ``record``, oldest first."""
        return written.filtered(
            lambda message: (message.model, message.res_id) == (record._name, record.id)
        ).sorted("id")

    def test_completion_message_carries_its_tracking(self):
        """A completion writes one message on the payment and one on the
        order, each with its note and its tracked changes (not a note and a
        separate tracking message), signed by OdooBot."""
        transaction = self.new_payment()
        order = transaction.order_id
        session = self.pay(transaction)["checkout_session"]
        self.deliver(self.sim_event("checkout.session.completed", session["id"]))
        written = self.apply_events()
        [payment_message] = self.event_messages(written, transaction)
        self.assertEqual(payment_message.author_id, self.env.ref("base.partner_root"))
        self.assertIn("completed at Stripe", payment_message.body)
        self.assertEqual(
            self.tracked(payment_message)["status"], ("Pending", "Completed")
        )
        [order_message] = self.event_messages(written, order)
        self.assertIn("Order paid", order_message.body)
        self.assertEqual(self.tracked(order_message)["state"], ("Confirmed", "Paid"))

    def test_events_of_one_payment_in_one_batch_keep_their_messages(self):
        """A completion and a refund of one payment applied in one batch: a
        message each, in Stripe's order, each with its own tracking."""
        transaction = self.new_payment()
        result = self.pay(transaction)
        completed = self.sim_event(
            "checkout.session.completed", result["checkout_session"]["id"]
        )
        self.refund(result["charge"]["id"], 5100)
        refunded = self.sim_event("charge.refunded", result["charge"]["id"])
        self.deliver(completed)
        self.deliver(refunded)
        written = self.apply_events()
        self.assertEqual(transaction.status, const.STATUS_REFUNDED)
        completion, refund = self.event_messages(written, transaction)
        self.assertIn("completed at Stripe", completion.body)
        self.assertEqual(self.tracked(completion)["status"], ("Pending", "Completed"))
        self.assertIn("Refunded at Stripe", refund.body)
        self.assertEqual(self.tracked(refund)["status"], ("Completed", "Refunded"))
        paid, fully_refunded = self.event_messages(written, transaction.order_id)
        self.assertIn("Order paid", paid.body)
        self.assertIn("fully refunded", fully_refunded.body)
        self.assertEqual(self.tracked(fully_refunded)["state"], ("Paid", "Refunded"))

    def test_one_failing_event_does_not_hold_back_its_batch(self):
        """The batch is applied at once; when one event fails, the others are
        applied again one by one: they apply, with their messages, and only
        the failing one is recorded failed, leaving its payment untouched."""
        first, broken_payment, last = (self.new_payment() for _index in range(3))
        for transaction in (first, last):
            session = self.pay(transaction)["checkout_session"]
            self.deliver(self.sim_event("checkout.session.completed", session["id"]))
        intent = self.pay(broken_payment)["payment_intent"]
        broken = copy.deepcopy(self.sim_event("payment_intent.succeeded", intent["id"]))
        del broken["data"]["object"]["amount_received"]
        stored_broken = self.deliver(broken)
        self.assertEqual(self.stored_pending_count(), 3, "applied in one batch")
        written = self.apply_events()
        self.assertEqual(stored_broken.state, "failed")
        self.assertEqual(stored_broken.error, "KeyError: 'amount_received'")
        self.assertEqual(broken_payment.status, const.STATUS_PENDING)
        self.assertFalse(self.event_messages(written, broken_payment))
        self.assertNotEqual(broken_payment.order_id.state, "paid")
        for transaction in (first, last):
            self.assertEqual(transaction.status, const.STATUS_COMPLETED)
            self.assertEqual(transaction.order_id.state, "paid")
            [message] = self.event_messages(written, transaction)
            self.assertIn("completed at Stripe", message.body)
            [message] = self.event_messages(written, transaction.order_id)
            self.assertIn("Order paid", message.body)

    def stored_pending_count(self):
        return self.env["omochi.payment.event"].search_count(
            [("state", "=", "pending")]
        )


@tagged("post_install", "-at_install")
class TestAcknowledgementCursor(TransactionCase):
    """§8: the webhook stores its event with its request's cursor switched to
    autocommit and leaves it so (the request writes nothing more); Odoo's pool
    must hand that connection out transactional again."""

    def test_autocommit_connection_is_transactional_when_borrowed_again(self):
        database = sql_db.db_connect(self.env.cr.dbname)
        with database.cursor() as cr:
            connection = cr._cnx
            connection.autocommit = True
            cr.execute("SELECT 1")
        held = []
        try:
            while True:  # borrow until the pool hands out that connection
                cr = database.cursor()
                held.append(cr)
                if cr._cnx is connection:
                    break
                self.assertLess(len(held), 64, "the connection left the pool")
            self.assertFalse(connection.autocommit)
            cr.execute("SHOW transaction_isolation")
            self.assertEqual(cr.fetchone(), ("repeatable read",))
            # A statement leaves the connection in a transaction block (it
            # would be idle again, committed, in autocommit).
            self.assertEqual(
                connection.get_transaction_status(), TRANSACTION_STATUS_INTRANS
            )
        finally:
            for cursor in held:
                cursor.close()
