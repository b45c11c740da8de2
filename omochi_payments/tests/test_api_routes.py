"""HTTP tests of the Stripe Checkout routes (DESIGN §7) against the simulator.

Requests go through Odoo's HTTP stack (``HttpCase``) and reach Stripe through
the project's simulator over HTTP, exactly as in production; nothing of the
ORM or of the ``stripe`` SDK is mocked.
"""

import json
import socket
import uuid
from urllib.parse import urlsplit

import requests

from odoo.tests import HttpCase, tagged

from ..tools import stripe_gateway
from .common import OmochiPaymentsCase, StripeSimulatorMixin

PAY_KEYS = {"payment_id", "checkout_session_id", "checkout_url"}
STATUS_KEYS = {
    "payment_id",
    "order_id",
    "status",
    "amount",
    "currency",
    "checkout_session_id",
    "error_message",
    "updated_at",
}
FRONTEND_ORIGIN = "http://localhost:3000"
EXTRA_ORIGIN = "https://shop.omochi.example"
FOREIGN_ORIGIN = "https://evil.example.com"
CHECK_STATUS = "/api/payments/check_status/"
CREATE_SESSION = "/api/payments/create_checkout_session/"
STATUS_PAGE = "/omochi/payment/status"
SESSIONS = "/v1/checkout/sessions"


def pay_path(order_uuid):
    return f"/api/orders/{order_uuid}/pay/"


def chunked(body, size=4096):
    """Yield ``body`` as JSON in chunks: requests sends it without a
    Content-Length (``Transfer-Encoding: chunked``)."""
    data = json.dumps(body).encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


