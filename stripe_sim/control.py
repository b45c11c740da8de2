"""The ``/_sim`` control interface: JSON over HTTP, no authentication.

It lets a process outside the simulator (an end-to-end test, an Odoo server
test) arm faults, read the request log, reset, move the clock and act as the
customer. Bodies are JSON; answers are JSON; errors have Stripe's shape.
"""

from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .errors import StripeError, invalid_request
from .responses import error_response, json_response

if TYPE_CHECKING:
    from .app import SimulatorApp

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
]
FAULT_FIELDS = ("kind", "count", "method", "path", "seconds", "retry_after")


class ControlApi:
    """Dispatches ``/_sim/...`` requests to a :class:`SimulatorApp`."""

    def __init__(self, app: "SimulatorApp"):
        self.app = app
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
        return {"status": "ok", "api_version": self.app.api_version}

    def _reset(self, request, body) -> dict:
        self.app.reset()
        return {"reset": True}

    def _list_faults(self, request, body) -> dict:
        return {"data": [f.to_dict() for f in self.app.faults.list()]}

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
                created.append(self.app.faults.add(**options))
            except (TypeError, ValueError) as exc:
                raise invalid_request(str(exc), "kind") from exc
        return {"data": [f.to_dict() for f in created]}

    def _clear_faults(self, request, body) -> dict:
        return {"cleared": self.app.faults.clear()}

    def _list_requests(self, request, body) -> dict:
        """Query: ``path`` (prefix) and ``method`` filters."""
        records = self.app.request_log.requests_to(
            request.args.get("path", ""), request.args.get("method")
        )
        return {"data": [r.to_dict() for r in records]}

    def _clear_requests(self, request, body) -> dict:
        self.app.request_log.clear()
        return {"cleared": True}

    def _list_events(self, request, body) -> dict:
        """Query: ``type`` filter. Oldest first."""
        wanted = request.args.get("type")
        events = self.app.state.events
        return {"data": [e for e in events if not wanted or e["type"] == wanted]}

    def _get_object(self, request, body, id: str) -> dict:
        return self.app.state.get_object(id)

    def _get_clock(self, request, body) -> dict:
        return {"now": self.app.state.now()}

    def _advance_clock(self, request, body) -> dict:
        """Body: ``{"advance": seconds}``."""
        seconds = body.get("advance")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise invalid_request("'advance' must be a number of seconds >= 0.")
        return {"now": self.app.state.advance_time(seconds)}

    def _complete(self, request, body, id: str) -> dict:
        """Body: ``{"outcome": "paid"|"unpaid"|"failed", "amount_total",
        "currency", "customer_email", "failure_message"}`` (all optional)."""
        return self.app.state.complete_checkout_session(
            id,
            body.get("outcome", "paid"),
            amount_total=body.get("amount_total"),
            currency=body.get("currency"),
            customer_email=body.get("customer_email"),
            failure_message=body.get("failure_message"),
        )

    def _expire_now(self, request, body, id: str) -> dict:
        return {"checkout_session": self.app.state.expire_now(id)}

    def _async_result(self, request, body, id: str) -> dict:
        """Body: ``{"outcome": "succeeded"|"failed"}``."""
        outcome = body.get("outcome", "succeeded")
        if outcome not in ("succeeded", "failed"):
            raise invalid_request("outcome must be 'succeeded' or 'failed'.", "outcome")
        return self.app.state.settle_async_payment(id, outcome == "succeeded")


def _json_body(request: Request):
    """The JSON body (``{}`` when empty); 400 when it is not JSON."""
    if not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise invalid_request("The request body must be JSON.")
    return body
