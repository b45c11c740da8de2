"""The ``/_sim`` control interface: JSON over HTTP, no authentication.

It lets a process outside the simulator (an end-to-end test, an Odoo server
test) arm faults, read the request log, reset, move the clock and act as the
customer. Bodies are JSON; answers are JSON; errors have Stripe's shape.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .errors import StripeError, invalid_request
from .responses import error_response, json_response

if TYPE_CHECKING:
    from .faults import FaultInjector
    from .requestlog import RequestLog
    from .state import SimulatorState
    from .webhooks import WebhookDispatcher

ROUTES = [
    ("/_sim/health", "GET", "health"),
    ("/_sim/reset", "POST", "reset"),
    ("/_sim/faults", "GET", "list_faults"),
    ("/_sim/faults", "POST", "add_faults"),
    ("/_sim/faults", "DELETE", "clear_faults"),
    ("/_sim/requests", "GET", "list_requests"),
    ("/_sim/requests", "DELETE", "clear_requests"),
    ("/_sim/events", "GET", "list_events"),
    ("/_sim/objects/<id>", "GET", "get_object"),
    ("/_sim/clock", "GET", "get_clock"),
    ("/_sim/clock", "POST", "advance_clock"),
    ("/_sim/checkout/sessions/<id>/complete", "POST", "complete"),
    ("/_sim/checkout/sessions/<id>/expire_now", "POST", "expire_now"),
    ("/_sim/checkout/sessions/<id>/async_result", "POST", "async_result"),
    ("/_sim/checkout/sessions/<id>/authenticate", "POST", "authenticate"),
    ("/_sim/deliveries", "GET", "list_deliveries"),
    ("/_sim/deliveries", "DELETE", "clear_deliveries"),
    ("/_sim/webhooks", "GET", "webhook_settings"),
    ("/_sim/webhooks", "POST", "update_webhook_settings"),
    ("/_sim/webhooks/flush", "POST", "flush_webhooks"),
    ("/_sim/events/<id>/resend", "POST", "resend_event"),
]
#: Longest wait ``POST /_sim/webhooks/flush`` accepts, in seconds.
MAX_FLUSH_TIMEOUT = 300
FAULT_FIELDS = ("kind", "count", "method", "path", "seconds", "retry_after")


class ControlApi:
    """Dispatches ``/_sim/...`` requests to the simulator's parts: its
    ``state``, ``faults``, ``request_log`` and webhook ``dispatcher``;
    ``reset`` forgets everything (the app's, which knows all the parts)."""

    def __init__(
        self,
        *,
        state: "SimulatorState",
        faults: "FaultInjector",
        request_log: "RequestLog",
        dispatcher: "WebhookDispatcher",
        api_version: str,
        reset: Callable[[], None],
    ):
        self.state = state
        self.faults = faults
        self.request_log = request_log
        self.dispatcher = dispatcher
        self.api_version = api_version
        self.reset = reset
        self._routes = Map(
            [Rule(path, methods=[m], endpoint=name) for path, m, name in ROUTES],
            strict_slashes=False,
        )

    def dispatch(self, request: Request) -> Response:
        """Answer one control request."""
        try:
            adapter = self._routes.bind_to_environ(request.environ)
            try:
                endpoint, args = adapter.match()
            except HTTPException as exc:
                raise StripeError(
                    f"Unknown control route {request.method} {request.path}",
                    status=404,
                ) from exc
            body = _json_body(request)
            result = getattr(self, "_" + endpoint)(request, body, **args)
            return json_response(result)
        except StripeError as error:
            return error_response(error)

    def _health(self, request, body) -> dict:
        return {"status": "ok", "api_version": self.api_version}

    def _reset(self, request, body) -> dict:
        self.reset()
        return {"reset": True}

    def _list_faults(self, request, body) -> dict:
        return {"data": [f.to_dict() for f in self.faults.list()]}

    def _add_faults(self, request, body) -> dict:
        """Body: one fault ``{"kind", "count", "method", "path", "seconds",
        "retry_after", "should_retry"}`` or ``{"faults": [...]}``."""
        specs = body.get("faults", [body]) if isinstance(body, dict) else body
        created = []
        for spec in specs:
            if not isinstance(spec, dict) or "kind" not in spec:
                raise invalid_request("Each fault needs a 'kind'.", "kind")
            options = {k: spec[k] for k in FAULT_FIELDS if k in spec}
            if "should_retry" in spec:
                options["should_retry"] = spec["should_retry"]
            try:
                created.append(self.faults.add(**options))
            except (TypeError, ValueError) as exc:
                raise invalid_request(str(exc), "kind") from exc
        return {"data": [f.to_dict() for f in created]}

    def _clear_faults(self, request, body) -> dict:
        return {"cleared": self.faults.clear()}

    def _list_requests(self, request, body) -> dict:
        """Query: ``path`` (prefix), ``method`` and ``request_id`` filters."""
        records = self.request_log.requests_to(
            request.args.get("path", ""), request.args.get("method")
        )
        request_id = request.args.get("request_id")
        if request_id:
            records = [r for r in records if r.request_id == request_id]
        return {"data": [r.to_dict() for r in records]}

    def _clear_requests(self, request, body) -> dict:
        self.request_log.clear()
        return {"cleared": True}

    def _list_events(self, request, body) -> dict:
        """Query: ``type`` filter. Oldest first."""
        wanted = request.args.get("type")
        events = self.state.events
        return {"data": [e for e in events if not wanted or e["type"] == wanted]}

    def _get_object(self, request, body, id: str) -> dict:
        return self.state.get_object(id)

    def _get_clock(self, request, body) -> dict:
        return {"now": self.state.now()}

    def _advance_clock(self, request, body) -> dict:
        """Body: ``{"advance": seconds}``."""
        seconds = body.get("advance")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise invalid_request("'advance' must be a number of seconds >= 0.")
        return {"now": self.state.advance_time(seconds)}

    def _complete(self, request, body, id: str) -> dict:
        """Body: ``{"outcome": "paid"|"unpaid"|"failed", "amount_total",
        "currency", "customer_email", "failure_message"}`` (all optional)."""
        return self.state.complete_checkout_session(
            id,
            body.get("outcome", "paid"),
            amount_total=body.get("amount_total"),
            currency=body.get("currency"),
            customer_email=body.get("customer_email"),
            failure_message=body.get("failure_message"),
        )

    def _expire_now(self, request, body, id: str) -> dict:
        return {"checkout_session": self.state.expire_now(id)}

    def _async_result(self, request, body, id: str) -> dict:
        """Body: ``{"outcome": "succeeded"|"failed"}``."""
        outcome = body.get("outcome", "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise invalid_request("outcome must be 'succeeded' or 'failed'.", "outcome")
        return self.state.settle_async_payment(id, outcome == "succeeded")

    def _authenticate(self, request, body, id: str) -> dict:
        """Body: ``{"action": "approve"|"fail"}`` for a session whose card asked
        for 3-D Secure on the hosted page."""
        action = body.get("action", "approve")
        if action not in ("approve", "fail"):
            raise invalid_request("action must be 'approve' or 'fail'.", "action")
        return self.state.authenticate_checkout_session(id, action == "approve")

    def _list_deliveries(self, request, body) -> dict:
        """Query filters: ``event_id``, ``type``, ``url``, ``endpoint``."""
        args = request.args
        attempts = self.dispatcher.deliveries(
            args.get("event_id"),
            event_type=args.get("type"),
            url=args.get("url"),
            endpoint_id=args.get("endpoint"),
        )
        return {
            "data": [a.to_dict() for a in attempts],
            "pending": self.dispatcher.pending,
        }

    def _clear_deliveries(self, request, body) -> dict:
        return {"cleared": self.dispatcher.clear_deliveries()}

    def _webhook_settings(self, request, body) -> dict:
        dispatcher = self.dispatcher
        endpoints = [
            {k: endpoint[k] for k in ("id", "url", "enabled_events")}
            for endpoint, _secret in self.state.webhook_targets()
        ]
        return {
            **dispatcher.config.to_dict(),
            "pending": dispatcher.pending,
            "endpoints": endpoints,
        }

    def _update_webhook_settings(self, request, body) -> dict:
        """Body: any of ``retry_delay``, ``max_delay``, ``max_attempts``,
        ``timeout``."""
        if not isinstance(body, dict):
            raise invalid_request("The body must be a JSON object.")
        try:
            self.dispatcher.config.update(**body)
        except (TypeError, ValueError) as exc:
            raise invalid_request(str(exc)) from exc
        return self._webhook_settings(request, body)

    def _flush_webhooks(self, request, body) -> dict:
        """Body: ``{"timeout": seconds}`` (default 10). Waits until no delivery
        is queued or in flight: ``{"idle": true|false, "pending": n}``."""
        timeout = body.get("timeout", 10) if isinstance(body, dict) else 10
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise invalid_request("'timeout' must be a number of seconds.", "timeout")
        if not 0 <= timeout <= MAX_FLUSH_TIMEOUT:
            raise invalid_request(
                f"'timeout' must be between 0 and {MAX_FLUSH_TIMEOUT}.", "timeout"
            )
        idle = self.dispatcher.wait(timeout)
        return {"idle": idle, "pending": self.dispatcher.pending}

    def _resend_event(self, request, body, id: str) -> dict:
        """Body: ``{"endpoint": "we_..."}`` (optional): queue the event again."""
        endpoint = body.get("endpoint") if isinstance(body, dict) else None
        return {"queued": self.dispatcher.resend(id, endpoint)}


def _json_body(request: Request):
    """The JSON body (``{}`` when empty); 400 when it is not JSON."""
    if not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise invalid_request("The request body must be JSON.")
    return body