class ApiRoutesCase(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    """API keys and helpers to call the ``/api`` routes of the test server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer_contact.email = "omochi.contact@customer.example"
        cls.user_key = cls._api_key(cls.user)
        cls.portal_key = cls._api_key(cls.portal_user)
        cls.env.company.omochi_allowed_origins = EXTRA_ORIGIN

    @classmethod
    def _api_key(cls, user, name="test"):
        """Generate an RPC API key of ``user`` (persistent, hence sudo)."""
        apikeys = cls.env["res.users.apikeys"].with_user(user).sudo()
        return apikeys._generate("rpc", name, None)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def request(self, method, path, body=None, *, data=None, key=None, headers=None):
        """Send a request to the test server; ``body`` is sent as JSON.

        No answer of these routes may be a 500.
        """
        headers = dict(headers or {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if body is not None:
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        response = self.opener.request(
            method,
            self.base_url() + path,
            data=data,
            headers=headers,
            timeout=60,
            allow_redirects=False,
        )
        self.assertNotEqual(response.status_code, 500, response.text)
        return response

    def pay(self, route, order_uuid, body=None, **kwargs):
        """Pay through one of the two pay routes (``"order"`` or ``"create"``)."""
        if route == "order":
            return self.request("POST", pay_path(order_uuid), body, **kwargs)
        return self.request(
            "POST", CREATE_SESSION, {"order_id": order_uuid, **(body or {})}, **kwargs
        )

    def check_status(self, session_id, key=None, **kwargs):
        query = "" if session_id is None else f"?session_id={session_id}"
        return self.request("GET", CHECK_STATUS + query, key=key, **kwargs)

    def assertApiError(self, response, status, code, field=None):
        """Assert the §7 error body, with ``field`` exactly when given."""
        self.assertEqual(response.status_code, status, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        body = response.json()
        self.assertEqual(set(body), {"error"})
        expected_keys = {"code", "message"} | ({"field"} if field else set())
        self.assertEqual(set(body["error"]), expected_keys, body)
        self.assertEqual(body["error"]["code"], code)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertTrue(body["error"]["message"])
        if field:
            self.assertEqual(body["error"]["field"], field)
        return body

    def transaction_count(self):
        return self.env["omochi.payment.transaction"].sudo().search_count([])

    def created_sessions(self):
        """The Checkout Sessions the simulator created (POSTs answered 200)."""
        posts = self.simulator_requests(SESSIONS, "POST")
        return [
            record
            for record in posts
            if record["path"] == SESSIONS and record["status"] == 200
        ]

    def assertNothingChanged(self, count_before):
        self.assertEqual(self.transaction_count(), count_before)
        self.assertFalse(self.created_sessions())

    def transaction_of(self, answer):
        return (
            self.env["omochi.payment.transaction"]
            .sudo()
            .search([("uuid", "=", answer["payment_id"])])
        )

    def new_session(self, order=None, key=None):
        """Pay ``order`` (default: the portal customer's) and return the answer."""
        order = order or self.order
        response = self.pay("order", order.uuid, key=key or self.user_key)
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()


@tagged("post_install", "-at_install")
class TestApiRoutes(ApiRoutesCase):
    """``/api/orders/<uuid>/pay/``, ``/api/payments/create_checkout_session/``,
    ``/api/payments/check_status/``, the status page and the admin address."""

    # ------------------------------------------------------------------
    # Pay routes
    # ------------------------------------------------------------------

    def test_pay_creates_then_reuses_the_session(self):
        for route in ("order", "create"):
            with self.subTest(route=route):
                order = self._create_order(self.customer_contact, price_unit=12.5)
                created = self.pay(route, order.uuid, key=self.user_key)
                self.assertEqual(created.status_code, 201, created.text)
                self.assertEqual(created.headers["Cache-Control"], "no-store")
                body = created.json()
                self.assertEqual(set(body), PAY_KEYS)
                transaction = self.transaction_of(body)
                self.assertEqual(transaction.order_id, order)
                self.assertEqual(transaction.status, "pending")
                self.assertEqual(
                    body["checkout_session_id"], transaction.stripe_checkout_session_id
                )
                self.assertTrue(body["checkout_session_id"].startswith("cs_"))
                self.assertEqual(body["checkout_url"], transaction.checkout_url)
                self.assertTrue(body["checkout_url"].startswith("http"))

                # Both routes reuse the open session, with the same body.
                for again in ("order", "create"):
                    reused = self.pay(again, order.uuid, key=self.user_key)
                    self.assertEqual(reused.status_code, 200, reused.text)
                    self.assertEqual(reused.json(), body)

                [record] = [
                    r
                    for r in self.created_sessions()
                    if r["params"]["client_reference_id"] == body["payment_id"]
                ]
                params = record["params"]
                self.assertEqual(params["metadata"]["order_id"], order.uuid)
                self.assertEqual(
                    params["success_url"],
                    f"{FRONTEND_ORIGIN}/payment/status"
                    "?session_id={CHECKOUT_SESSION_ID}&status=success",
                )
                self.assertEqual(
                    params["cancel_url"],
                    f"{FRONTEND_ORIGIN}/payment/status?status=cancelled",
                )
                self.assertEqual(len(order.transaction_ids), 1)
        self.assertEqual(len(self.created_sessions()), 2)

    def test_pay_own_order_with_portal_key(self):
        answer = self.new_session(key=self.portal_key)
        self.assertEqual(set(answer), PAY_KEYS)
        self.assertEqual(self.transaction_of(answer).order_id, self.order)

    def test_pay_with_allowed_return_url(self):
        for route, return_url in (
            ("order", f"{FRONTEND_ORIGIN}/orders/done"),
            ("create", f"{EXTRA_ORIGIN}/checkout/return?ref=7"),
        ):
            with self.subTest(route=route):
                order = self._create_order(self.customer_contact)
                response = self.pay(
                    route, order.uuid, {"return_url": return_url}, key=self.user_key
                )
                self.assertEqual(response.status_code, 201, response.text)
                transaction = self.transaction_of(response.json())
                self.assertEqual(transaction.return_url, return_url)
                sent = self.created_sessions()[-1]["params"]
                separator = "&" if "?" in return_url else "?"
                self.assertEqual(
                    sent["success_url"],
                    f"{return_url}{separator}"
                    "session_id={CHECKOUT_SESSION_ID}&status=success",
                )
                self.assertEqual(
                    sent["cancel_url"], f"{return_url}{separator}status=cancelled"
                )

    def test_bad_input_is_400(self):
        order_uuid = self.order.uuid
        json_type = {"Content-Type": "application/json"}
        cases = [
            # (label, path, raw body, headers, code, field)
            ("malformed JSON", pay_path(order_uuid), '{"return_url": ', json_type,
             "invalid_json", "body"),
            ("malformed JSON", CREATE_SESSION, '{"order_id": "', json_type,
             "invalid_json", "body"),
            ("not UTF-8", CREATE_SESSION, b'{"order_id": "\xff"}', json_type,
             "invalid_json", "body"),
            ("array", pay_path(order_uuid), "[]", json_type, "invalid_json", "body"),
            ("array", CREATE_SESSION, f'["{order_uuid}"]', json_type,
             "invalid_json", "body"),
            ("string", CREATE_SESSION, '"x"', json_type, "invalid_json", "body"),
            ("number", pay_path(order_uuid), "5", json_type, "invalid_json", "body"),
            ("null", CREATE_SESSION, "null", json_type, "invalid_json", "body"),
            ("order_id 5", CREATE_SESSION, '{"order_id": 5}', json_type,
             "invalid_field", "order_id"),
            ("order_id list", CREATE_SESSION, f'{{"order_id": ["{order_uuid}"]}}',
             json_type, "invalid_field", "order_id"),
            ("order_id null", CREATE_SESSION, '{"order_id": null}', json_type,
             "invalid_field", "order_id"),
            ("order_id not uuid", CREATE_SESSION, '{"order_id": "OM/2026/00001"}',
             json_type, "invalid_field", "order_id"),
            ("order_id empty", CREATE_SESSION, '{"order_id": ""}', json_type,
             "invalid_field", "order_id"),
            ("path not uuid", pay_path("not-a-uuid"), None, {}, "invalid_field",
             "order_id"),
            ("path not uuid", pay_path("1 OR 1=1"), None, {}, "invalid_field",
             "order_id"),
            ("return_url 5", pay_path(order_uuid), '{"return_url": 5}', json_type,
             "invalid_field", "return_url"),
            ("return_url 5", CREATE_SESSION,
             f'{{"order_id": "{order_uuid}", "return_url": 5}}', json_type,
             "invalid_field", "return_url"),
            ("return_url object", CREATE_SESSION,
             f'{{"order_id": "{order_uuid}", "return_url": {{}}}}', json_type,
             "invalid_field", "return_url"),
            ("missing order_id", CREATE_SESSION, "{}", json_type, "missing_field",
             "order_id"),
            ("missing order_id", CREATE_SESSION, '{"return_url": null}', json_type,
             "missing_field", "order_id"),
            ("no body", CREATE_SESSION, None, {}, "missing_field", "order_id"),
            ("text/plain", pay_path(order_uuid), "{}", {"Content-Type": "text/plain"},
             "unsupported_content_type", "body"),
            ("text/plain", CREATE_SESSION, f'{{"order_id": "{order_uuid}"}}',
             {"Content-Type": "text/plain"}, "unsupported_content_type", "body"),
            ("form", CREATE_SESSION, f"order_id={order_uuid}",
             {"Content-Type": "application/x-www-form-urlencoded"},
             "unsupported_content_type", "body"),
        ]  # fmt: skip
        before = self.transaction_count()
        for label, path, data, headers, code, field in cases:
            with self.subTest(label, path=path):
                response = self.request(
                    "POST", path, data=data, headers=headers, key=self.user_key
                )
                self.assertApiError(response, 400, code, field)
        self.assertNothingChanged(before)

    def test_wrong_method_is_405(self):
        for method, path, allowed in (
            ("GET", pay_path(self.order.uuid), "OPTIONS, POST"),
            ("PUT", CREATE_SESSION, "OPTIONS, POST"),
            ("DELETE", pay_path(self.order.uuid), "OPTIONS, POST"),
            ("POST", CHECK_STATUS, "GET, HEAD, OPTIONS"),
            ("GET", "/api/payments/webhook/", "OPTIONS, POST"),
        ):
            with self.subTest(method=method, path=path):
                response = self.request(method, path, key=self.user_key)
                self.assertApiError(response, 405, "method_not_allowed")
                self.assertEqual(response.headers["Allow"], allowed)
        self.assertFalse(self.created_sessions())

    def test_unknown_api_path_is_a_json_404(self):
        for path in ("/api/nothing/", "/api/payments/check_status/extra"):
            with self.subTest(path=path):
                response = self.request("GET", path, key=self.user_key)
                self.assertApiError(response, 404, "not_found")

    def test_body_too_large_is_413(self):
        padding = "x" * (64 * 1024)
        before = self.transaction_count()
        for path, body in (
            (pay_path(self.order.uuid), {"padding": padding}),
            (CREATE_SESSION, {"order_id": self.order.uuid, "padding": padding}),
        ):
            with self.subTest(path=path):
                response = self.request("POST", path, body, key=self.user_key)
                self.assertApiError(response, 413, "body_too_large")
        # A chunked body has no Content-Length: it is measured as it is read.
        for content_type in ("application/json", "text/plain"):
            with self.subTest(chunked=content_type):
                response = self.request(
                    "POST",
                    CREATE_SESSION,
                    data=chunked({"order_id": self.order.uuid, "padding": padding}),
                    headers={"Content-Type": content_type},
                    key=self.user_key,
                )
                self.assertApiError(response, 413, "body_too_large")
        self.assertNothingChanged(before)

    def test_chunked_body_is_read(self):
        response = self.request(
            "POST",
            CREATE_SESSION,
            data=chunked({"order_id": self.order.uuid}),
            headers={"Content-Type": "text/plain"},
            key=self.user_key,
        )
        self.assertApiError(response, 400, "unsupported_content_type", "body")
        response = self.request(
            "POST",
            CREATE_SESSION,
            data=chunked({"order_id": self.order.uuid}),
            headers={"Content-Type": "application/json"},
            key=self.user_key,
        )
        self.assertEqual(response.status_code, 201, response.text)

    def test_credentials_are_required(self):
        revoked_key = self._api_key(self.user, name="revoked")
        self.env["res.users.apikeys"].sudo().search(
            [("user_id", "=", self.user.id), ("name", "=", "revoked")]
        ).unlink()
        before = self.transaction_count()
        for route in ("order", "create"):
            with self.subTest(route=route, authorization=None):
                response = self.pay(route, self.order.uuid)
                self.assertApiError(response, 401, "authentication_required")
            for authorization in (
                "Bearer",
                "Bearer ",
                "Basic x",
                f"Basic {self.user_key}",
                f"Token {self.user_key}",
                "Bearer not-a-key",
                f"Bearer {self.user_key[:-1]}",
                f"Bearer {revoked_key}",
            ):
                with self.subTest(route=route, authorization=authorization):
                    response = self.pay(
                        route,
                        self.order.uuid,
                        headers={"Authorization": authorization},
                    )
                    self.assertApiError(response, 401, "invalid_credentials")
        response = self.check_status("cs_test_whatever")
        self.assertApiError(response, 401, "authentication_required")
        response = self.check_status(
            "cs_test_whatever", headers={"Authorization": f"Bearer {revoked_key}"}
        )
        self.assertApiError(response, 401, "invalid_credentials")
        self.assertNothingChanged(before)

    def test_unknown_and_foreign_orders_are_404_alike(self):
        before = self.transaction_count()
        unknown = str(uuid.uuid4())
        for route in ("order", "create"):
            with self.subTest(route=route):
                missing = self.pay(route, unknown, key=self.portal_key)
                self.assertApiError(missing, 404, "order_not_found")
                missing_for_user = self.pay(route, unknown, key=self.user_key)
                self.assertApiError(missing_for_user, 404, "order_not_found")
                # The stranger's order exists, but the portal customer may not
                # see it: the very same answer, nothing tells it apart.
                foreign = self.pay(route, self.stranger_order.uuid, key=self.portal_key)
                self.assertApiError(foreign, 404, "order_not_found")
                self.assertEqual(foreign.content, missing.content)
                self.assertEqual(
                    foreign.headers["Content-Type"], missing.headers["Content-Type"]
                )
        # The upper-case spelling of a uuid names the same order.
        response = self.pay("order", self.order.uuid.upper(), key=self.portal_key)
        self.assertEqual(response.status_code, 201, response.text)
        self.assertEqual(self.transaction_count(), before + 1)

    def test_order_not_payable_is_409(self):
        draft = self.env["omochi.order"].create(
            {
                "partner_id": self.customer_contact.id,
                "currency_id": self.currency_eur.id,
                "line_ids": [(0, 0, {"name": "Mochi", "price_unit": 3.0})],
            }
        )
        paid = self._create_order(self.customer_contact)
        paid._omochi_set_state("paid")
        cancelled = self._create_order(self.customer_contact)
        cancelled.action_cancel()
        self.assertEqual(
            (draft.state, paid.state, cancelled.state), ("draft", "paid", "cancelled")
        )
        before = self.transaction_count()
        for order in (draft, paid, cancelled):
            for route in ("order", "create"):
                for key in (self.user_key, self.portal_key):
                    with self.subTest(state=order.state, route=route):
                        response = self.pay(route, order.uuid, key=key)
                        self.assertApiError(response, 409, "order_not_payable")
        self.assertNothingChanged(before)

    def test_order_paid_through_checkout_is_409(self):
        answer = self.new_session()
        self.complete_session(answer["checkout_session_id"])
        response = self.check_status(answer["checkout_session_id"], key=self.user_key)
        self.assertEqual(response.json()["status"], "COMPLETED")
        for route in ("order", "create"):
            with self.subTest(route=route):
                response = self.pay(route, self.order.uuid, key=self.portal_key)
                self.assertApiError(response, 409, "order_not_payable")
        self.assertEqual(len(self.created_sessions()), 1)

    def test_foreign_return_url_is_400(self):
        before = self.transaction_count()
        for return_url in (
            f"{FOREIGN_ORIGIN}/payment/status",
            "//evil.example.com/payment/status",
            f"{FRONTEND_ORIGIN}@evil.example.com/payment/status",
            "http://localhost:3000.evil.example.com/payment/status",
            "https://localhost:3000/payment/status",
            "http://localhost:3001/payment/status",
            "javascript:alert(document.cookie)",
            "/payment/status",
            f"{FRONTEND_ORIGIN}/payment/status\\@evil.example.com",
            f"{FRONTEND_ORIGIN}/pay ment",
        ):
            for route in ("order", "create"):
                with self.subTest(route=route, return_url=return_url):
                    response = self.pay(
                        route,
                        self.order.uuid,
                        {"return_url": return_url},
                        key=self.user_key,
                    )
                    self.assertApiError(
                        response, 400, "return_url_not_allowed", "return_url"
                    )
        self.assertNothingChanged(before)

    def test_stripe_down_is_502_then_retry_succeeds(self):
        before = self.transaction_count()
        self.inject_fault("server_error", count=None, method="POST", path=SESSIONS)
        for route in ("order", "create"):
            with self.subTest(route=route):
                response = self.pay(route, self.order.uuid, key=self.user_key)
                body = self.assertApiError(response, 502, "stripe_unavailable")
                self.assertIn("Stripe", body["error"]["message"])
                self.assertNotIn(self.simulator_key, response.text)
        # The failed attempt is kept, with its error, for the retry.
        transaction = self.order.transaction_ids
        self.assertEqual(len(transaction), 1)
        self.assertEqual(self.transaction_count(), before + 1)
        self.assertEqual(transaction.status, "pending")
        self.assertTrue(transaction.error_message)
        self.assertFalse(transaction.stripe_checkout_session_id)
        attempts = self.simulator_requests(SESSIONS, "POST")
        self.assertGreaterEqual(len(attempts), 2)  # the SDK's retries
        self.assertEqual({r["status"] for r in attempts}, {500})

        self.simulator("DELETE", "faults")
        response = self.pay("create", self.order.uuid, key=self.user_key)
        self.assertEqual(response.status_code, 201, response.text)
        body = response.json()
        self.assertEqual(set(body), PAY_KEYS)
        self.assertEqual(body["payment_id"], transaction.uuid)
        self.assertEqual(self.transaction_count(), before + 1)
        self.assertFalse(transaction.error_message)
        # Every attempt replayed the same request: exactly one session.
        self.assertEqual(len(self.created_sessions()), 1)
        posts = self.simulator_requests(SESSIONS, "POST")
        self.assertEqual(len({r["idempotency_key"] for r in posts}), 1)
        listed = requests.get(
            self.simulator_url + SESSIONS,
            headers={"Authorization": f"Bearer {self.simulator_key}"},
            timeout=10,
        ).json()["data"]
        self.assertEqual([s["id"] for s in listed], [body["checkout_session_id"]])
        response = self.pay("order", self.order.uuid, key=self.user_key)
        self.assertEqual((response.status_code, response.json()), (200, body))

    # ------------------------------------------------------------------
    # Session authentication
    # ------------------------------------------------------------------

    def test_session_auth(self):
        self.authenticate(self.user.login, self.user.login)
        before = self.transaction_count()
        # A browser form (or a CORS "simple request") cannot send JSON:
        # cookie-authenticated POSTs without it are refused (CSRF).
        for data, content_type in (
            (f"order_id={self.order.uuid}", "application/x-www-form-urlencoded"),
            (json.dumps({"order_id": self.order.uuid}), "text/plain"),
            (None, None),
        ):
            with self.subTest(content_type=content_type):
                headers = {"Content-Type": content_type} if content_type else {}
                response = self.request(
                    "POST", CREATE_SESSION, data=data, headers=headers
                )
                self.assertApiError(response, 400, "unsupported_content_type")
                response = self.request(
                    "POST", pay_path(self.order.uuid), data=data, headers=headers
                )
                self.assertApiError(response, 400, "unsupported_content_type")
        self.assertNothingChanged(before)

        response = self.pay("create", self.order.uuid)
        self.assertEqual(response.status_code, 201, response.text)
        body = response.json()
        self.assertEqual(set(body), PAY_KEYS)
        response = self.request("POST", pay_path(self.order.uuid), {})
        self.assertEqual((response.status_code, response.json()), (200, body))

        response = self.check_status(body["checkout_session_id"])
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["payment_id"], body["payment_id"])
        self.assertEqual(response.json()["status"], "PENDING")

    # ------------------------------------------------------------------
    # CORS
    # ------------------------------------------------------------------

    def preflight(self, path, origin, method="POST"):
        headers = {"Access-Control-Request-Method": method}
        if origin:
            headers["Origin"] = origin
        headers["Access-Control-Request-Headers"] = "authorization,content-type"
        return self.request("OPTIONS", path, headers=headers)

    def test_cors_preflight_from_allowed_origins(self):
        for origin in (FRONTEND_ORIGIN, EXTRA_ORIGIN):
            for path, method in (
                (pay_path(self.order.uuid), "POST"),
                (CREATE_SESSION, "POST"),
                (CHECK_STATUS, "GET"),
            ):
                with self.subTest(origin=origin, path=path):
                    response = self.preflight(path, origin, method)
                    self.assertEqual(response.status_code, 204, response.text)
                    headers = response.headers
                    self.assertEqual(headers["Access-Control-Allow-Origin"], origin)
                    methods = {
                        m.strip()
                        for m in headers["Access-Control-Allow-Methods"].split(",")
                    }
                    self.assertIn(method, methods)
                    allowed = {
                        h.strip().lower()
                        for h in headers["Access-Control-Allow-Headers"].split(",")
                    }
                    self.assertLessEqual({"authorization", "content-type"}, allowed)
                    self.assertIn("Origin", headers.get("Vary", ""))

    def test_cors_other_origins_get_no_cors_headers(self):
        self.env.company.omochi_frontend_url = "https://app.omochi.example/"
        for origin in (
            FOREIGN_ORIGIN,
            FRONTEND_ORIGIN,  # no longer the frontend
            "https://app.omochi.example.evil.example.com",
            "http://app.omochi.example",
            "null",
            None,
        ):
            for path in (pay_path(self.order.uuid), CREATE_SESSION, CHECK_STATUS):
                with self.subTest(origin=origin, path=path):
                    response = self.preflight(path, origin)
                    self.assertNotIn(response.status_code, (200, 201))
                    cors = [
                        name
                        for name in response.headers
                        if name.lower().startswith("access-control-")
                    ]
                    self.assertEqual(cors, [])
        response = self.preflight(CREATE_SESSION, "https://app.omochi.example")
        self.assertEqual(
            response.headers["Access-Control-Allow-Origin"],
            "https://app.omochi.example",
        )

    def test_cors_headers_on_actual_responses(self):
        for origin, allowed in (
            (FRONTEND_ORIGIN, True),
            (EXTRA_ORIGIN, True),
            (FOREIGN_ORIGIN, False),
        ):
            with self.subTest(origin=origin):
                headers = {"Origin": origin}
                answers = [
                    self.pay(
                        "order", self.order.uuid, key=self.user_key, headers=headers
                    ),
                    self.pay("create", self.order.uuid, headers=headers),  # 401
                    self.check_status(
                        "cs_test_unknown", self.user_key, headers=headers
                    ),
                ]
                self.assertEqual(
                    [a.status_code for a in answers],
                    [201 if origin == FRONTEND_ORIGIN else 200, 401, 404],
                )
                for answer in answers:
                    if allowed:
                        self.assertEqual(
                            answer.headers["Access-Control-Allow-Origin"], origin
                        )
                    else:
                        self.assertFalse(
                            [
                                name
                                for name in answer.headers
                                if name.lower().startswith("access-control-")
                            ]
                        )

    # ------------------------------------------------------------------
    # check_status
    # ------------------------------------------------------------------

    def test_check_status_bad_session_id_is_400(self):
        for session_id in (
            None,
            "",
            "abc",
            "cs_",
            "pi_123",
            "cs_test_a'%20OR%20'1'='1",
            "cs_test_%00",
            "cs_" + "a" * 300,
        ):
            with self.subTest(session_id=session_id):
                response = self.check_status(session_id, key=self.user_key)
                self.assertApiError(response, 400, "invalid_field", "session_id")

    def test_check_status_unknown_and_foreign_are_404_alike(self):
        stranger_answer = self.new_session(self.stranger_order)
        requests_before = len(self.simulator_requests(SESSIONS))
        unknown = self.check_status("cs_test_doesnotexist", key=self.portal_key)
        self.assertApiError(unknown, 404, "payment_not_found")
        foreign = self.check_status(
            stranger_answer["checkout_session_id"], key=self.portal_key
        )
        self.assertApiError(foreign, 404, "payment_not_found")
        self.assertEqual(foreign.content, unknown.content)
        # Nothing was asked of Stripe about a session the caller may not see.
        self.assertEqual(len(self.simulator_requests(SESSIONS)), requests_before)
        response = self.check_status(
            stranger_answer["checkout_session_id"], key=self.user_key
        )
        self.assertEqual(response.status_code, 200, response.text)

    def test_check_status_refreshes_from_stripe(self):
        answer = self.new_session(key=self.portal_key)
        session_id = answer["checkout_session_id"]
        transaction = self.transaction_of(answer)

        response = self.check_status(session_id, key=self.portal_key)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        pending = response.json()
        self.assertEqual(set(pending), STATUS_KEYS)
        self.assertEqual(
            {key: value for key, value in pending.items() if key != "updated_at"},
            {
                "payment_id": answer["payment_id"],
                "order_id": self.order.uuid,
                "status": "PENDING",
                "amount": "51.00",
                "currency": "EUR",
                "checkout_session_id": session_id,
                "error_message": None,
            },
        )
        self.assertRegex(pending["updated_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        self.complete_session(session_id)
        self.forget_refresh_claims()
        response = self.check_status(session_id, key=self.portal_key)
        self.assertEqual(response.status_code, 200, response.text)
        completed = response.json()
        self.assertEqual(set(completed), STATUS_KEYS)
        self.assertEqual(completed["status"], "COMPLETED")
        self.assertEqual(completed["payment_id"], answer["payment_id"])
        self.assertEqual(transaction.status, "completed")
        self.assertTrue(transaction.stripe_payment_intent_id)
        self.assertEqual(self.order.state, "paid")
        self.assertEqual(self.order.payment_state, "paid")

        retrievals = self.simulator_requests(f"{SESSIONS}/{session_id}", "GET")
        self.assertEqual(len(retrievals), 2)
        for record in retrievals:
            self.assertEqual(record["path"], f"{SESSIONS}/{session_id}")
            self.assertIn("payment_intent", record["query"]["expand"])

        # A final status is answered without asking Stripe again.
        response = self.check_status(session_id, key=self.user_key)
        self.assertEqual(response.json()["status"], "COMPLETED")
        self.assertEqual(
            len(self.simulator_requests(f"{SESSIONS}/{session_id}", "GET")), 2
        )

    def test_check_status_failed_payment(self):
        answer = self.new_session()
        self.complete_session(
            answer["checkout_session_id"],
            "failed",
            failure_message="Your card was declined.",
        )
        response = self.check_status(answer["checkout_session_id"], key=self.user_key)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["status"], "FAILED")
        self.assertEqual(response.json()["error_message"], "Your card was declined.")
        self.assertEqual(self.order.state, "confirmed")

    def test_check_status_survives_stripe_down(self):
        answer = self.new_session()
        self.inject_fault("server_error", count=None, path=SESSIONS)
        response = self.check_status(answer["checkout_session_id"], key=self.user_key)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["status"], "PENDING")

    # ------------------------------------------------------------------
    # Odoo-hosted status page
    # ------------------------------------------------------------------

    def status_page(self, query):
        response = self.request("GET", f"{STATUS_PAGE}?{query}")
        self.assertIn("text/html", response.headers["Content-Type"])
        html = response.text
        for private in (
            self.customer_contact.name,
            self.customer_contact.email,
            self.customer.name,
        ):
            self.assertNotIn(private, html)
        self.assertNotIn(self.simulator_key, html)
        return response

    def test_status_page(self):
        outcomes = (
            ("paid", "success", "Payment received"),
            ("unpaid", "processing", "Payment processing"),
            ("failed", "failed", "Payment failed"),
            (None, "pending", "Payment not completed yet"),
        )
        for outcome, status, title in outcomes:
            with self.subTest(outcome=outcome):
                order = self._create_order(self.customer_contact, price_unit=7.0)
                answer = self.new_session(order)
                session_id = answer["checkout_session_id"]
                if outcome:
                    self.complete_session(session_id, outcome)
                response = self.status_page(f"session_id={session_id}&status=success")
                self.assertEqual(response.status_code, 200)
                self.assertIn(f'data-status="{status}"', response.text)
                self.assertIn(title, response.text)
                self.assertIn(order.name, response.text)
                self.assertEqual(response.headers["Cache-Control"], "no-store")
                expected = {"paid": "completed", "unpaid": "processing"}
                self.assertEqual(
                    self.transaction_of(answer).status,
                    expected.get(outcome, outcome or "pending"),
                )

    def test_status_page_cancelled_and_unknown(self):
        response = self.status_page("status=cancelled")
        self.assertEqual(response.status_code, 200)
        self.assertIn("Payment cancelled", response.text)

        for query in (
            "session_id=cs_test_unknown&status=success",
            "session_id=not-a-session&status=success",
            "status=success",
            "",
        ):
            with self.subTest(query=query):
                response = self.status_page(query)
                self.assertEqual(response.status_code, 404)
                self.assertIn("Payment not found", response.text)

    # ------------------------------------------------------------------
    # The guide's admin address
    # ------------------------------------------------------------------

    def test_admin_address(self):
        path = "/admin/payments/paymenttransaction/"
        response = self.request("GET", path)
        self.assertIn(response.status_code, (302, 303))
        self.assertEqual(
            self.parse_http_location(response.headers["Location"]).path, "/web/login"
        )

        self.authenticate(self.user.login, self.user.login)
        response = self.request("GET", path)
        self.assertIn(response.status_code, (302, 303))
        self.assertURLEqual(
            response.headers["Location"],
            "/odoo/action-omochi_payments.omochi_payment_transaction_action",
        )

        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.request("GET", path)
        self.assertEqual(response.status_code, 404)


@tagged("post_install", "-at_install")
class TestRefreshBound(ApiRoutesCase):
    """Issue 10, 5: however many requests ask about a payment, Odoo calls
    Stripe about it at most once per ``REFRESH_MIN_INTERVAL_SECONDS``."""

    def retrievals(self, session_id):
        return self.simulator_requests(f"/v1/checkout/sessions/{session_id}", "GET")

    def test_status_page_loop_makes_one_stripe_call(self):
        session_id = self.new_session()["checkout_session_id"]
        for _attempt in range(10):
            response = self.request(
                "GET", f"/omochi/payment/status?session_id={session_id}"
            )
            self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.retrievals(session_id)), 1)
        self.age_refresh_claims()
        self.request("GET", f"/omochi/payment/status?session_id={session_id}")
        self.assertEqual(len(self.retrievals(session_id)), 2)

    def test_status_poll_loop_makes_one_stripe_call(self):
        """The status page's poll (anonymous, keyed by the ``cs_`` id) is
        bounded like the page itself."""
        session_id = self.new_session()["checkout_session_id"]
        for _attempt in range(10):
            response = self.request(
                "GET", f"/omochi/payment/status/poll?session_id={session_id}"
            )
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.json(), {"status": "PENDING"})
        self.assertEqual(len(self.retrievals(session_id)), 1)

    def test_check_status_loop_makes_one_stripe_call(self):
        session_id = self.new_session()["checkout_session_id"]
        for _attempt in range(10):
            response = self.check_status(session_id, key=self.user_key)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.json()["status"], "PENDING")
        self.assertEqual(len(self.retrievals(session_id)), 1)

    def test_stripe_down_is_not_asked_again_at_once(self):
        session_id = self.new_session()["checkout_session_id"]
        self.inject_fault(
            "server_error", count=None, path=f"/v1/checkout/sessions/{session_id}"
        )
        for _attempt in range(3):
            self.assertEqual(
                self.check_status(session_id, key=self.user_key).status_code, 200
            )
        calls = len(self.retrievals(session_id))
        self.simulator("DELETE", "faults")
        # One refresh (with the SDK's own network retries), not three.
        self.assertLessEqual(calls, 1 + stripe_gateway.MAX_NETWORK_RETRIES)
        self.assertGreaterEqual(calls, 1)


