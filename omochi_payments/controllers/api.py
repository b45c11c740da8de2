"""The REST-style ``/api`` routes of the integration guide (DESIGN §7).

Thin controllers: they authenticate, validate the request, call the model
method that owns the logic, and shape the answer. Every failure answers the §7
error body ``{"error": {"code", "message"}}`` with its status; bad input is
rolled back, so it changes nothing.
"""

import functools
import json
import logging
import uuid

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from ..const import API_MAX_BODY_BYTES, CHECKOUT_SESSION_ID_PATTERN
from ..exceptions import OmochiPaymentError
from ..tools.stripe_gateway import StripeGatewayError

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = API_MAX_BODY_BYTES
CORS_MAX_AGE = 600


class ApiError(Exception):
    """A request the API answers with a §7 error body."""

    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def json_response(body, status=200):
    """Return a JSON response (no caching: answers are per caller)."""
    return request.make_json_response(
        body, status=status, headers=[("Cache-Control", "no-store")]
    )


def error_response(status, code, message, field=None):
    """Return the §7 error body, with the field at fault when there is one."""
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json_response({"error": error}, status=status)


def _cors_headers(origin):
    """Return the CORS headers for a request's ``Origin``: the exact origin
    when it is allowed (FRONTEND_URL or the allow-list), none otherwise."""
    if not origin:
        return {}
    config = request.env.company._omochi_stripe_config()
    if not config.is_origin_allowed(origin):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _preflight_response(methods):
    """Answer a CORS preflight ``OPTIONS`` request."""
    response = request.make_response("", status=204)
    cors_headers = _cors_headers(request.httprequest.headers.get("Origin"))
    if cors_headers:
        response.headers.update(cors_headers)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(
            (*methods, "OPTIONS")
        )
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
    return response


def _authenticate():
    """Make the request run as its caller, or refuse it.

    ``Authorization: Bearer <Odoo API key>`` wins; otherwise a logged-in
    session is accepted, for POSTs only with a JSON body: a browser cannot
    send one cross-site without a CORS preflight, which only allowed origins
    pass (CSRF protection for cookie authentication).

    :raise ApiError: 401 without valid credentials.
    """
    httprequest = request.httprequest
    header = httprequest.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        uid = None
        if scheme.lower() == "bearer" and token:
            uid = request.env["res.users.apikeys"]._check_credentials(
                scope="rpc", key=token
            )
        if not uid:
            raise ApiError(401, "invalid_credentials", "Invalid API key.")
        request.update_env(user=uid)
        return
    if not request.session.uid or request.env.user._is_public():
        raise ApiError(
            401,
            "authentication_required",
            "Authenticate with 'Authorization: Bearer <API key>' or a session.",
        )
    if httprequest.method == "POST" and httprequest.mimetype != "application/json":
        raise ApiError(
            400,
            "unsupported_content_type",
            "Requests authenticated by a session must send Content-Type: "
            "application/json.",
        )


def api_route(route, methods):
    """Declare an ``/api`` route: public, CSRF-free (it authenticates by
    itself), CORS-aware, answering every error with the §7 body."""

    def decorator(handler):
        @http.route(
            route,
            type="http",
            auth="public",
            methods=methods,
            csrf=False,
            save_session=False,
            # Checked by ir.http._pre_dispatch, before the body is parsed.
            max_content_length=MAX_BODY_BYTES,
            omochi_body_limit=True,
        )
        @functools.wraps(handler)
        def endpoint(self, *args, **kwargs):
            if request.httprequest.method == "OPTIONS":
                return _preflight_response(methods)
            response = _dispatch(handler, self, *args, **kwargs)
            response.headers.update(
                _cors_headers(request.httprequest.headers.get("Origin"))
            )
            return response

        return endpoint

    return decorator


def _dispatch(handler, controller, *args, **kwargs):
    """Run an API handler, turning every failure into its §7 answer."""
    try:
        _authenticate()
        return handler(controller, *args, **kwargs)
    except StripeGatewayError as error:
        # Kept: the transaction records the error for a retry.
        return error_response(502, "stripe_unavailable", error.message)
    except ApiError as error:
        failure = (error.status, error.code, error.message, error.field)
    except OmochiPaymentError as error:
        failure = (error.http_status, error.code, error.args[0], error.field)
    except (AccessError, MissingError):
        failure = (404, "not_found", "No such resource.", None)
    request.env.cr.rollback()
    return error_response(*failure)


