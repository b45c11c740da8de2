"""The OpenAPI 3.1 document of the ``/api`` routes (``static/openapi.json``).

The document must be valid OpenAPI 3.1, be served at ``/api/openapi.json``
as kept in the addon, and describe what the routes really answer: every
answer below (successes and each error, produced for real through Odoo's HTTP
stack, the API keys and the Stripe simulator) must have a status the
document lists for its operation, with a body valid against the documented
schema; and every documented status of an operation must be reachable.
"""

import json
import re
import time
import uuid
from pathlib import Path

from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..tools.stripe_signature import signature_header
from .common import OmochiPaymentsCase, StripeSimulatorMixin

DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "static" / "openapi.json"
DOCUMENT_URI = "urn:omochi-payments:openapi"
PAY = "/api/orders/{order_id}/pay/"
CREATE = "/api/payments/create_checkout_session/"
STATUS = "/api/payments/check_status/"
WEBHOOK = "/api/payments/webhook/"
OPENAPI = "/api/openapi.json"
SESSIONS = "/v1/checkout/sessions"
FRONTEND_ORIGIN = "http://localhost:3000"
WEBHOOK_SECRET = "whsec_omochi_openapi_test_0123456789"
TOO_LARGE = "x" * (64 * 1024 + 1)
QUIET = (
    "odoo.addons.omochi_payments.controllers.webhook",
    "odoo.addons.omochi_payments.models.omochi_payment_event",
    "odoo.addons.omochi_payments.models.omochi_payment_transaction",
    "odoo.addons.omochi_payments.tools.stripe_gateway",
)


