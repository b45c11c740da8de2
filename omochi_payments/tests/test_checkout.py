import random
import socket
import time
from datetime import datetime, timedelta, timezone

import requests

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .. import const
from ..exceptions import (
    OmochiPaymentError,
    OrderNotPayableError,
    ReturnUrlNotAllowedError,
)
from ..tools import stripe_gateway
from ..tools.stripe_amounts import to_minor_units
from ..tools.stripe_gateway import StripeGatewayError, safe_message
from .common import OmochiPaymentsCase, StripeSimulatorMixin

SUCCESS_URL = (
    "http://localhost:3000/payment/status?session_id={CHECKOUT_SESSION_ID}"
    "&status=success"
)
CANCEL_URL = "http://localhost:3000/payment/status?status=cancelled"
UNREACHABLE = "Stripe could not be reached; please try again in a moment."


def closed_port_url():
    """Return the URL of a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class CheckoutCommon(OmochiPaymentsCase):
    """Orders in several currencies and helpers for the checkout tests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.currency_jpy = cls.env.ref("base.JPY")
        cls.currency_kwd = cls.env.ref("base.KWD")
        (cls.currency_jpy | cls.currency_kwd).active = True
        cls.customer_contact.email = "Omochi Contact <Contact@Omochi.Example>"

    @classmethod
    def _make_order(cls, lines, currency=None, partner=None, confirm=True):
        """Create an order with ``lines`` (``(name, quantity, price_unit)``)."""
        order = cls.env["omochi.order"].create(
            {
                "partner_id": (partner or cls.customer_contact).id,
                "currency_id": (currency or cls.currency_eur).id,
                "line_ids": [
                    (0, 0, {"name": name, "quantity": quantity, "price_unit": price})
                    for name, quantity, price in lines
                ],
            }
        )
        if confirm:
            order.action_confirm()
        return order

    def _eur_order(self):
        """An order of 134.70 EUR: 2 × 25.50 + 3 × 27.90."""
        return self._make_order([("Daifuku", 2, 25.5), ("Matcha", 3, 27.9)])

    @staticmethod
    def _item(currency, unit_amount, quantity, name):
        """A ``line_items`` entry as ``_stripe_line_items`` returns it."""
        return {
            "quantity": quantity,
            "price_data": {
                "currency": currency,
                "unit_amount": unit_amount,
                "product_data": {"name": name},
            },
        }

    @staticmethod
    def _raised(exception_class, function, *args, **kwargs):
        """Call ``function`` and return the ``exception_class`` it raised.

        Unlike ``assertRaises``, no savepoint is rolled back: the test sees
        what the call wrote before raising.
        """
        try:
            function(*args, **kwargs)
        except exception_class as error:
            return error
        raise AssertionError(f"{exception_class.__name__} not raised")


