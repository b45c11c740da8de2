"""Settings ▸ Omochi Payments ▸ Register the webhook, against the simulator.

The button creates (then updates) this database's webhook endpoint at Stripe
and stores its signing secret, which the webhook route then accepts. Requests
go through Odoo's HTTP stack and reach Stripe through the simulator; nothing
of the ORM or of the ``stripe`` SDK is mocked.
"""

import json
import os
import time

import requests

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .. import const
from ..tools.config import get_stripe_config
from ..tools.stripe_signature import signature_header
from .common import OmochiPaymentsCase, StripeSimulatorMixin

BASE_URL = "https://erp.omochi.example"
WEBHOOK_URL = f"{BASE_URL}/api/payments/webhook/"
ENDPOINTS = "/v1/webhook_endpoints"


@tagged("post_install", "-at_install")
class TestRegisterWebhook(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", BASE_URL)

    def _register(self, user=None):
        """Press the button in Settings as ``user`` (an administrator)."""
        settings = self.env["res.config.settings"].with_user(user or self.admin)
        return settings.create({}).action_omochi_register_webhook()

    def _endpoints(self):
        """The webhook endpoints that exist at Stripe (the simulator)."""
        response = requests.get(
            f"{self.simulator_url}{ENDPOINTS}",
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["data"]

    def _creations(self):
        return [
            record
            for record in self.simulator_requests(ENDPOINTS, "POST")
            if record["path"] == ENDPOINTS
        ]

    def _post_event(self, event, secret):
        """Deliver ``event`` to this database's webhook route, signed."""
        body = json.dumps(event).encode()
        # The test server answers requests for its own base URL only.
        parameters = self.env["ir.config_parameter"].sudo()
        parameters.set_param("web.base.url", self.base_url())
        return self.url_open(
            "/api/payments/webhook/",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(body, secret),
            },
        )

    @staticmethod
    def _event(event_type="customer.created"):
        return {
            "id": f"evt_omochi_register_{time.time_ns()}",
            "object": "event",
            "type": event_type,
            "data": {"object": {"id": "cus_omochi", "object": "customer"}},
        }

    def test_first_registration_creates_the_endpoint(self):
        action = self._register()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success")

        [endpoint] = self._endpoints()
        self.assertEqual(endpoint["url"], WEBHOOK_URL)
        self.assertEqual(endpoint["enabled_events"], list(const.HANDLED_WEBHOOK_EVENTS))
        self.assertEqual(endpoint["status"], "enabled")
        [creation] = self._creations()
        self.assertTrue(creation["idempotency_key"])
        self.assertIn(WEBHOOK_URL, action["params"]["message"])
        self.assertIn(endpoint["id"], action["params"]["message"])

        company = self.company.sudo()
        self.assertEqual(company.omochi_stripe_webhook_endpoint_id, endpoint["id"])
        secret = company.omochi_stripe_webhook_secret
        self.assertTrue(secret.startswith("whsec_"))
        self.assertEqual(get_stripe_config(self.company).webhook_secrets, (secret,))
        self.assertNotIn(secret, action["params"]["message"])

        # The route accepts what Stripe signs with that secret, and only that.
        event = self._event()
        response = self._post_event(event, secret)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json(), {"received": True, "duplicate": False})
        self.process_events()
        stored = self.env["omochi.payment.event"].search(
            [("stripe_event_id", "=", event["id"])]
        )
        self.assertEqual(stored.state, "ignored")
        response = self._post_event(self._event(), "whsec_someone_else")
        self.assertEqual(response.status_code, 400)

    def test_registered_secret_completes_payments(self):
        self._register()
        secret = self.company.sudo().omochi_stripe_webhook_secret
        order = self._create_order(self.customer_contact)
        transaction, _created = order._omochi_checkout()
        self.complete_session(transaction.stripe_checkout_session_id, "paid")
        events = self.simulator("GET", "events?type=checkout.session.completed")
        [event] = events["data"]
        response = self._post_event(event, secret)
        self.assertEqual(response.status_code, 200, response.text)
        self.process_events()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        self.assertEqual(order.state, "paid")

    def test_pressing_again_updates_the_same_endpoint(self):
        self._register()
        company = self.company.sudo()
        endpoint_id = company.omochi_stripe_webhook_endpoint_id
        secret = company.omochi_stripe_webhook_secret

        new_base = "https://payments.omochi.example"
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", new_base)
        action = self._register()
        self.assertIn(endpoint_id, action["params"]["message"])

        updates = self.simulator_requests(f"{ENDPOINTS}/{endpoint_id}", "POST")
        self.assertEqual(len(updates), 1)
        params = updates[0]["params"]
        self.assertEqual(params["url"], f"{new_base}/api/payments/webhook/")
        self.assertEqual(params["enabled_events"], list(const.HANDLED_WEBHOOK_EVENTS))
        self.assertEqual(params["disabled"], "false")
        self.assertTrue(updates[0]["idempotency_key"])
        self.assertEqual(len(self._creations()), 1)

        [endpoint] = self._endpoints()
        self.assertEqual(endpoint["id"], endpoint_id)
        self.assertEqual(endpoint["url"], f"{new_base}/api/payments/webhook/")
        self.assertEqual(company.omochi_stripe_webhook_endpoint_id, endpoint_id)
        self.assertEqual(company.omochi_stripe_webhook_secret, secret)

        self._register()
        self.assertEqual(len(self._endpoints()), 1)
        self.assertEqual(len(self._creations()), 1)

    def test_disabled_endpoint_is_enabled_again(self):
        self._register()
        endpoint_id = self.company.sudo().omochi_stripe_webhook_endpoint_id
        response = requests.post(
            f"{self.simulator_url}{ENDPOINTS}/{endpoint_id}",
            data={"disabled": "true"},
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        )
        response.raise_for_status()
        self._register()
        [endpoint] = self._endpoints()
        self.assertEqual(endpoint["status"], "enabled")

    def test_endpoint_deleted_at_stripe_is_created_again(self):
        """An endpoint deleted in the Stripe Dashboard (or a reset test
        account): pressing again registers a new one and its secret."""
        self._register()
        company = self.company.sudo()
        old_id = company.omochi_stripe_webhook_endpoint_id
        old_secret = company.omochi_stripe_webhook_secret
        response = requests.delete(
            f"{self.simulator_url}{ENDPOINTS}/{old_id}",
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        )
        response.raise_for_status()
        self._register()
        [endpoint] = self._endpoints()
        self.assertNotEqual(endpoint["id"], old_id)
        self.assertEqual(endpoint["url"], WEBHOOK_URL)
        self.assertEqual(company.omochi_stripe_webhook_endpoint_id, endpoint["id"])
        self.assertTrue(company.omochi_stripe_webhook_secret.startswith("whsec_"))
        self.assertNotEqual(company.omochi_stripe_webhook_secret, old_secret)

    def test_environment_secret_takes_precedence(self):
        os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_from_the_environment"
        action = self._register()
        self.assertIn("STRIPE_WEBHOOK_SECRET", action["params"]["message"])
        self.assertEqual(
            get_stripe_config(self.company).webhook_secrets,
            ("whsec_from_the_environment",),
        )

    def test_administrators_only(self):
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        for user in (self.manager, self.user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                settings.with_user(user).action_omochi_register_webhook()
        with self.assertRaises(AccessError):
            self._register(self.manager)
        self.assertFalse(self.simulator_requests(ENDPOINTS))
        self.assertFalse(self.company.sudo().omochi_stripe_webhook_endpoint_id)

    def test_stripe_down(self):
        self.inject_fault("drop_connection", count=None)
        with self.assertRaises(UserError) as refusal:
            self._register()
        self.assertEqual(
            str(refusal.exception),
            "Stripe could not be reached; please try again in a moment.",
        )
        company = self.company.sudo()
        self.assertFalse(company.omochi_stripe_webhook_endpoint_id)
        self.assertFalse(company.omochi_stripe_webhook_secret)
        self.simulator("DELETE", "faults")
        self.assertFalse(self._endpoints())

    def test_stripe_down_on_update(self):
        self._register()
        company = self.company.sudo()
        endpoint_id = company.omochi_stripe_webhook_endpoint_id
        secret = company.omochi_stripe_webhook_secret
        self.inject_fault("server_error", count=None)
        with self.assertRaises(UserError) as refusal:
            self._register()
        self.assertNotIn(self.simulator_key, str(refusal.exception))
        self.assertEqual(company.omochi_stripe_webhook_endpoint_id, endpoint_id)
        self.assertEqual(company.omochi_stripe_webhook_secret, secret)

    def test_no_secret_key(self):
        self.company.omochi_stripe_secret_key = False
        with self.assertRaises(UserError) as refusal:
            self._register()
        self.assertIn("No Stripe secret key is configured", str(refusal.exception))

    def test_endpoint_already_at_stripe_is_adopted(self):
        """The simulator of the demo (or the Dashboard) made the endpoint for
        this URL with the configured secret: pressing the button must not add
        a second endpoint whose deliveries Odoo would refuse."""
        response = requests.post(
            f"{self.simulator_url}{ENDPOINTS}",
            data={"url": WEBHOOK_URL, "enabled_events[]": "charge.refunded"},
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        )
        response.raise_for_status()
        existing = response.json()
        os.environ["STRIPE_WEBHOOK_SECRET"] = existing["secret"]
        self._register()
        [endpoint] = self._endpoints()
        self.assertEqual(endpoint["id"], existing["id"])
        self.assertEqual(endpoint["enabled_events"], list(const.HANDLED_WEBHOOK_EVENTS))
        company = self.company.sudo()
        self.assertEqual(company.omochi_stripe_webhook_endpoint_id, existing["id"])
        self.assertFalse(company.omochi_stripe_webhook_secret)
        self.assertEqual(
            get_stripe_config(self.company).webhook_secrets, (existing["secret"],)
        )