def load_document():
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def escape(token):
    """Escape a JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


@tagged("post_install", "-at_install")
class TestOpenApi(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.document = load_document()
        cls.schema_registry = Registry().with_resource(
            DOCUMENT_URI, Resource(contents=cls.document, specification=DRAFT202012)
        )
        apikeys = cls.env["res.users.apikeys"].with_user(cls.user).sudo()
        cls.key = apikeys._generate("rpc", "openapi", None)
        cls.env["res.company"].search([]).omochi_stripe_webhook_secret = False
        cls.env.company.omochi_stripe_webhook_secret = WEBHOOK_SECRET

    def setUp(self):
        super().setUp()
        # (path template, method) -> the statuses answered by this test
        self.answered = {}

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def resolve(self, pointer):
        """Return ``(object, pointer)`` at a local JSON pointer of the document,
        following ``$ref``."""
        node = self.document
        for token in pointer.lstrip("#/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        if "$ref" in node:
            return self.resolve(node["$ref"])
        return node, pointer

    def assertConforms(self, response, template, method):
        """Assert that ``response`` is documented for the operation: its status
        is listed, its content type and body match the documented ones."""
        self.assertNotEqual(response.status_code, 500, response.text)
        method = method.lower()
        operation_pointer = f"#/paths/{escape(template)}/{method}"
        operation, _ = self.resolve(operation_pointer)
        status = str(response.status_code)
        self.assertIn(
            status,
            operation["responses"],
            f"{method.upper()} {template} answered an undocumented {status}: "
            f"{response.text[:500]}",
        )
        documented, pointer = self.resolve(f"{operation_pointer}/responses/{status}")
        content = documented.get("content")
        if not content:
            self.assertEqual(response.content, b"", f"{status} has no body")
            return None
        mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
        self.assertIn(mimetype, content, f"undocumented Content-Type {mimetype}")
        schema_ref = f"{DOCUMENT_URI}{pointer}/content/{escape(mimetype)}/schema"
        validator = Draft202012Validator(
            {"$ref": schema_ref},
            registry=self.schema_registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        body = response.json()
        errors = [
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(body)
        ]
        self.assertFalse(errors, f"{method.upper()} {template} {status}: {body}")
        for name, header in documented.get("headers", {}).items():
            if name in response.headers and "$ref" in header:
                header, _ = self.resolve(header["$ref"])
            if name in response.headers and "const" in header["schema"]:
                self.assertEqual(response.headers[name], header["schema"]["const"])
        return body

    def call(
        self,
        method,
        template,
        path_params=None,
        *,
        body=None,
        data=None,
        key=True,
        headers=None,
        query=None,
    ):
        """Send a request to a documented route; check and record the answer."""
        headers = dict(headers or {})
        if key is True:
            key = self.key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        path = template.format(**(path_params or {}))
        response = self.opener.request(
            method,
            self.base_url() + path,
            params=query,
            data=data,
            headers=headers,
            timeout=60,
            allow_redirects=False,
        )
        answer = self.assertConforms(response, template, method)
        self.answered.setdefault((template, method.lower()), set()).add(
            response.status_code
        )
        return response, answer

    def assertAllStatusesAnswered(self, template, method):
        """Every status the document lists for the operation was answered."""
        documented = set(self.document["paths"][template][method]["responses"])
        answered = {str(s) for s in self.answered.get((template, method), ())}
        self.assertEqual(answered, documented, f"{method.upper()} {template}")

    def assertError(self, answer, code, field=None):
        self.assertEqual(answer["error"]["code"], code, answer)
        self.assertEqual(answer["error"].get("field"), field, answer)

    def draft_order(self):
        return self.env["omochi.order"].create(
            {
                "partner_id": self.customer_contact.id,
                "currency_id": self.currency_eur.id,
                "line_ids": [(0, 0, {"name": "Mochi", "price_unit": 3.0})],
            }
        )

    # ------------------------------------------------------------------
    # The document
    # ------------------------------------------------------------------

    def test_document_is_valid_openapi_31(self):
        validate(self.document, cls=OpenAPIV31SpecValidator)
        self.assertRegex(self.document["openapi"], r"^3\.1\.\d+$")
        self.assertEqual([s["url"] for s in self.document["servers"]], ["/"])
        text = DOCUMENT_PATH.read_text(encoding="utf-8")
        self.assertEqual(
            text, json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"
        )
        schemes = self.document["components"]["securitySchemes"]
        self.assertEqual(schemes["bearerApiKey"]["scheme"], "bearer")
        self.assertEqual(
            (schemes["sessionCookie"]["in"], schemes["sessionCookie"]["name"]),
            ("cookie", "session_id"),
        )

    def test_document_is_served(self):
        response, answer = self.call("GET", OPENAPI, key=None)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/json")
        self.assertEqual(response.content, DOCUMENT_PATH.read_bytes())
        self.assertEqual(answer, self.document)
        self.assertAllStatusesAnswered(OPENAPI, "get")

    def test_every_api_route_is_documented(self):
        """The controllers' ``/api`` routes are the document's paths, with their
        declared methods; Odoo also routes OPTIONS to each of them, which the
        routes of the integration guide and this document's answer as a CORS
        preflight (documented ``options`` operations)."""

        def shape(path):
            return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

        ir_http = self.env["ir.http"]
        modules = sorted(self.env.registry._init_modules)
        routes = {}
        for url, endpoint in ir_http._generate_routing_rules(
            modules, ir_http._get_converters()
        ):
            if url.startswith("/api/"):
                methods = {m.lower() for m in endpoint.routing["methods"]}
                routes.setdefault(shape(url), set()).update(methods)
        documented = {
            shape(path): set(item) - {"parameters", "options"}
            for path, item in self.document["paths"].items()
        }
        self.assertEqual(routes, documented)
        for path in (PAY, CREATE, STATUS, OPENAPI):
            self.assertIn("options", self.document["paths"][path])

    # ------------------------------------------------------------------
    # Real answers of each operation
    # ------------------------------------------------------------------

    def _check_pay_operation(self, template, pay):
        """The statuses of a pay route; ``pay(order_uuid, **kwargs)`` calls it."""
        order = self._create_order(self.customer_contact, price_unit=12.5)
        response, created = pay(order.uuid)
        self.assertEqual(response.status_code, 201)
        response, reused = pay(order.uuid)
        self.assertEqual((response.status_code, reused), (200, created))
        # 400: bad JSON, wrong types, not a UUID, not JSON, foreign return_url
        for data, code, field in (
            ('{"order_id": ', "invalid_json", "body"),
            ("[]", "invalid_json", "body"),
        ):
            response, answer = pay(order.uuid, data=data)
            self.assertEqual(response.status_code, 400)
            self.assertError(answer, code, field)
        response, answer = pay(order.uuid, extra={"return_url": 5})
        self.assertError(answer, "invalid_field", "return_url")
        response, answer = pay("not-a-uuid")
        self.assertEqual(response.status_code, 400)
        self.assertError(answer, "invalid_field", "order_id")
        response, answer = pay(
            order.uuid, extra={"return_url": "https://evil.example.com/x"}
        )
        self.assertEqual(response.status_code, 400)
        self.assertError(answer, "return_url_not_allowed", "return_url")
        response, answer = pay(order.uuid, headers={"Content-Type": "text/plain"})
        self.assertEqual(response.status_code, 400)
        self.assertError(answer, "unsupported_content_type", "body")
        # 401
        response, answer = pay(order.uuid, key=None)
        self.assertEqual(response.status_code, 401)
        self.assertError(answer, "authentication_required")
        response, answer = pay(order.uuid, key="not-a-key")
        self.assertError(answer, "invalid_credentials")
        # 404: unknown, and another customer's order for a portal key
        response, answer = pay(str(uuid.uuid4()))
        self.assertEqual(response.status_code, 404)
        self.assertError(answer, "order_not_found")
        portal_key = (
            self.env["res.users.apikeys"]
            .with_user(self.portal_user)
            .sudo()
            ._generate("rpc", "openapi portal", None)
        )
        response, answer = pay(self.stranger_order.uuid, key=portal_key)
        self.assertEqual(response.status_code, 404)
        # 409
        response, answer = pay(self.draft_order().uuid)
        self.assertEqual(response.status_code, 409)
        self.assertError(answer, "order_not_payable")
        # 413
        response, answer = pay(order.uuid, extra={"padding": TOO_LARGE})
        self.assertEqual(response.status_code, 413)
        self.assertError(answer, "body_too_large")
        # 502: Stripe answers 500 to every session creation
        self.inject_fault("server_error", count=None, method="POST", path=SESSIONS)
        with mute_logger(*QUIET):
            response, answer = pay(self._create_order(self.customer_contact).uuid)
        self.assertEqual(response.status_code, 502)
        self.assertError(answer, "stripe_unavailable")
        self.simulator("DELETE", "faults")
        self.assertAllStatusesAnswered(template, "post")

    def test_pay_order_answers(self):
        def pay(order_uuid, extra=None, **kwargs):
            if "data" not in kwargs and "body" not in kwargs:
                kwargs["body"] = extra or {}
            return self.call("POST", PAY, {"order_id": order_uuid}, **kwargs)

        self._check_pay_operation(PAY, pay)
        # An empty body is allowed on this route.
        order = self._create_order(self.customer_contact)
        response, _ = self.call("POST", PAY, {"order_id": order.uuid})
        self.assertEqual(response.status_code, 201)

    def test_create_checkout_session_answers(self):
        def pay(order_uuid, extra=None, **kwargs):
            if "data" not in kwargs and "body" not in kwargs:
                kwargs["body"] = {"order_id": order_uuid, **(extra or {})}
            return self.call("POST", CREATE, **kwargs)

        self._check_pay_operation(CREATE, pay)
        for body, code in (
            ({}, "missing_field"),
            ({"order_id": 5}, "invalid_field"),
            ({"order_id": None}, "invalid_field"),
        ):
            response, answer = self.call("POST", CREATE, body=body)
            self.assertEqual(response.status_code, 400)
            self.assertError(answer, code, "order_id")

    def test_check_status_answers(self):
        order = self._create_order(self.customer_contact, price_unit=10.5)
        _response, created = self.call("POST", PAY, {"order_id": order.uuid}, body={})
        session_id = created["checkout_session_id"]

        response, pending = self.call("GET", STATUS, query={"session_id": session_id})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            (pending["status"], pending["amount"], pending["error_message"]),
            ("PENDING", "21.00", None),
        )
        self.complete_session(session_id, "failed", failure_message="Declined.")
        self.forget_refresh_claims()
        response, failed = self.call("GET", STATUS, query={"session_id": session_id})
        self.assertEqual(
            (failed["status"], failed["error_message"]), ("FAILED", "Declined.")
        )
        self.complete_session(session_id)
        self.forget_refresh_claims()
        _response, completed = self.call(
            "GET", STATUS, query={"session_id": session_id}
        )
        self.assertEqual(completed["status"], "COMPLETED")
        # A JPY payment: no decimals.
        jpy = self.env.ref("base.JPY")
        jpy.active = True
        yen_order = self._create_order(
            self.customer_contact, price_unit=6200, currency_id=jpy.id
        )
        _response, yen = self.call("POST", PAY, {"order_id": yen_order.uuid}, body={})
        _response, answer = self.call(
            "GET", STATUS, query={"session_id": yen["checkout_session_id"]}
        )
        self.assertEqual((answer["amount"], answer["currency"]), ("12400", "JPY"))

        for query in ({}, {"session_id": "pi_123"}, {"session_id": "cs_" + "a" * 251}):
            response, answer = self.call("GET", STATUS, query=query)
            self.assertEqual(response.status_code, 400)
            self.assertError(answer, "invalid_field", "session_id")
        response, answer = self.call(
            "GET", STATUS, query={"session_id": session_id}, key=None
        )
        self.assertEqual(response.status_code, 401)
        response, answer = self.call(
            "GET", STATUS, query={"session_id": "cs_test_unknown"}
        )
        self.assertEqual(response.status_code, 404)
        self.assertError(answer, "payment_not_found")
        response, answer = self.call(
            "GET", STATUS, query={"session_id": session_id}, data=TOO_LARGE
        )
        self.assertEqual(response.status_code, 413)
        self.assertAllStatusesAnswered(STATUS, "get")

    def test_preflights(self):
        order_uuid = self.order.uuid
        preflight, _ = self.resolve("#/components/responses/Preflight")
        documented = {name.lower() for name in preflight["headers"]}
        for template, params, method in (
            (PAY, {"order_id": order_uuid}, "POST"),
            (PAY, {"order_id": "not-a-uuid"}, "POST"),
            (CREATE, None, "POST"),
            (STATUS, None, "GET"),
            (OPENAPI, None, "GET"),
        ):
            for origin in (FRONTEND_ORIGIN, "https://evil.example.com", None):
                with self.subTest(template=template, origin=origin):
                    headers = {"Access-Control-Request-Method": method}
                    if origin:
                        headers["Origin"] = origin
                    response, _ = self.call(
                        "OPTIONS", template, params, key=None, headers=headers
                    )
                    self.assertEqual(response.status_code, 204)
                    cors = {
                        name.lower()
                        for name in response.headers
                        if name.lower().startswith("access-control-")
                    }
                    if origin == FRONTEND_ORIGIN:
                        self.assertEqual(
                            response.headers["Access-Control-Allow-Origin"], origin
                        )
                        self.assertLessEqual(cors, documented)
                    else:
                        self.assertEqual(cors, set())
            self.assertAllStatusesAnswered(template, "options")

    def test_webhook_answers(self):
        def deliver(payload, header=None):
            headers = {"Content-Type": "application/json"}
            headers["Stripe-Signature"] = header or signature_header(
                payload, WEBHOOK_SECRET
            )
            with mute_logger(*QUIET):
                return self.call(
                    "POST", WEBHOOK, key=None, data=payload, headers=headers
                )

        event = {
            "id": f"evt_1{uuid.uuid4().hex[:23]}",
            "object": "event",
            "created": int(time.time()),
            "type": "customer.created",
            "data": {"object": {"id": "cus_openapi", "object": "customer"}},
        }
        payload = json.dumps(event).encode()
        response, answer = deliver(payload)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(answer, {"received": True, "duplicate": False})
        response, answer = deliver(payload)
        self.assertEqual(answer["duplicate"], True)

        response, answer = deliver(payload, header="t=1,v1=00")
        self.assertEqual(response.status_code, 400)
        self.assertError(answer, "invalid_signature")
        response, answer = deliver(b'{"id": "evt_1", "type": 5}')
        self.assertEqual(response.status_code, 400)
        self.assertError(answer, "invalid_payload")
        response, answer = deliver(b"x" * (256 * 1024 + 1), header="t=1,v1=00")
        self.assertEqual(response.status_code, 413)
        self.assertError(answer, "body_too_large")
        self.assertAllStatusesAnswered(WEBHOOK, "post")
