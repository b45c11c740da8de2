"""Paying from the customer portal (``/my/omochi_orders/<id>`` and its **Pay now**
button) and the way back from Stripe to Odoo's status page, against the
Stripe simulator."""

from urllib.parse import parse_qs, urlsplit

from lxml import html

from odoo.tests import HttpCase, tagged

from .common import OmochiPaymentsCase, StripeSimulatorMixin

SESSIONS = "/v1/checkout/sessions"
STATUS_PAGE = "/omochi/payment/status"
NOT_PAYABLE_MESSAGE = "This order cannot be paid online"
STRIPE_DOWN_MESSAGE = "The payment service could not be reached."


@tagged("post_install", "-at_install")
class TestPortalPay(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer_contact.email = "omochi.contact@customer.example"

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def login_portal(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)

    def get(self, url):
        response = self.url_open(url, allow_redirects=False)
        self.assertNotEqual(response.status_code, 500, response.text)
        return response

    def order_page(self, order, access_token=None, query=""):
        url = f"/my/omochi_orders/{order.id}?{query}"
        if access_token:
            url += f"&access_token={access_token}"
        return self.get(url)

    def pay_form(self, order, access_token=None):
        """The **Pay now** form of the order page (``None`` if absent)."""
        response = self.order_page(order, access_token)
        self.assertEqual(response.status_code, 200)
        forms = html.fromstring(response.content).xpath(
            "//form[hasclass('o_omochi_pay_form')]"
        )
        return forms[0] if forms else None

    def post_pay(self, order, access_token=None, csrf_token=None):
        """Post the **Pay now** form as the browser would."""
        if csrf_token is None:
            csrf_token = self.csrf_token()
        data = {"csrf_token": csrf_token}
        if access_token:
            data["access_token"] = access_token
        response = self.url_open(
            f"/my/omochi_orders/{order.id}/pay", data=data, allow_redirects=False
        )
        self.assertNotEqual(response.status_code, 500, response.text)
        return response

    def csrf_token(self):
        """A CSRF token of the current session (from any portal page)."""
        response = self.get("/web/login")
        tree = html.fromstring(response.content)
        return tree.xpath("//input[@name='csrf_token']/@value")[0]

    def transactions(self, order):
        return (
            self.env["omochi.payment.transaction"]
            .sudo()
            .search([("order_id", "=", order.id)])
        )

    def error_of_redirect(self, response, order):
        """Assert a redirect back to the order page; return its ``error``."""
        self.assertIn(response.status_code, (302, 303))
        location = urlsplit(response.headers["Location"])
        self.assertEqual(location.path, f"/my/omochi_orders/{order.id}")
        return parse_qs(location.query)

    # ------------------------------------------------------------------
    # Pay now
    # ------------------------------------------------------------------

    def test_pay_now_redirects_to_stripe_checkout(self):
        self.login_portal()
        form = self.pay_form(self.order)
        self.assertIsNotNone(form)
        self.assertEqual(form.get("action"), f"/my/omochi_orders/{self.order.id}/pay")
        self.assertEqual(form.get("method"), "post")
        csrf = form.xpath(".//input[@name='csrf_token']/@value")[0]
        self.assertFalse(form.xpath(".//input[@name='access_token']"))

        response = self.post_pay(self.order, csrf_token=csrf)
        self.assertEqual(response.status_code, 303)
        transaction = self.transactions(self.order)
        self.assertEqual(len(transaction), 1)
        self.assertEqual(response.headers["Location"], transaction.checkout_url)
        self.assertTrue(transaction.checkout_url.startswith(self.simulator_url))
        self.assertEqual(transaction.status, "pending")
        # Back to Odoo's own status page, naming the order (no token: the
        # customer is logged in).
        self.assertEqual(
            transaction.return_url,
            f"{self.base_url()}{STATUS_PAGE}?order_id={self.order.uuid}",
        )
        session = self.simulator_requests(SESSIONS, "POST")[-1]["params"]
        self.assertEqual(
            session["success_url"],
            f"{self.base_url()}{STATUS_PAGE}?order_id={self.order.uuid}"
            "&session_id={CHECKOUT_SESSION_ID}&status=success",
        )

        # Paying again reuses the open session.
        again = self.post_pay(self.order)
        self.assertEqual(again.status_code, 303)
        self.assertEqual(again.headers["Location"], transaction.checkout_url)
        self.assertEqual(self.transactions(self.order), transaction)

    def test_pay_now_needs_csrf_token(self):
        self.login_portal()
        response = self.post_pay(self.order, csrf_token="forged")
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.transactions(self.order))

    def test_not_payable_order_shows_error(self):
        self.login_portal()
        draft = self.env["omochi.order"].create(
            {
                "partner_id": self.customer_contact.id,
                "line_ids": [(0, 0, {"name": "Mochi", "price_unit": 3.0})],
            }
        )
        paid = self._create_order(self.customer_contact)
        paid._omochi_set_state("paid")
        cancelled = self._create_order(self.customer_contact)
        cancelled.action_cancel()
        for order in (draft, paid, cancelled):
            with self.subTest(state=order.state):
                self.assertIsNone(self.pay_form(order))
                response = self.post_pay(order)
                query = self.error_of_redirect(response, order)
                self.assertEqual(query["error"], ["not_payable"])
                page = self.get(response.headers["Location"])
                self.assertEqual(page.status_code, 200)
                self.assertIn(NOT_PAYABLE_MESSAGE, page.text)
                self.assertFalse(self.transactions(order))

    def test_error_parameter_is_never_shown_raw(self):
        self.login_portal()
        response = self.order_page(self.order, query="error=%3Cb%3Eowned%3C/b%3E")
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("owned", response.text)
        self.assertFalse(
            html.fromstring(response.content).xpath(
                "//*[hasclass('o_omochi_pay_error')]"
            )
        )

    def test_stripe_down_comes_back_with_message(self):
        self.login_portal()
        self.inject_fault("server_error", count=None, method="POST", path=SESSIONS)
        response = self.post_pay(self.order)
        query = self.error_of_redirect(response, self.order)
        self.assertEqual(query["error"], ["stripe_unavailable"])
        page = self.get(response.headers["Location"])
        self.assertIn(STRIPE_DOWN_MESSAGE, page.text)
        self.assertNotIn(self.simulator_key, page.text)
        # The failed attempt is kept for the retry, which then succeeds.
        transaction = self.transactions(self.order)
        self.assertEqual(len(transaction), 1)
        self.assertTrue(transaction.error_message)
        self.simulator("DELETE", "faults")
        retry = self.post_pay(self.order)
        self.assertEqual(retry.status_code, 303)
        self.assertEqual(self.transactions(self.order), transaction)
        self.assertEqual(retry.headers["Location"], transaction.checkout_url)

    def test_stripe_not_configured_comes_back_with_message(self):
        self.env.company.omochi_stripe_secret_key = False
        self.login_portal()
        response = self.post_pay(self.order)
        query = self.error_of_redirect(response, self.order)
        self.assertEqual(query["error"], ["payment_error"])
        page = self.get(response.headers["Location"])
        self.assertIn("The payment could not be started.", page.text)
        self.assertNotIn("STRIPE_SECRET_KEY", page.text)

    def test_other_customers_order_is_404(self):
        self.login_portal()
        self.assertEqual(self.order_page(self.stranger_order).status_code, 404)
        response = self.post_pay(self.stranger_order)
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(self.stranger_order.name, response.text)
        self.assertFalse(self.transactions(self.stranger_order))
        self.assertFalse(self.simulator_requests(SESSIONS, "POST"))
        # a token of one's own order does not pay another's
        token = self.order._portal_ensure_token()
        response = self.post_pay(self.stranger_order, access_token=token)
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.transactions(self.stranger_order))

    def test_pay_with_access_token_without_login(self):
        order = self.stranger_order
        token = order._portal_ensure_token()
        form = self.pay_form(order, access_token=token)
        self.assertIsNotNone(form)
        self.assertEqual(form.xpath(".//input[@name='access_token']/@value"), [token])
        csrf = form.xpath(".//input[@name='csrf_token']/@value")[0]

        # without the token, or with a wrong one: 404, nothing created
        self.assertEqual(self.post_pay(order, csrf_token=csrf).status_code, 404)
        wrong = self.post_pay(order, access_token=token[:-1] + "x", csrf_token=csrf)
        self.assertEqual(wrong.status_code, 404)
        self.assertFalse(self.transactions(order))

        response = self.post_pay(order, access_token=token, csrf_token=csrf)
        self.assertEqual(response.status_code, 303)
        transaction = self.transactions(order)
        self.assertEqual(response.headers["Location"], transaction.checkout_url)
        # The visitor has no other way to the order: the return URL carries
        # its token, so that the status page can link back to it.
        self.assertEqual(
            transaction.return_url,
            f"{self.base_url()}{STATUS_PAGE}?order_id={order.uuid}&order_token={token}",
        )

    def test_transaction_history_on_order_page(self):
        completed = self._create_transaction(
            self.order,
            status="failed",
            stripe_checkout_session_id="cs_test_portal_history_1",
            checkout_url="https://checkout.stripe.com/c/pay/cs_test_portal_history_1",
            error_message="Your card was declined.",
        )
        pending = self._create_transaction(
            self.order,
            stripe_checkout_session_id="cs_test_portal_history_2",
            checkout_url="https://checkout.stripe.com/c/pay/cs_test_portal_history_2",
        )
        self.login_portal()
        response = self.order_page(self.order)
        self.assertEqual(response.status_code, 200)
        tree = html.fromstring(response.content)
        rows = tree.xpath("//tr[hasclass('o_omochi_transaction')]")
        self.assertEqual(
            [row.get("data-reference") for row in rows],
            [pending.reference, completed.reference],
        )
        statuses = tree.xpath(
            "//tr[hasclass('o_omochi_transaction')]"
            "//*[hasclass('o_omochi_transaction_status')]/@data-status"
        )
        self.assertEqual(statuses, ["PENDING", "FAILED"])
        self.assertIn("51.00", rows[0].text_content())
        # No Stripe identifiers or secrets on the page.
        for secret in ("cs_test_portal_history", "checkout.stripe.com", "sk_test"):
            self.assertNotIn(secret, response.text)
        # A pending payment leaves the order payable (its session is reused).
        self.assertIsNotNone(self.pay_form(self.order))

    def test_no_pay_button_while_processing(self):
        self._create_transaction(
            self.order,
            status="processing",
            stripe_checkout_session_id="cs_test_portal_processing",
        )
        self.login_portal()
        self.assertIsNone(self.pay_form(self.order))
        response = self.post_pay(self.order)
        self.assertEqual(
            self.error_of_redirect(response, self.order)["error"], ["not_payable"]
        )

    # ------------------------------------------------------------------
    # Back from Stripe: the status page links to the order
    # ------------------------------------------------------------------

    def order_link(self, query):
        response = self.get(f"{STATUS_PAGE}?{query}")
        links = html.fromstring(response.content).xpath(
            "//*[hasclass('o_omochi_payment_status_order_link')]//a/@href"
        )
        return response, links[0] if links else None

    def test_status_page_links_back_to_the_order(self):
        order = self.order
        self.login_portal()
        self.post_pay(order)
        transaction = self.transactions(order)
        session_id = transaction.stripe_checkout_session_id
        self.complete_session(session_id, "paid")
        success = f"order_id={order.uuid}&session_id={session_id}&status=success"

        # the logged-in customer
        response, link = self.order_link(success)
        self.assertEqual(response.status_code, 200)
        self.assertIn("Payment received", response.text)
        self.assertEqual(link, order.get_portal_url())
        cancelled = f"order_id={order.uuid}&status=cancelled"
        self.assertEqual(self.order_link(cancelled)[1], order.get_portal_url())

        # another customer, or a visitor with the session id only: no link,
        # nothing personal
        self.authenticate(None, None)
        for query in (success, f"session_id={session_id}&status=success", cancelled):
            with self.subTest(query=query):
                response, link = self.order_link(query)
                self.assertEqual(response.status_code, 200)
                self.assertIsNone(link)
                self.assertNotIn(self.customer_contact.name, response.text)
                self.assertNotIn(self.customer_contact.email, response.text)
                self.assertNotIn(order.access_token, response.text)

        # the visitor came with the order's token (a token payment's return URL)
        token = order.access_token
        for query in (success, cancelled):
            with self.subTest(query=query, token=True):
                _response, link = self.order_link(f"{query}&order_token={token}")
                self.assertEqual(link, order.get_portal_url())
                _response, link = self.order_link(f"{query}&order_token=x{token}")
                self.assertIsNone(link)
        # a token of another order does not link this one
        other_token = self.stranger_order._portal_ensure_token()
        _response, link = self.order_link(f"{success}&order_token={other_token}")
        self.assertIsNone(link)
