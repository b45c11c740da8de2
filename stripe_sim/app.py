"""The simulator's WSGI application: Stripe's API under ``/v1``, control under
``/_sim`` (see :mod:`stripe_sim.control`).

Every request outside ``/_sim`` goes through the same pipeline: log it, decode
its parameters, apply an armed fault, authenticate, check ``Stripe-Version``,
route, honour ``Idempotency-Key`` and answer Stripe-shaped JSON with a
``Request-Id`` header.
"""

import base64
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .checkout import PAGE_PREFIX, CheckoutPage
from .control import ControlApi
from .dashboard import DASHBOARD_PREFIX, DashboardPage
from .encoding import ParamDecodeError, parse_query
from .errors import StripeError, invalid_request
from .faults import Fault, FaultInjector
from .idempotency import MAX_KEY_LENGTH, IdempotencyStore, StoredResponse
from .ids import new_id
from .requestlog import RequestLog, RequestRecord
from .responses import error_response, json_response
from .state import DEFAULT_API_VERSION, SimulatorState, api_request
from .validation import check_allowed, expand_list
from .webhooks import DeliveryConfig, WebhookDispatcher

DEFAULT_API_KEY = "sk_test_omochi_simulator"
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z_]+)?$")
CONTROL_PREFIX = "/_sim"


class _Dropped(Exception):
    """Raised to close the connection without an answer."""


class _Delay:
    """An injected latency/timeout, waited out once, where it hurts most."""

    def __init__(self, faults: FaultInjector, fault: Fault | None):
        self._faults = faults
        delayed = fault is not None and fault.kind in ("latency", "timeout")
        self._seconds = (fault.seconds or 0.0) if delayed else None

    def wait(self) -> None:
        """Sleep the first time; raise ``_Dropped`` if woken by a reset."""
        seconds, self._seconds = self._seconds, None
        if seconds is not None and not self._faults.sleep(seconds):
            raise _Dropped


@dataclass
class Call:
    """What a handler needs from the request."""

    params: dict
    base_url: str


def mask_key(key: str) -> str:
    """Mask an API key like Stripe: ``sk_test_****...abcd``."""
    parts = key.split("_")
    prefix = "_".join(parts[:2]) + "_" if len(parts) > 2 else ""
    secret = key[len(prefix) :]
    visible = secret[-4:] if len(secret) > 8 else ""
    return prefix + "*" * (len(secret) - len(visible)) + visible


def unrecognized_url(request: Request) -> StripeError:
    """Stripe's 404 for an unknown route or method."""
    return StripeError(
        f"Unrecognized request URL ({request.method}: {request.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        status=404,
    )


def _routes() -> Map:
    """The ``/v1`` routes; the endpoint is the handler method's name."""
    rules = [
        ("/v1/checkout/sessions", "POST", "create_session"),
        ("/v1/checkout/sessions", "GET", "list_sessions"),
        ("/v1/checkout/sessions/<id>", "GET", "get_session"),
        ("/v1/checkout/sessions/<id>/expire", "POST", "expire_session"),
        ("/v1/checkout/sessions/<id>/line_items", "GET", "list_line_items"),
        ("/v1/payment_intents", "GET", "list_payment_intents"),
        ("/v1/payment_intents/<id>", "GET", "get_payment_intent"),
        ("/v1/charges", "GET", "list_charges"),
        ("/v1/charges/<id>", "GET", "get_charge"),
        ("/v1/refunds", "POST", "create_refund"),
        ("/v1/refunds", "GET", "list_refunds"),
        ("/v1/refunds/<id>", "GET", "get_refund"),
        ("/v1/webhook_endpoints", "POST", "create_webhook_endpoint"),
        ("/v1/webhook_endpoints", "GET", "list_webhook_endpoints"),
        ("/v1/webhook_endpoints/<id>", "GET", "get_webhook_endpoint"),
        ("/v1/webhook_endpoints/<id>", "POST", "update_webhook_endpoint"),
        ("/v1/webhook_endpoints/<id>", "DELETE", "delete_webhook_endpoint"),
        ("/v1/events", "GET", "list_events"),
        ("/v1/events/<id>", "GET", "get_event"),
    ]
    return Map(
        [Rule(path, methods=[m], endpoint=name) for path, m, name in rules],
        strict_slashes=False,
        merge_slashes=False,
    )


