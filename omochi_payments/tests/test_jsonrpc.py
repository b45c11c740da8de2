"""The JSON-RPC entry points (DESIGN §7): ``omochi.order.omochi_pay`` and
``omochi.payment.transaction.omochi_check_status`` through Odoo's ``/jsonrpc``
``execute_kw`` with an API key, compared with the ``/api`` routes."""

import json

from odoo.tests import HttpCase, tagged

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
SESSIONS = "/v1/checkout/sessions"
ACCESS_ERROR = "odoo.exceptions.AccessError"
MISSING_ERROR = "odoo.exceptions.MissingError"
USER_ERROR = "odoo.exceptions.UserError"
NOT_PAYABLE_ERROR = "odoo.addons.omochi_payments.exceptions.OrderNotPayableError"


class RpcError(Exception):
    """The ``error`` of a JSON-RPC answer."""

    def __init__(self, error):
        super().__init__(error["data"]["message"])
        self.name = error["data"]["name"]
        self.message = error["data"]["message"]


@tagged("post_install", "-at_install")
class TestJsonRpc(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_key = cls._api_key(cls.user)
        cls.portal_key = cls._api_key(cls.portal_user)

    @classmethod
    def _api_key(cls, user):
        """An RPC API key of ``user`` (persistent, hence sudo)."""
        apikeys = cls.env["res.users.apikeys"].with_user(user).sudo()
        return apikeys._generate("rpc", "test", None)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def execute_kw(self, user, key, model, method, args, kwargs=None):
        """Call ``execute_kw`` through ``/jsonrpc`` as ``user`` with ``key``.

        :return: the ``result``.
        :raise RpcError: with the name and message of the ``error``.
        """
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [
                    self.env.cr.dbname,
                    user.id,
                    key,
                    model,
                    method,
                    args,
                    kwargs or {},
                ],
            },
        }
        response = self.url_open(
            "/jsonrpc",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        if "error" in body:
            raise RpcError(body["error"])
        return body["result"]

    def omochi_pay(self, order, user, key, **kwargs):
        return self.execute_kw(
            user, key, "omochi.order", "omochi_pay", [[order.id]], kwargs
        )

    def omochi_check_status(self, session_id, user, key):
        return self.execute_kw(
            user,
            key,
            "omochi.payment.transaction",
            "omochi_check_status",
            [session_id],
        )

    def api(self, method, path, key, body=None):
        headers = {"Authorization": f"Bearer {key}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        response = self.opener.request(
            method, self.base_url() + path, data=data, headers=headers, timeout=60
        )
        self.assertNotEqual(response.status_code, 500, response.text)
        return response

    def transactions(self, order):
        return (
            self.env["omochi.payment.transaction"]
            .sudo()
            .search([("order_id", "=", order.id)])
        )

    def assertRpcError(self, name, call, *args, **kwargs):
        with self.assertRaises(RpcError) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.name, name, caught.exception.message)
        return caught.exception

    # ------------------------------------------------------------------
    # omochi_pay
    # ------------------------------------------------------------------

    def test_pay_same_dict_as_rest(self):
        for user, key in (
            (self.user, self.user_key),
            (self.portal_user, self.portal_key),
        ):
            with self.subTest(user=user.login):
                order = self._create_order(self.customer_contact, price_unit=8.0)
                answer = self.omochi_pay(order, user, key)
                self.assertEqual(set(answer), PAY_KEYS)
                transaction = self.transactions(order)
                self.assertEqual(len(transaction), 1)
                self.assertEqual(answer, transaction._omochi_checkout_payload())
                self.assertTrue(answer["checkout_url"].startswith(self.simulator_url))

                # the REST route reuses the open session: the same dict
                response = self.api("POST", f"/api/orders/{order.uuid}/pay/", key)
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(response.json(), answer)
                # and so does JSON-RPC after REST
                self.assertEqual(self.omochi_pay(order, user, key), answer)
                self.assertEqual(self.transactions(order), transaction)

    def test_pay_with_return_url(self):
        return_url = "http://localhost:3000/checkout/done"
        answer = self.omochi_pay(
            self.order, self.portal_user, self.portal_key, return_url=return_url
        )
        transaction = self.transactions(self.order)
        self.assertEqual(answer["payment_id"], transaction.uuid)
        self.assertEqual(transaction.return_url, return_url)
        session = self.simulator_requests(SESSIONS, "POST")[-1]["params"]
        self.assertTrue(session["success_url"].startswith(return_url + "?"))

    def test_portal_cannot_pay_someone_elses_order(self):
        error = self.assertRpcError(
            ACCESS_ERROR,
            self.omochi_pay,
            self.stranger_order,
            self.portal_user,
            self.portal_key,
        )
        self.assertNotIn(self.stranger_order.name, error.message)
        self.assertFalse(self.transactions(self.stranger_order))
        self.assertFalse(self.simulator_requests(SESSIONS, "POST"))
        # an order that does not exist: the same error
        missing = self.env["omochi.order"].browse(999999999)
        other = self.assertRpcError(
            ACCESS_ERROR, self.omochi_pay, missing, self.portal_user, self.portal_key
        )
        self.assertEqual(other.message, error.message)
        # the REST route answers 404 for the same order
        response = self.api(
            "POST", f"/api/orders/{self.stranger_order.uuid}/pay/", self.portal_key
        )
        self.assertEqual(response.status_code, 404)

    def test_not_payable_order_same_message_as_rest(self):
        draft = self.env["omochi.order"].create(
            {
                "partner_id": self.customer_contact.id,
                "line_ids": [(0, 0, {"name": "Mochi", "price_unit": 3.0})],
            }
        )
        error = self.assertRpcError(
            NOT_PAYABLE_ERROR, self.omochi_pay, draft, self.user, self.user_key
        )
        response = self.api("POST", f"/api/orders/{draft.uuid}/pay/", self.user_key)
        self.assertEqual(response.status_code, 409)
        self.assertEqual(error.message, response.json()["error"]["message"])
        self.assertIn(draft.name, error.message)
        self.assertFalse(self.transactions(draft))

    def test_pay_bad_arguments(self):
        self.assertRpcError(
            USER_ERROR,
            self.omochi_pay,
            self.order,
            self.user,
            self.user_key,
            return_url={"url": "http://localhost:3000/"},
        )
        error = self.assertRpcError(
            "odoo.addons.omochi_payments.exceptions.ReturnUrlNotAllowedError",
            self.omochi_pay,
            self.order,
            self.user,
            self.user_key,
            return_url="https://evil.example.com/steal",
        )
        self.assertIn("return_url", error.message)
        for ids in ([], [self.order.id, self.stranger_order.id], ["1"]):
            with self.subTest(ids=ids):
                self.assertRpcError(
                    USER_ERROR,
                    self.execute_kw,
                    self.user,
                    self.user_key,
                    "omochi.order",
                    "omochi_pay",
                    [ids],
                )
        self.assertFalse(self.transactions(self.order))

    def test_wrong_api_key(self):
        self.assertRpcError(
            "odoo.exceptions.AccessDenied",
            self.omochi_pay,
            self.order,
            self.user,
            "not-a-key",
        )
        self.assertFalse(self.transactions(self.order))

    # ------------------------------------------------------------------
    # omochi_check_status
    # ------------------------------------------------------------------

    def test_check_status_same_dict_as_rest(self):
        answer = self.omochi_pay(self.order, self.portal_user, self.portal_key)
        session_id = answer["checkout_session_id"]
        path = f"/api/payments/check_status/?session_id={session_id}"
        for user, key in (
            (self.portal_user, self.portal_key),
            (self.user, self.user_key),
        ):
            with self.subTest(user=user.login, state="pending"):
                rest = self.api("GET", path, key)
                self.assertEqual(rest.status_code, 200, rest.text)
                status = self.omochi_check_status(session_id, user, key)
                self.assertEqual(set(status), STATUS_KEYS)
                self.assertEqual(status, rest.json())
                self.assertEqual(status["status"], "PENDING")

        # paid at Stripe: both refresh to COMPLETED with the same dict
        self.complete_session(session_id, "paid")
        self.forget_refresh_claims()
        status = self.omochi_check_status(session_id, self.portal_user, self.portal_key)
        self.assertEqual(status["status"], "COMPLETED")
        self.assertEqual(status["amount"], "51.00")
        self.assertEqual(status["currency"], "EUR")
        self.assertEqual(status["order_id"], self.order.uuid)
        self.assertEqual(status["payment_id"], answer["payment_id"])
        rest = self.api("GET", path, self.portal_key)
        self.assertEqual(rest.json(), status)
        self.assertEqual(self.order.state, "paid")

    def test_check_status_unknown_or_not_yours(self):
        self.assertRpcError(
            MISSING_ERROR,
            self.omochi_check_status,
            "cs_test_unknown",
            self.user,
            self.user_key,
        )
        for bad in ("not-a-session", "", 42, None, ["cs_test_x"]):
            with self.subTest(session_id=bad):
                self.assertRpcError(
                    USER_ERROR, self.omochi_check_status, bad, self.user, self.user_key
                )
        # another customer's payment is unknown to the portal user
        answer = self.omochi_pay(self.stranger_order, self.user, self.user_key)
        session_id = answer["checkout_session_id"]
        self.assertRpcError(
            MISSING_ERROR,
            self.omochi_check_status,
            session_id,
            self.portal_user,
            self.portal_key,
        )
        rest = self.api(
            "GET",
            f"/api/payments/check_status/?session_id={session_id}",
            self.portal_key,
        )
        self.assertEqual(rest.status_code, 404)