@tagged("post_install", "-at_install")
class TestBodyLimitBeforeParsing(ApiRoutesCase):
    """Issue 10, 6: the routes' body limits apply before Odoo parses a form
    or multipart body: a client announcing a huge body is answered 413 at
    once, without the server reading (or waiting for) the body."""

    def announce(self, path, content_type, length, headers=()):
        """Send headers announcing ``length`` bytes and only 1 KiB of them;
        return the raw answer (the server must answer without the rest)."""
        url = urlsplit(self.base_url())
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {url.netloc}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            "Connection: close",
            *headers,
        ]
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"a=" * 512)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except TimeoutError:
                self.fail(f"{path}: no answer while the server waits for the body")
        return answer.decode(errors="replace")

    def test_form_and_multipart_bodies_refused_before_parsing(self):
        auth = f"Authorization: Bearer {self.user_key}"
        cases = [
            (pay_path(self.order.uuid), "application/x-www-form-urlencoded", [auth]),
            (CREATE_SESSION, "multipart/form-data; boundary=xyz", [auth]),
            ("/api/payments/webhook/", "application/x-www-form-urlencoded", []),
            (
                f"/my/omochi_orders/{self.order.id}/pay",
                "application/x-www-form-urlencoded",
                [],
            ),
        ]
        for path, content_type, headers in cases:
            with self.subTest(path=path):
                answer = self.announce(path, content_type, 8 * 1024 * 1024, headers)
                self.assertTrue(answer.startswith("HTTP/1.1 413"), answer[:200])
                if path.startswith("/api/"):
                    body = json.loads(answer.split("\r\n\r\n", 1)[1])
                    self.assertEqual(body["error"]["code"], "body_too_large")