class SimulatorApp:
    """The WSGI callable, owning state, faults, request log and idempotency keys."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        api_version: str = DEFAULT_API_VERSION,
        public_url: str | None = None,
        webhooks: Iterable[tuple[str, str | None]] = (),
        state: SimulatorState | None = None,
        delivery: DeliveryConfig | None = None,
    ):
        self.api_keys = list(api_keys or [DEFAULT_API_KEY])
        self.api_version = api_version
        self.public_url = public_url.rstrip("/") if public_url else None
        self.state = state or SimulatorState(api_version=api_version)
        self.faults = FaultInjector()
        self.request_log = RequestLog()
        self.idempotency = IdempotencyStore()
        self.webhooks = list(webhooks)
        self.dispatcher = WebhookDispatcher(self.state, delivery)
        self._routes = _routes()
        self._add_configured_webhooks()
        self.control = ControlApi(self)
        self.checkout = CheckoutPage(self)
        self.dashboard = DashboardPage(self)

    def reset(self) -> None:
        """Forget all objects, requests, faults, idempotency keys and webhook
        deliveries (queued or recorded)."""
        self.faults.clear()
        self.dispatcher.reset()
        self.state.reset()
        self.request_log.clear()
        self.idempotency.clear()
        self._add_configured_webhooks()

    def close(self) -> None:
        """Stop webhook delivery and wake stalled requests."""
        self.dispatcher.close()
        self.faults.clear()

    def _add_configured_webhooks(self) -> None:
        """Register the webhook endpoints given at start-up (``--webhook-url``)."""
        for url, secret in self.webhooks:
            self.state.add_webhook_endpoint(url, secret=secret)

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            response = self.control.dispatch(request)
        elif path.startswith(PAGE_PREFIX + "/"):
            response = self.checkout.dispatch(request)
        elif path.startswith(DASHBOARD_PREFIX + "/"):
            response = self.dashboard.dispatch(request)
        else:
            response = self._serve(request)
        return response(environ, start_response)

    # ----------------------------------------------------------------- pipeline
    def _serve(self, request: Request) -> Response:
        """Log, fault, authenticate, route and answer one request."""
        record = self.request_log.add(self._new_record(request))
        decode_error = self._decode(request, record)
        fault = self.faults.take(request.method, request.path)
        delay = _Delay(self.faults, fault)
        try:
            response = None
            forced = self._fault_error(fault, record) if fault else None
            if forced is not None:
                response = self._error_response(forced, request, record)
            else:
                try:
                    if decode_error:
                        raise invalid_request(str(decode_error), decode_error.param)
                    response = self._api(request, record, delay)
                except StripeError as error:
                    response = self._error_response(error, request, record)
            delay.wait()  # when no handler ran (e.g. 401), delay the answer
        except _Dropped:
            _drop_connection(request.environ)
            record.duration = time.time() - record.timestamp
            return Response(b"", 200)
        self._stamp(response, request, record)
        return response

    @staticmethod
    def _new_record(request: Request) -> RequestRecord:
        """A log record of ``request`` with masked credentials."""
        headers = {}
        for name, value in request.headers.items():
            if name.lower() == "authorization":
                scheme, _, key = value.partition(" ")
                value = f"{scheme} {mask_key(key)}" if key else "****"
            headers[name] = value
        return RequestRecord(
            request_id=new_id("req"),
            method=request.method,
            path=request.path,
            query={},
            form={},
            headers=headers,
            timestamp=time.time(),
        )

    @staticmethod
    def _decode(request: Request, record: RequestRecord) -> ParamDecodeError | None:
        """Decode query string and form body into ``record``."""
        try:
            record.query = parse_query(request.query_string)
            if request.method == "POST":
                record.form = parse_query(request.get_data())
        except ParamDecodeError as error:
            return error
        return None

    def _error_response(
        self, error: StripeError, request: Request, record: RequestRecord
    ) -> Response:
        """The answer of an API error, with its ``request_log_url``: Stripe's
        points at the request in the Dashboard's logs; the simulator's at its
        own request log (``GET /_sim/requests?request_id=``)."""
        base = (self.public_url or request.host_url).rstrip("/")
        error.request_log_url = f"{base}/_sim/requests?request_id={record.request_id}"
        return error_response(error)

    @staticmethod
    def _fault_error(fault: Fault, record: RequestRecord) -> StripeError | None:
        """The error forced by ``fault`` (``None`` for delays); raises
        ``_Dropped`` to close the connection."""
        record.fault = fault.kind
        retry_header = {}
        if fault.should_retry is not None:
            retry_header["Stripe-Should-Retry"] = str(fault.should_retry).lower()
        if fault.kind in ("latency", "timeout"):
            return None
        if fault.kind == "drop_connection":
            raise _Dropped
        if fault.kind == "rate_limit":
            error = StripeError(
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                status=429,
                code="rate_limit",
                headers={"Retry-After": str(fault.retry_after), **retry_header},
            )
        else:
            error = StripeError(
                "Sorry, something went wrong. We've already been notified of the "
                "problem. If you have any questions, we can help at "
                "https://support.stripe.com/.",
                status=500,
                type="api_error",
                headers=retry_header,
            )
        return error

    def _stamp(self, response: Response, request: Request, record) -> None:
        """Add the common headers and record the outcome."""
        response.headers.setdefault("Request-Id", record.request_id)
        version = request.headers.get("Stripe-Version") or self.api_version
        response.headers.setdefault("Stripe-Version", version)
        record.status = response.status_code
        record.duration = time.time() - record.timestamp

    def _api(self, request: Request, record: RequestRecord, delay) -> Response:
        """Authenticate, check the version, route and run the handler (after
        claiming the idempotency key and waiting out an injected delay)."""
        if not request.path.startswith("/v1/"):
            raise unrecognized_url(request)
        record.api_key = self._authenticate(request)
        self._check_version(request)
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            raise unrecognized_url(request) from exc
        handler: Callable[..., dict] = getattr(self, "_" + endpoint)
        base_url = self.public_url or request.host_url.rstrip("/")
        call = Call(params=record.params, base_url=base_url)

        key = request.headers.get("Idempotency-Key")
        event_key = key if request.method == "POST" else None

        def run() -> dict:
            delay.wait()
            with api_request(record.request_id, event_key):
                return handler(call, **args)

        if request.method == "POST" and key:
            return self._idempotent(key, request, record, run)
        return json_response(run())

    def _authenticate(self, request: Request) -> str:
        """The API key of ``request``; 401 unless it is a configured key."""
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        key = credentials.strip()
        if scheme.lower() == "basic" and key:
            decoded = base64.b64decode(key + "==").decode("utf-8", "replace")
            key = decoded.partition(":")[0]
        elif scheme.lower() != "bearer":
            key = ""
        if key in self.api_keys:
            return key
        if not key:
            message = (
                "You did not provide an API key. You need to provide your API key "
                "in the Authorization header, using Bearer auth (e.g. "
                "'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can "
                "help at https://support.stripe.com/."
            )
        elif key.startswith("pk_"):
            message = (
                "This API call cannot be made with a publishable API key. Please "
                "use a secret API key. You can find a list of your API keys at "
                "https://dashboard.stripe.com/account/apikeys."
            )
        else:
            message = f"Invalid API Key provided: {mask_key(key)}"
        raise StripeError(
            message, status=401, headers={"WWW-Authenticate": 'Basic realm="Stripe"'}
        )

    @staticmethod
    def _check_version(request: Request) -> None:
        """Refuse a malformed ``Stripe-Version`` header like Stripe does."""
        version = request.headers.get("Stripe-Version")
        if version is not None and not API_VERSION.match(version):
            raise invalid_request(f"Invalid Stripe API version: {version}")

    def _idempotent(
        self,
        key: str,
        request: Request,
        record: RequestRecord,
        run: Callable[[], dict],
    ) -> Response:
        """Run a POST under Stripe's idempotency rules for ``key``."""
        if len(key) > MAX_KEY_LENGTH:
            raise invalid_request(
                f"The Idempotency-Key header can be at most {MAX_KEY_LENGTH} "
                "characters long.",
                code="idempotency_key_in_use",
            )
        scope = (record.api_key or "", key)
        fingerprint = IdempotencyStore.fingerprint(
            request.method, request.path, record.params
        )
        outcome, stored = self.idempotency.begin(scope, request.path, fingerprint)
        if outcome == "replay":
            record.replayed = True
            response = Response(stored.body, stored.status, stored.headers)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        if outcome != "new":
            raise _idempotency_error(outcome, key, stored)
        try:
            response = json_response(run())
        except StripeError as error:
            response = self._error_response(error, request, record)
        except BaseException:
            self.idempotency.release(scope)
            raise
        response.headers["Idempotency-Key"] = key
        if response.status_code < 400 or response.status_code == 402:
            self._stamp(response, request, record)
            saved = StoredResponse(
                response.status_code, response.get_data(), list(response.headers)
            )
            self.idempotency.finish(scope, saved)
        else:  # validation failed: Stripe saves nothing for the key
            self.idempotency.release(scope)
        return response

    # ----------------------------------------------------------------- handlers
    def _create_session(self, call: Call) -> dict:
        return self.state.create_checkout_session(call.params, call.base_url)

    def _list_sessions(self, call: Call) -> dict:
        return self._list(
            call, "checkout.session", "/v1/checkout/sessions", ["payment_intent"]
        )

    def _get_session(self, call: Call, id: str) -> dict:
        return self._get(call, id, "checkout.session")

    def _expire_session(self, call: Call, id: str) -> dict:
        check_allowed(call.params, ["expand"])
        self.state.expire_checkout_session(id)
        return self.state.get_checkout_session(id, expand_list(call.params))

    def _list_line_items(self, call: Call, id: str) -> dict:
        check_allowed(call.params, ["limit", "starting_after", "ending_before"])
        return self.state.list_line_items(id, call.params)

    def _list_payment_intents(self, call: Call) -> dict:
        return self._list(call, "payment_intent", "/v1/payment_intents")

    def _get_payment_intent(self, call: Call, id: str) -> dict:
        return self._get(call, id, "payment_intent", ["client_secret"])

    def _list_charges(self, call: Call) -> dict:
        return self._list(call, "charge", "/v1/charges", ["payment_intent"])

    def _get_charge(self, call: Call, id: str) -> dict:
        return self._get(call, id, "charge")

    def _create_refund(self, call: Call) -> dict:
        return self.state.create_refund(call.params)

    def _list_refunds(self, call: Call) -> dict:
        return self._list(call, "refund", "/v1/refunds", ["payment_intent", "charge"])

    def _get_refund(self, call: Call, id: str) -> dict:
        return self._get(call, id, "refund")

    def _create_webhook_endpoint(self, call: Call) -> dict:
        return self.state.create_webhook_endpoint(call.params)

    def _list_webhook_endpoints(self, call: Call) -> dict:
        return self._list(call, "webhook_endpoint", "/v1/webhook_endpoints")

    def _get_webhook_endpoint(self, call: Call, id: str) -> dict:
        return self._get(call, id, "webhook_endpoint")

    def _update_webhook_endpoint(self, call: Call, id: str) -> dict:
        return self.state.update_webhook_endpoint(id, call.params)

    def _delete_webhook_endpoint(self, call: Call, id: str) -> dict:
        check_allowed(call.params, [])
        return self.state.delete_webhook_endpoint(id)

    def _list_events(self, call: Call) -> dict:
        return self._list(call, "event", "/v1/events", ["type"])

    def _get_event(self, call: Call, id: str) -> dict:
        return self._get(call, id, "event")

    def _get(self, call: Call, object_id: str, object_name: str, extra=()) -> dict:
        """Retrieve one object; only ``expand`` (and ``extra``) are allowed."""
        check_allowed(call.params, ["expand", *extra])
        return self.state.get_object(object_id, object_name, expand_list(call.params))

    def _list(self, call: Call, object_name: str, url: str, filters=()) -> dict:
        """List objects with pagination and equality ``filters``."""
        check_allowed(
            call.params,
            ["limit", "starting_after", "ending_before", "expand", "created", *filters],
        )
        chosen = {k: call.params[k] for k in filters if call.params.get(k)}
        return self.state.list_objects(object_name, call.params, url, chosen)


def _idempotency_error(outcome: str, key: str, first_path: str | None):
    """The error for a key reused concurrently, on another path or with
    other parameters."""
    if outcome == "in_flight":
        return StripeError(
            "There is currently another in-progress request using this "
            f"Idempotent Key (that probably means you submitted twice, and the "
            f"other request is still going through): {key}. Please try again later.",
            status=409,
            type="idempotency_error",
        )
    if outcome == "path_mismatch":
        return StripeError(
            "Keys for idempotent requests can only be used for the same endpoint "
            f"they were first used for ('{first_path}'). Try using a key other "
            f"than '{key}' if you meant to execute a different request.",
            type="idempotency_error",
        )
    return StripeError(
        "Keys for idempotent requests can only be used with the same parameters "
        f"they were first used with. Try using a key other than '{key}' if you "
        "meant to execute a different request.",
        type="idempotency_error",
    )


def _drop_connection(environ) -> None:
    """Close the client's connection without an answer (werkzeug's server).

    The later attempt to write the response then fails quietly inside werkzeug
    (it treats a broken pipe as a client that went away).
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