class SimulatorCase(StripeSimulatorMixin, CheckoutCommon):
    """Checkout tests against the project's Stripe simulator."""

    def _session_posts(self):
        """The session creations the simulator received, oldest first."""
        return [
            record
            for record in self.simulator_requests("/v1/checkout/sessions", "POST")
            if record["path"] == "/v1/checkout/sessions"
        ]

    def _stripe_sessions(self):
        """Every Checkout Session that exists at Stripe (the simulator)."""
        response = requests.get(
            f"{self.simulator_url}/v1/checkout/sessions",
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            params={"limit": 100},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["data"]

    def _stripe_object(self, object_id):
        """An object as the simulator holds it."""
        return self.simulator("GET", f"objects/{object_id}")


@tagged("post_install", "-at_install")
class TestStripeLineItems(CheckoutCommon):
    def assertItemsTotal(self, order, items):
        """The items sum exactly to the order total in minor units."""
        total = to_minor_units(order.amount_total, order.currency_id.name)
        self.assertEqual(
            sum(i["price_data"]["unit_amount"] * i["quantity"] for i in items), total
        )

    def test_eur_whole_quantities_per_unit(self):
        order = self._eur_order()
        self.assertEqual(order.amount_total, 134.7)
        items = order._stripe_line_items()
        self.assertEqual(
            items,
            [
                self._item("eur", 2550, 2, "Daifuku"),
                self._item("eur", 2790, 3, "Matcha"),
            ],
        )
        self.assertItemsTotal(order, items)

    def test_jpy_per_unit(self):
        order = self._make_order(
            [("Mochi", 3, 1200), ("Sencha", 1, 8800)], self.currency_jpy
        )
        self.assertEqual(order.amount_total, 12400)
        items = order._stripe_line_items()
        self.assertEqual(
            items,
            [
                self._item("jpy", 1200, 3, "Mochi"),
                self._item("jpy", 8800, 1, "Sencha"),
            ],
        )
        self.assertItemsTotal(order, items)

    def test_jpy_unit_price_rounding_falls_back_to_order_lines(self):
        # 3 × 99.50 JPY = 298.5, rounded to 299 JPY; 3 × 100 would be 300.
        order = self._make_order(
            [("Mochi", 3, 99.5), ("Sencha", 2, 500)], self.currency_jpy
        )
        self.assertEqual(order.amount_total, 1299)
        items = order._stripe_line_items()
        self.assertEqual(
            items,
            [
                self._item("jpy", 299, 1, "Mochi × 3"),
                self._item("jpy", 1000, 1, "Sencha × 2"),
            ],
        )
        self.assertItemsTotal(order, items)

    def test_kwd_per_unit(self):
        order = self._make_order([("Dates", 2, 1.25)], self.currency_kwd)
        items = order._stripe_line_items()
        self.assertEqual(items, [self._item("kwd", 1250, 2, "Dates")])
        self.assertItemsTotal(order, items)

    def test_kwd_rounding_falls_back_to_one_line(self):
        # Each line is 0.495 KWD, sent as 500 (a multiple of 10): 1000 for
        # the lines where the order total is 0.990 KWD, 990.
        order = self._make_order(
            [("Dates", 1.5, 0.33), ("Coffee", 1.5, 0.33)], self.currency_kwd
        )
        self.assertEqual(order.line_ids.mapped("price_subtotal"), [0.495, 0.495])
        self.assertEqual(order.amount_total, 0.99)
        items = order._stripe_line_items()
        self.assertEqual(items, [self._item("kwd", 990, 1, f"Order {order.name}")])
        self.assertItemsTotal(order, items)

    def test_fractional_quantities_one_item_per_line(self):
        # 1.5 × 3.33 = 4.995, rounded to 5.00 EUR.
        order = self._make_order([("Daifuku", 1.5, 3.33), ("Tea", 2, 1.0)])
        self.assertEqual(order.amount_total, 7.0)
        items = order._stripe_line_items()
        self.assertEqual(
            items,
            [
                self._item("eur", 500, 1, "Daifuku × 1.5"),
                self._item("eur", 200, 1, "Tea × 2"),
            ],
        )
        self.assertItemsTotal(order, items)

    def test_free_lines_left_out(self):
        order = self._make_order(
            [("Daifuku", 2, 25.5), ("Gift wrapping", 1, 0.0), ("Matcha", 3, 27.9)]
        )
        items = order._stripe_line_items()
        self.assertEqual(
            items,
            [
                self._item("eur", 2550, 2, "Daifuku"),
                self._item("eur", 2790, 3, "Matcha"),
            ],
        )
        # Also when falling back to one item per order line.
        order = self._make_order([("Daifuku", 1.5, 3.33), ("Gift wrapping", 2, 0.0)])
        self.assertEqual(
            order._stripe_line_items(), [self._item("eur", 500, 1, "Daifuku × 1.5")]
        )

    def test_long_names_are_cut(self):
        name = "Mochi " * 60
        order = self._make_order([(name, 2, 5.0), (name, 0.5, 3.0)])
        items = order._stripe_line_items()
        self.assertEqual(
            [i["price_data"]["product_data"]["name"] for i in items],
            [name[:250], name[:250]],
        )
        self.assertEqual([i["quantity"] for i in items], [1, 1])
        self.assertItemsTotal(order, items)

    def test_random_orders_sum_to_the_total(self):
        generator = random.Random(20260101)
        currencies = [
            (self.currency_eur, 1),
            (self.env.ref("base.USD"), 1),
            (self.currency_jpy, 1),
            (self.currency_kwd, 10),
        ]
        quantities = [1, 1, 2, 3, 7, 10, 0.5, 1.5, 0.25, 2.75, 0.33, 12.5]
        shapes = set()
        for index in range(120):
            currency, step = generator.choice(currencies)
            lines = [
                (
                    f"Item {index}-{number}",
                    generator.choice(quantities),
                    generator.choice(
                        [0.0, round(generator.uniform(0.01, 500), 2), 0.99, 1.01]
                    ),
                )
                for number in range(generator.randint(1, 5))
            ]
            if all(price == 0 for _name, _quantity, price in lines):
                lines.append(("Extra", 1, 9.99))
            order = self._make_order(lines, currency)
            items = order._stripe_line_items()
            with self.subTest(currency=currency.name, lines=lines):
                self.assertItemsTotal(order, items)
                for item in items:
                    self.assertIsInstance(item["quantity"], int)
                    self.assertGreaterEqual(item["quantity"], 1)
                    self.assertIsInstance(item["price_data"]["unit_amount"], int)
                    self.assertGreater(item["price_data"]["unit_amount"], 0)
                    self.assertEqual(item["price_data"]["unit_amount"] % step, 0)
                    self.assertEqual(
                        item["price_data"]["currency"], currency.name.lower()
                    )
                if len(items) == 1 and items[0]["price_data"]["product_data"][
                    "name"
                ].startswith("Order "):
                    shapes.add("order")
                elif all(item["quantity"] == 1 for item in items):
                    shapes.add("lines")
                else:
                    shapes.add("units")
        # The random orders exercised the three shapes of line items.
        self.assertEqual(shapes, {"order", "lines", "units"})


@tagged("post_install", "-at_install")
class TestCheckoutSession(SimulatorCase):
    def test_eur_session_parameters(self):
        order = self._eur_order()
        before = int(time.time())
        transaction, created = order._omochi_checkout()
        after = int(time.time())
        self.assertTrue(created)
        self.assertEqual(transaction, order.transaction_ids)
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(transaction.amount, 134.7)
        self.assertEqual(transaction.stripe_checkout_attempt, 1)
        self.assertFalse(transaction.error_message)
        self.assertFalse(transaction.return_url)
        self.assertEqual(order.payment_state, "pending")

        posts = self._session_posts()
        self.assertEqual(len(posts), 1)
        post = posts[0]
        self.assertEqual(post["status"], 200)
        params = post["params"]
        expires_at = int(params["expires_at"])
        self.assertGreaterEqual(expires_at, before + 30 * 60)
        self.assertLessEqual(expires_at, after + 24 * 3600)
        self.assertAlmostEqual(
            expires_at, before + const.CHECKOUT_SESSION_LIFETIME_MINUTES * 60, delta=5
        )
        metadata = {
            "payment_id": transaction.uuid,
            "order_id": order.uuid,
            "order_name": order.name,
        }
        self.assertEqual(
            params,
            {
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": "2",
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": "2550",
                            "product_data": {"name": "Daifuku"},
                        },
                    },
                    {
                        "quantity": "3",
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": "2790",
                            "product_data": {"name": "Matcha"},
                        },
                    },
                ],
                "client_reference_id": transaction.uuid,
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "expires_at": str(expires_at),
                "success_url": SUCCESS_URL,
                "cancel_url": CANCEL_URL,
                "customer_email": "contact@omochi.example",
            },
        )
        self.assertEqual(post["stripe_version"], "2023-10-16")
        self.assertEqual(
            post["idempotency_key"],
            f"omochi-{transaction.uuid}-checkout-session-create-1",
        )
        self.assertNotIn(self.simulator_key, str(post["headers"]))

        session = self._stripe_object(transaction.stripe_checkout_session_id)
        self.assertRegex(session["id"], r"^cs_test_\w+$")
        self.assertEqual(session["amount_total"], 13470)
        self.assertEqual(session["currency"], "eur")
        self.assertEqual(session["status"], "open")
        self.assertEqual(session["client_reference_id"], transaction.uuid)
        self.assertEqual(transaction.checkout_url, session["url"])
        self.assertEqual(
            transaction.checkout_url, f"{self.simulator_url}/c/pay/{session['id']}"
        )
        self.assertEqual(
            transaction.expires_at,
            datetime.fromtimestamp(session["expires_at"], timezone.utc).replace(
                tzinfo=None
            ),
        )
        self.assertEqual(
            transaction._omochi_checkout_payload(),
            {
                "payment_id": transaction.uuid,
                "checkout_session_id": session["id"],
                "checkout_url": session["url"],
            },
        )

    def test_jpy_and_kwd_amounts(self):
        cases = [
            (
                self._make_order(
                    [("Mochi", 3, 1200), ("Sencha", 1, 8800)], self.currency_jpy
                ),
                [("jpy", "1200", "3", "Mochi"), ("jpy", "8800", "1", "Sencha")],
                12400,
            ),
            (
                self._make_order([("Dates", 2, 1.25)], self.currency_kwd),
                [("kwd", "1250", "2", "Dates")],
                2500,
            ),
            (
                self._make_order(
                    [("Dates", 1.5, 0.33), ("Coffee", 1.5, 0.33)], self.currency_kwd
                ),
                [("kwd", "990", "1", None)],
                990,
            ),
        ]
        for order, expected_items, total in cases:
            with self.subTest(order=order.name):
                self.simulator("DELETE", "requests")
                transaction, created = order._omochi_checkout()
                self.assertTrue(created)
                posts = self._session_posts()
                self.assertEqual(len(posts), 1)
                self.assertEqual(
                    posts[0]["params"]["line_items"],
                    [
                        {
                            "quantity": quantity,
                            "price_data": {
                                "currency": currency,
                                "unit_amount": unit_amount,
                                "product_data": {"name": name or f"Order {order.name}"},
                            },
                        }
                        for currency, unit_amount, quantity, name in expected_items
                    ],
                )
                session = self._stripe_object(transaction.stripe_checkout_session_id)
                self.assertEqual(session["amount_total"], total)
                self.assertEqual(session["currency"], order.currency_id.name.lower())

    def test_no_customer_email_without_a_valid_email(self):
        partner = self.env["res.partner"].create(
            {"name": "No Mail", "email": "not an email"}
        )
        order = self._make_order([("Daifuku", 1, 3.0)], partner=partner)
        order._omochi_checkout()
        self.assertNotIn("customer_email", self._session_posts()[0]["params"])

    def test_return_url_derived_urls(self):
        cases = [
            (
                "http://localhost:3000/checkout/done",
                (
                    "http://localhost:3000/checkout/done?"
                    "session_id={CHECKOUT_SESSION_ID}&status=success"
                ),
                "http://localhost:3000/checkout/done?status=cancelled",
            ),
            (
                "http://localhost:3000/pay?order=OM1&lang=fr",
                (
                    "http://localhost:3000/pay?order=OM1&lang=fr&session_id="
                    "{CHECKOUT_SESSION_ID}&status=success"
                ),
                "http://localhost:3000/pay?order=OM1&lang=fr&status=cancelled",
            ),
        ]
        for return_url, success_url, cancel_url in cases:
            with self.subTest(return_url=return_url):
                self.simulator("DELETE", "requests")
                order = self._make_order([("Daifuku", 1, 3.0)])
                transaction, _created = order._omochi_checkout(return_url=return_url)
                self.assertEqual(transaction.return_url, return_url)
                params = self._session_posts()[0]["params"]
                self.assertEqual(params["success_url"], success_url)
                self.assertEqual(params["cancel_url"], cancel_url)

    def test_frontend_url_setting(self):
        self.company.omochi_frontend_url = "https://shop.omochi.example/"
        order = self._make_order([("Daifuku", 1, 3.0)])
        order._omochi_checkout()
        params = self._session_posts()[0]["params"]
        self.assertEqual(
            params["success_url"],
            "https://shop.omochi.example/payment/status?"
            "session_id={CHECKOUT_SESSION_ID}&status=success",
        )
        self.assertEqual(
            params["cancel_url"],
            "https://shop.omochi.example/payment/status?status=cancelled",
        )

    def test_configured_stripe_version(self):
        self.company.omochi_stripe_api_version = "2024-06-20"
        order = self._make_order([("Daifuku", 1, 3.0)])
        order._omochi_checkout()
        self.assertEqual(self._session_posts()[0]["stripe_version"], "2024-06-20")

    def test_open_session_is_reused(self):
        order = self._eur_order()
        transaction, created = order._omochi_checkout()
        self.assertTrue(created)
        again, created_again = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertFalse(created_again)
        self.assertEqual(len(order.transaction_ids), 1)
        self.assertEqual(len(self._session_posts()), 1)
        self.assertEqual(len(self._stripe_sessions()), 1)

    def test_session_expiring_soon_is_replaced(self):
        cases = [
            ("past", timedelta(minutes=-1)),
            ("within the reuse margin", timedelta(minutes=4)),
        ]
        for label, offset in cases:
            with self.subTest(label):
                self.simulator("DELETE", "requests")
                order = self._eur_order()
                old, _created = order._omochi_checkout()
                old.expires_at = fields.Datetime.now() + offset
                new, created = order._omochi_checkout()
                self.assertTrue(created)
                self.assertNotEqual(new, old)
                self.assertEqual(old.status, const.STATUS_EXPIRED)
                self.assertEqual(new.status, const.STATUS_PENDING)
                self.assertNotEqual(
                    new.stripe_checkout_session_id, old.stripe_checkout_session_id
                )
                self.assertEqual(order.transaction_ids, old | new)
                self.assertEqual(order.payment_state, "pending")
                posts = self._session_posts()
                self.assertEqual(
                    [post["idempotency_key"] for post in posts],
                    [
                        f"omochi-{old.uuid}-checkout-session-create-1",
                        f"omochi-{new.uuid}-checkout-session-create-1",
                    ],
                )
                self.assertEqual(posts[1]["params"]["client_reference_id"], new.uuid)

    def test_session_open_beyond_the_margin_is_reused(self):
        order = self._eur_order()
        transaction, _created = order._omochi_checkout()
        transaction.expires_at = fields.Datetime.now() + timedelta(minutes=6)
        again, created = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertFalse(created)
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(len(self._session_posts()), 1)

    def test_new_attempt_on_a_transaction_whose_expiry_is_too_close(self):
        # A failed creation is retried with its parameters only while its
        # expires_at is still acceptable to Stripe; otherwise a new attempt
        # (new idempotency key, new expires_at) starts.
        order = self._eur_order()
        transaction = self._create_transaction(
            order,
            stripe_checkout_attempt=1,
            expires_at=fields.Datetime.now() + timedelta(minutes=20),
        )
        again, created = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertTrue(created)
        self.assertEqual(transaction.stripe_checkout_attempt, 2)
        post = self._session_posts()[0]
        self.assertEqual(
            post["idempotency_key"],
            f"omochi-{transaction.uuid}-checkout-session-create-2",
        )
        self.assertGreaterEqual(
            int(post["params"]["expires_at"]), int(time.time()) + 55 * 60
        )

    def test_orders_not_payable(self):
        draft = self._make_order([("Daifuku", 1, 3.0)], confirm=False)
        paid = self._make_order([("Daifuku", 1, 3.0)])
        paid._omochi_set_state("paid")
        refunded = self._make_order([("Daifuku", 1, 3.0)])
        refunded._omochi_set_state("refunded")
        cancelled = self._make_order([("Daifuku", 1, 3.0)])
        cancelled.action_cancel()
        free = self._make_order([("Sample", 2, 0.0)])
        completed = self._make_order([("Daifuku", 1, 3.0)])
        self._create_transaction(completed, status=const.STATUS_COMPLETED)
        partially_refunded = self._make_order([("Daifuku", 1, 3.0)])
        self._create_transaction(
            partially_refunded, status=const.STATUS_PARTIALLY_REFUNDED
        )
        processing = self._make_order([("Daifuku", 1, 3.0)])
        self._create_transaction(processing, status=const.STATUS_PROCESSING)
        cases = [
            (draft, f"Order {draft.name} is not confirmed yet."),
            (processing, f"Order {processing.name} has a payment in progress."),
            (paid, f"Order {paid.name} is already paid."),
            (refunded, f"Order {refunded.name} is already paid."),
            (cancelled, f"Order {cancelled.name} is cancelled."),
            (free, f"Order {free.name} has nothing to pay."),
            (completed, f"Order {completed.name} is already paid."),
            (
                partially_refunded,
                f"Order {partially_refunded.name} is already paid.",
            ),
        ]
        for order, message in cases:
            with self.subTest(order=order.name, state=order.state):
                transactions = order.transaction_ids
                error = self._raised(OrderNotPayableError, order._omochi_checkout)
                self.assertEqual(error.code, "order_not_payable")
                self.assertEqual(error.http_status, 409)
                self.assertIsInstance(error, OmochiPaymentError)
                self.assertEqual(error.args[0], message)
                self.assertEqual(order.transaction_ids, transactions)
                self.assertEqual(
                    order.transaction_ids.mapped("stripe_checkout_attempt"),
                    [0] * len(transactions),
                )
        self.assertEqual(self.simulator_requests("/v1/"), [])

    def test_return_url_refused(self):
        self.company.omochi_allowed_origins = "https://shop.omochi.example"
        order = self._eur_order()
        refused = [
            "https://evil.com/payment/status",
            "http://evil.com/",
            "//evil.com/payment/status",
            "https://localhost:3000@evil.com/",
            "http://localhost:3000@evil.com/",
            "http://user:pass@localhost:3000/",
            "http://localhost:3000%2F@evil.com/",
            "http://evil.com#@localhost:3000/",
            "http://evil.com?@localhost:3000/",
            "http://localhost.evil.com:3000/",
            "http://evil.com/?next=http://localhost:3000/",
            "javascript:alert(1)",
            "JavaScript://localhost:3000/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://localhost:3000\\@evil.com/",
            "http://localhost:3000/\\evil.com/",
            "http:\\\\evil.com/",
            "\\\\evil.com/",
            "/\\evil.com/",
            "http://evil.com\\.localhost:3000/",
            "ftp://localhost:3000/payment",
            "ws://localhost:3000/",
            " http://localhost:3000/payment/status",
            "http://localhost:3000/payment/status ",
            "http://localhost:3000/pay\tment",
            "http://localhost:3000/pay\nLocation: https://evil.com",
            "http://localhost:3000/pay\x00",
            "http://local\x7fhost:3000/",
            "http://lоcalhost:3000/",  # Cyrillic "о"
            "https://shоp.omochi.example/pay",  # Cyrillic "о"
            "http://xn--lcalhost-9wg:3000/",
            "http://localhost:3001/payment/status",
            "http://localhost/payment/status",
            "http://localhost:80/payment/status",
            "https://localhost:3000/payment/status",
            "http://127.0.0.1:3000/payment/status",
            "http://localhost:3000:80/",
            "http://shop.omochi.example/pay",
            "https://shop.omochi.example:8443/pay",
            "/payment/status",
            "payment/status",
            "http://localhost:3000/" + "a" * 2000,
        ]
        for return_url in refused:
            with self.subTest(return_url=return_url):
                error = self._raised(
                    ReturnUrlNotAllowedError,
                    order._omochi_checkout,
                    return_url=return_url,
                )
                self.assertEqual(error.code, "return_url_not_allowed")
                self.assertEqual(error.http_status, 400)
                self.assertEqual(error.field, "return_url")
                self.assertFalse(order.transaction_ids)
        self.assertEqual(self.simulator_requests("/v1/"), [])

    def test_return_url_allowed(self):
        self.company.omochi_allowed_origins = (
            "https://shop.omochi.example, https://kiosk.omochi.example:8443"
        )
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", "http://odoo.omochi.example:8069"
        )
        allowed = [
            ("http://localhost:3000/payment/callback", None),
            (
                "HTTP://LocalHost:3000/payment/callback",
                "http://LocalHost:3000/payment/callback?status=cancelled",
            ),
            ("http://localhost:3000", None),
            ("https://shop.omochi.example/pay/done?x=1", None),
            ("https://shop.omochi.example:443/pay/done", None),
            ("https://kiosk.omochi.example:8443/done", None),
            ("http://odoo.omochi.example:8069/omochi/payment/status", None),
        ]
        for return_url, cancel_url in allowed:
            with self.subTest(return_url=return_url):
                self.simulator("DELETE", "requests")
                order = self._make_order([("Daifuku", 1, 3.0)])
                transaction, created = order._omochi_checkout(return_url=return_url)
                self.assertTrue(created)
                self.assertEqual(transaction.return_url, return_url)
                self.assertTrue(transaction.stripe_checkout_session_id)
                params = self._session_posts()[0]["params"]
                separator = "&" if "?" in return_url else "?"
                self.assertEqual(
                    params["cancel_url"],
                    cancel_url or f"{return_url}{separator}status=cancelled",
                )