def json_body(required_fields=()):
    """Return the request's JSON object body (``{}`` when empty and allowed).

    :raise ApiError: 400 when it is not a JSON object or lacks a field.
    """
    httprequest = request.httprequest
    data = httprequest.get_data(cache=True)
    if (httprequest.content_length or data) and (
        httprequest.mimetype != "application/json"
    ):
        raise ApiError(
            400,
            "unsupported_content_type",
            "The body must be JSON, sent with Content-Type: application/json.",
            "body",
        )
    if not data.strip():
        body = {}
    else:
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: nesting too deep for the parser (a few KiB of "[").
            raise ApiError(
                400, "invalid_json", "The body is not valid JSON.", "body"
            ) from None
        if not isinstance(body, dict):
            raise ApiError(
                400, "invalid_json", "The body must be a JSON object.", "body"
            )
    for field in required_fields:
        if field not in body:
            raise ApiError(400, "missing_field", f"'{field}' is required.", field)
    return body


def uuid_value(value, field):
    """Return ``value`` as a canonical UUID string.

    :raise ApiError: 400 naming ``field`` when it is not a UUID string.
    """
    try:
        parsed = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError(400, "invalid_field", f"'{field}' must be a UUID string.", field)
    return str(parsed)


def optional_url(body, field):
    """Return ``body[field]`` when it is a string or absent/null.

    :raise ApiError: 400 when it has another type or is not valid Unicode.
    """
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"'{field}' must be a string.", field)
    if value and not _is_unicode_text(value):
        raise ApiError(
            400, "invalid_field", f"'{field}' must be valid Unicode text.", field
        )
    return value or None


def _is_unicode_text(value):
    """Whether ``value`` is encodable text: JSON's ``\\ud800`` escapes decode
    to lone surrogates, which no URL, database or Stripe request can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class OmochiPaymentsApi(http.Controller):
    """``/api/orders/<uuid>/pay/``, ``/api/payments/create_checkout_session/``,
    ``/api/payments/check_status/``."""

    @api_route("/api/orders/<string:order_uuid>/pay/", methods=["POST"])
    def pay_order(self, order_uuid, **_query):
        """Pay an order: its Checkout Session, new (201) or reused (200)."""
        order_uuid = uuid_value(order_uuid, "order_id")
        return_url = optional_url(json_body(), "return_url")
        return self._pay(order_uuid, return_url)

    @api_route("/api/payments/create_checkout_session/", methods=["POST"])
    def create_checkout_session(self, **_query):
        """Same as ``pay_order``, the order given in the JSON body."""
        body = json_body(required_fields=("order_id",))
        order_uuid = uuid_value(body["order_id"], "order_id")
        return self._pay(order_uuid, optional_url(body, "return_url"))

    @api_route("/api/payments/check_status/", methods=["GET"])
    def check_status(self, session_id=None, **_query):
        """The status of the payment of a Checkout Session, refreshed from
        Stripe while it is not final."""
        if not isinstance(session_id, str) or not CHECKOUT_SESSION_ID_PATTERN.match(
            session_id
        ):
            raise ApiError(
                400,
                "invalid_field",
                "'session_id' must be a Stripe Checkout Session id (cs_...).",
                "session_id",
            )
        transaction = request.env["omochi.payment.transaction"].search(
            [("stripe_checkout_session_id", "=", session_id)], limit=1
        )
        if not transaction:
            raise ApiError(404, "payment_not_found", "No such payment.")
        transaction = transaction.sudo()
        transaction._stripe_refresh_on_request()
        return json_response(transaction._omochi_status_payload())

    def _pay(self, order_uuid, return_url):
        """Create or reuse the Checkout Session of an order the caller sees."""
        order = request.env["omochi.order"].search([("uuid", "=", order_uuid)], limit=1)
        if not order:
            raise ApiError(404, "order_not_found", "No such order.")
        transaction, created = order._omochi_checkout(return_url=return_url)
        return json_response(
            transaction._omochi_checkout_payload(), status=201 if created else 200
        )

    @http.route("/admin/payments/paymenttransaction/", type="http", auth="user")
    def admin_transactions(self, **_query):
        """The guide's admin address: the back-office transactions list."""
        if not request.env.user.has_group("omochi_orders.group_omochi_user"):
            raise request.not_found()
        return request.redirect(
            "/odoo/action-omochi_payments.omochi_payment_transaction_action"
        )
