"""The back office in a real browser: an Odoo tour (headless Chromium) in
which a user creates an order, confirms it and presses **Pay**
(``static/tests/tours/omochi_backoffice_pay_tour.js``).

Pay opens the Stripe Checkout page in a new tab, where a tour cannot follow;
this test checks what that click did: a pending transaction whose Checkout
Session is open at the Stripe simulator, for the order's amount.
"""

import unittest
from unittest.mock import patch

from odoo.sql_db import TestCursor
from odoo.tests import HttpCase, tagged
from odoo.tests.common import ChromeBrowser

from odoo.addons.bus.websocket import WebsocketConnectionHandler

from .common import OmochiPaymentsCase, StripeSimulatorMixin

ORDERS_ACTION_URL = "/odoo/action-omochi_orders.action_omochi_order"
# Besides Odoo's own switches (headless, --no-sandbox, ...): the machines that
# run the tests have no Internet, Chromium must not try to reach Google.
OFFLINE_FLAGS = ("--disable-quic", "--disable-component-update", "--disable-sync")
_spawn_chromium = ChromeBrowser._chrome_without_limit


_test_cursor_commit = TestCursor.commit


def _commit_running_post_commit_hooks(cursor):
    """Commit a request's test cursor as a real commit does: then run its
    post-commit hooks, among them the NOTIFY that wakes the bus's websockets
    (a test cursor drops them)."""
    cursor.flush()
    hooks = cursor.postcommit
    funcs, data = list(hooks._funcs), dict(hooks.data)
    _test_cursor_commit(cursor)
    hooks._funcs.extend(funcs)
    hooks.data.update(data)
    hooks.run()


def _spawn_offline_chromium(browser, cmd):
    """Start Odoo's Chromium command with OFFLINE_FLAGS before its URL."""
    return _spawn_chromium(browser, [*cmd[:-1], *OFFLINE_FLAGS, cmd[-1]])


@tagged("post_install", "-at_install")
class TestBackofficePayTour(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tour_customer = cls.env["res.partner"].create(
            {"name": "Omochi Tour Customer", "email": "tour.customer@example.com"}
        )

    def setUp(self):
        super().setUp()
        self.startPatcher(
            patch.object(
                ChromeBrowser, "_chrome_without_limit", _spawn_offline_chromium
            )
        )

    def start_tour(self, url_path, tour_name, step_delay=None, **kwargs):
        """Run the tour; a browser that cannot run (no Chromium, no
        websocket-client) fails the test instead of skipping it: CI installs
        Chromium, and a skipped browser test would prove nothing."""
        try:
            return super().start_tour(url_path, tour_name, step_delay, **kwargs)
        except unittest.SkipTest as skipped:
            self.fail(f"the browser test could not run: {skipped}")

    def test_create_confirm_and_pay(self):
        self.start_tour(ORDERS_ACTION_URL, "omochi_backoffice_pay", login="admin")

        order = self.env["omochi.order"].search(
            [("partner_id", "=", self.tour_customer.id)]
        )
        self.assertEqual(len(order), 1, "the tour created one order")
        self.assertEqual(order.state, "confirmed")
        self.assertEqual(order.payment_state, "pending")
        self.assertEqual(order.line_ids.mapped("name"), ["Kusa mochi"])
        self.assertAlmostEqual(order.amount_total, 13.5)

        transaction = order.transaction_ids
        self.assertEqual(len(transaction), 1, "Pay opened one Checkout Session")
        self.assertEqual(transaction.status, "pending")
        self.assertTrue(transaction.stripe_checkout_session_id)
        self.assertTrue(transaction.checkout_url)

        session = self.simulator(
            "GET", f"objects/{transaction.stripe_checkout_session_id}"
        )
        self.assertEqual(session["status"], "open")
        self.assertEqual(session["amount_total"], 1350)
        self.assertEqual(session["url"], transaction.checkout_url)
        # The person paying from the back office comes back to Odoo.
        self.assertIn("/omochi/payment/status", session["success_url"])

    def test_open_order_form_follows_the_payment(self):
        """Live status in a real browser, through Odoo's bus (see the tour)."""
        admin = self.env.ref("base.user_admin")
        order = self._create_order(self.tour_customer)
        order.with_user(admin).action_pay()
        transaction = order.transaction_ids
        self.assertEqual(transaction.pay_user_id, admin)
        # The customer pays at Stripe; Odoo does not know yet.
        self.complete_session(transaction.stripe_checkout_session_id)
        self.assertEqual(order.payment_state, "pending")

        self.startPatcher(
            patch.object(TestCursor, "commit", _commit_running_post_commit_hooks)
        )
        # Odoo's test runner turns the bus's websocket off; its own bus tests
        # (bus.tests.common.WebsocketCase) turn it on this way.
        self.startPatcher(
            patch.object(
                WebsocketConnectionHandler, "websocket_allowed", return_value=True
            )
        )
        self.start_tour(
            f"/odoo/omochi.order/{order.id}", "omochi_live_status", login="admin"
        )

        self.env.invalidate_all()
        self.assertEqual(transaction.status, "completed")
        self.assertEqual(order.state, "paid")

    def test_payment_link(self):
        """Payment Link in a real browser (see the tour); the link opens the
        order's portal page with Pay now for anyone holding it."""
        order = self._create_order(self.tour_customer)
        self.start_tour(
            f"/odoo/omochi.order/{order.id}", "omochi_payment_link", login="admin"
        )
        [message] = order.message_ids.filtered(
            lambda message: "Pay now" in (message.body or "")
        )
        self.assertIn(self.tour_customer, message.partner_ids)
        link = (
            self.env["omochi.payment.link.wizard"].create({"order_id": order.id}).link
        )
        self.assertIn(link, message.body)
        self.assertTrue(link.startswith(order.get_base_url() + order.access_url))

        self.authenticate(None, None)
        page = self.url_open(link.removeprefix(order.get_base_url()))
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_omochi_pay_form", page.text)