@tagged("post_install", "-at_install")
class TestCheckoutStripeDown(SimulatorCase):
    def assertPendingWithError(self, transaction, message):
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(transaction.error_message, message)
        self.assertFalse(transaction.stripe_checkout_session_id)
        self.assertFalse(transaction.checkout_url)
        self.assertEqual(transaction.stripe_checkout_attempt, 1)

    def test_safe_message(self):
        cases = [
            (
                "Invalid API Key provided: sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                "Invalid API Key provided: sk_test_***",
            ),
            ("key sk_live_abcDEF123 here", "key sk_live_*** here"),
            ("rk_live_abc and rk_test_def", "rk_live_*** and rk_test_***"),
            ("pk_test_abc", "pk_test_***"),
            ("secret whsec_abc_def.", "secret whsec_***."),
            ("masked sk_test_****1234", "masked sk_test_***"),
            ("nothing secret", "nothing secret"),
            ("", ""),
            (None, ""),
        ]
        for text, expected in cases:
            with self.subTest(text=text):
                self.assertEqual(safe_message(text), expected)

    def test_connection_refused_then_retry(self):
        order = self._eur_order()
        self.company.omochi_stripe_api_base = closed_port_url()
        error = self._raised(StripeGatewayError, order._omochi_checkout)
        self.assertEqual(error.message, UNREACHABLE)
        self.assertIsNone(error.http_status)
        transaction = order.transaction_ids
        self.assertEqual(len(transaction), 1)
        self.assertPendingWithError(transaction, UNREACHABLE)
        self.assertEqual(order.payment_state, "pending")

        self.company.omochi_stripe_api_base = self.simulator_url
        again, created = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertTrue(created)
        self.assertFalse(transaction.error_message)
        self.assertEqual(transaction.stripe_checkout_attempt, 1)
        posts = self._session_posts()
        self.assertEqual(len(posts), 1)
        self.assertEqual(
            posts[0]["idempotency_key"],
            f"omochi-{transaction.uuid}-checkout-session-create-1",
        )
        sessions = self._stripe_sessions()
        self.assertEqual(
            [s["id"] for s in sessions], [transaction.stripe_checkout_session_id]
        )

    def test_server_error_then_retry(self):
        order = self._eur_order()
        # The SDK retries 500s: fail the first request and each retry.
        self.inject_fault(
            "server_error",
            count=stripe_gateway.MAX_NETWORK_RETRIES + 1,
            path="/v1/checkout/sessions",
            method="POST",
        )
        error = self._raised(StripeGatewayError, order._omochi_checkout)
        self.assertEqual(error.http_status, 500)
        self.assertEqual(
            error.message,
            "Stripe is unavailable right now; please try again in a moment.",
        )
        self.assertNotIn(self.simulator_key, error.message)
        transaction = order.transaction_ids
        self.assertPendingWithError(transaction, error.message)
        key = f"omochi-{transaction.uuid}-checkout-session-create-1"
        posts = self._session_posts()
        self.assertEqual(
            [(p["status"], p["idempotency_key"]) for p in posts],
            [(500, key)] * (stripe_gateway.MAX_NETWORK_RETRIES + 1),
        )
        self.assertEqual(self._stripe_sessions(), [])

        again, created = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertTrue(created)
        self.assertFalse(transaction.error_message)
        posts = self._session_posts()
        self.assertEqual(
            (posts[-1]["status"], posts[-1]["idempotency_key"]), (200, key)
        )
        self.assertEqual(
            posts[-1]["params"]["expires_at"], posts[0]["params"]["expires_at"]
        )
        self.assertEqual(
            [s["id"] for s in self._stripe_sessions()],
            [transaction.stripe_checkout_session_id],
        )

    def test_invalid_key_message_is_safe(self):
        order = self._eur_order()
        self.company.omochi_stripe_secret_key = "sk_test_wrongKey0123456789"
        error = self._raised(StripeGatewayError, order._omochi_checkout)
        self.assertEqual(error.message, "Stripe refused the configured API key.")
        self.assertEqual(error.http_status, 401)
        self.assertPendingWithError(order.transaction_ids, error.message)

    def test_timeout_then_replay(self):
        # Stripe creates the session but answers after the client gave up
        # (Odoo's test framework makes every timeout at least 10 seconds).
        self.patch(stripe_gateway, "MAX_NETWORK_RETRIES", 0)
        order = self._eur_order()
        self.inject_fault(
            "timeout",
            seconds=stripe_gateway.REQUEST_TIMEOUT + 1,
            path="/v1/checkout/sessions",
            method="POST",
        )
        error = self._raised(StripeGatewayError, order._omochi_checkout)
        self.assertEqual(error.message, UNREACHABLE)
        transaction = order.transaction_ids
        self.assertPendingWithError(transaction, UNREACHABLE)

        # Wait for the simulator to finish the request the client gave up on.
        deadline = time.time() + 10
        while self._session_posts()[0]["status"] is None and time.time() < deadline:
            time.sleep(0.1)
        sessions = self._stripe_sessions()
        self.assertEqual(len(sessions), 1)

        again, created = order._omochi_checkout()
        self.assertEqual(again, transaction)
        self.assertTrue(created)
        self.assertEqual(transaction.stripe_checkout_session_id, sessions[0]["id"])
        self.assertFalse(transaction.error_message)
        key = f"omochi-{transaction.uuid}-checkout-session-create-1"
        posts = self._session_posts()
        self.assertEqual(
            [(p["status"], p["idempotency_key"], p["replayed"]) for p in posts],
            [(200, key, False), (200, key, True)],
        )
        self.assertEqual(len(self._stripe_sessions()), 1)


@tagged("post_install", "-at_install")
class TestActionPay(SimulatorCase):
    def test_action_pay_opens_checkout(self):
        order = self._eur_order().with_user(self.user)
        action = order.action_pay()
        transaction = order.sudo().transaction_ids
        self.assertEqual(len(transaction), 1)
        self.assertEqual(
            action,
            {
                "type": "ir.actions.act_url",
                "url": transaction.checkout_url,
                "target": "new",
            },
        )
        self.assertEqual(
            action["url"],
            f"{self.simulator_url}/c/pay/{transaction.stripe_checkout_session_id}",
        )
        self.assertEqual(order.action_pay(), action)
        self.assertEqual(len(self._session_posts()), 1)

    def test_action_pay_stripe_down(self):
        order = self._eur_order().with_user(self.user)
        self.company.omochi_stripe_api_base = closed_port_url()
        action = order.action_pay()
        self.assertEqual(
            action,
            {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "danger",
                    "title": "Stripe Checkout failed",
                    "message": UNREACHABLE,
                    "sticky": True,
                },
            },
        )
        transaction = order.sudo().transaction_ids
        self.assertEqual(transaction.status, const.STATUS_PENDING)
        self.assertEqual(transaction.error_message, UNREACHABLE)

    def test_action_pay_refused_key_not_shown(self):
        order = self._eur_order().with_user(self.user)
        self.company.omochi_stripe_secret_key = "sk_test_wrongKey0123456789"
        action = order.action_pay()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(
            action["params"]["message"], "Stripe refused the configured API key."
        )
        self.assertNotIn("wrongKey", str(action))
        self.assertNotIn("wrongKey", order.sudo().transaction_ids.error_message)

    def test_action_pay_not_payable(self):
        order = self._make_order([("Daifuku", 1, 3.0)], confirm=False)
        with self.assertRaises(OrderNotPayableError):
            order.with_user(self.user).action_pay()
        self.assertEqual(self.simulator_requests("/v1/"), [])

    def test_action_pay_needs_write_access(self):
        order = self._eur_order()
        with self.assertRaises(AccessError):
            order.with_user(self.portal_user).action_pay()
        self.assertFalse(order.transaction_ids)
        self.assertEqual(self.simulator_requests("/v1/"), [])
