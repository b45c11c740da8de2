"""In-memory, thread-safe state of the simulated Stripe account.

Objects are stored as the plain dicts Stripe would send (``checkout.session``,
``payment_intent``, ``charge``, ``refund``, ``webhook_endpoint``, ``event``);
readers always get deep copies. Every public method takes the lock, so the
state can be used from the server's request threads and from tests at once.

Methods whose names match API operations validate decoded parameters like Stripe
and raise :class:`~stripe_sim.errors.StripeError`. The ``complete_*``,
``expire_now``, ``settle_async_payment`` and ``advance_time`` methods simulate
what the customer (or time) does; the ``/_sim`` control endpoints call them.

The methods live by resource: :mod:`.sessions` (Checkout Sessions),
:mod:`.payments` (the customer's actions, payment intents, charges),
:mod:`.refunds`, :mod:`.endpoints` (webhook endpoints); :mod:`.params` holds
what the API accepts. This module holds what they share: the lock, the clock,
the objects, listing and expanding them, and the events.
"""

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .endpoints import WebhookEndpoints, event_matches
from .errors import invalid_request, resource_missing
from .ids import new_id
from .params import (
    AUTHENTICATION_FAILURE_MESSAGE,
    CURRENT_REQUEST,
    DECLINE_MESSAGE,
    DEFAULT_API_VERSION,
    EXPANDABLE,
    MISSING_PARAM_NAME,
    created_filter,
    paginate,
)
from .payments import Payments
from .refunds import Refunds
from .sessions import CheckoutSessions
from .validation import expand_list

__all__ = [
    "AUTHENTICATION_FAILURE_MESSAGE",
    "DECLINE_MESSAGE",
    "DEFAULT_API_VERSION",
    "SimulatorState",
    "api_request",
    "event_matches",
]


@contextlib.contextmanager
def api_request(request_id: str, idempotency_key: str | None = None) -> Iterator[None]:
    """Attribute the events emitted inside the block to an API request."""
    token = CURRENT_REQUEST.set({"id": request_id, "idempotency_key": idempotency_key})
    try:
        yield
    finally:
        CURRENT_REQUEST.reset(token)


class SimulatorState(CheckoutSessions, Payments, Refunds, WebhookEndpoints):
    """All objects of one simulated Stripe account, guarded by one lock."""

    def __init__(
        self,
        *,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str = "http://127.0.0.1",
        clock: Callable[[], float] = time.time,
    ):
        self.api_version = api_version
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict], None]] = []
        self.reset()

    # ------------------------------------------------------------------ basics
    def reset(self) -> None:
        """Forget every object, event and time offset."""
        with self._lock:
            self._objects: dict[str, dict] = {}
            self._line_items: dict[str, list[dict]] = {}
            self._webhook_secrets: dict[str, str] = {}
            self._events: list[dict] = []
            self._offset = 0.0

    def now(self) -> int:
        """The simulated current Unix time (real time plus ``advance_time``)."""
        return int(self._clock() + self._offset)

    def advance_time(self, seconds: float) -> int:
        """Move the simulated clock forward; sessions past ``expires_at`` expire."""
        with self._lock:
            self._offset += seconds
            self._expire_due_sessions()
            return self.now()

    def subscribe(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` for each new event (must not block)."""
        with self._lock:
            self._listeners.append(callback)

    @property
    def events(self) -> list[dict]:
        """All events emitted so far, oldest first (copies)."""
        with self._lock:
            self._expire_due_sessions()
            return copy.deepcopy(self._events)

    def get_object(
        self, object_id: str, object_name: str | None = None, expand=()
    ) -> dict:
        """Any stored object by id (a copy), optionally expanded."""
        with self._lock:
            self._expire_due_sessions()
            obj = self._objects.get(object_id)
            if obj is None or (object_name and obj["object"] != object_name):
                name = object_name or "object"
                raise resource_missing(
                    name, object_id, MISSING_PARAM_NAME.get(name, "id")
                )
            return self.expand(obj, expand)

    def list_objects(
        self,
        object_name: str,
        params: dict,
        url: str,
        filters: dict[str, Any] | None = None,
    ) -> dict:
        """A Stripe list (newest first) with ``limit``/``starting_after``/
        ``ending_before``, ``created`` (int or ``gt``/``gte``/``lt``/``lte``),
        ``expand[]=data.x`` and equality ``filters`` on top-level fields."""
        expand = []
        for path in expand_list(params):
            if not path.startswith("data."):
                raise invalid_request(
                    f"This property cannot be expanded ({path}).", "expand"
                )
            expand.append(path[len("data.") :])
        created = created_filter(params.get("created"))
        with self._lock:
            self._expire_due_sessions()
            items = [
                obj
                for obj in reversed(self._objects.values())
                if obj["object"] == object_name
                and created(obj["created"])
                and all(obj.get(k) == v for k, v in (filters or {}).items())
            ]
            page, has_more = paginate(items, params)
            return {
                "object": "list",
                "data": [self.expand(obj, expand) for obj in page],
                "has_more": has_more,
                "url": url,
            }

    def expand(self, obj: dict, paths) -> dict:
        """A copy of ``obj`` with the dotted ``paths`` replaced by objects."""
        with self._lock:
            result = self._public(obj)
            for path in paths:
                self._expand_path(result, path.split("."), path)
            return result

    def _expand_path(self, obj: dict, parts: list[str], path: str) -> None:
        """Expand one dotted path in place."""
        field, rest = parts[0], parts[1:]
        if field not in EXPANDABLE.get(obj.get("object"), ()):
            raise invalid_request(
                f"This property cannot be expanded ({field}).", "expand"
            )
        value = obj.get(field)
        if field == "line_items" and obj.get("object") == "checkout.session":
            value = self._line_item_list(obj["id"], {})
        elif field == "refunds" and obj.get("object") == "charge":
            value = self._refund_list(obj["id"])
        elif isinstance(value, str):
            stored = self._objects.get(value)
            value = self._public(stored) if stored else value
        obj[field] = value
        if rest and isinstance(value, dict):
            self._expand_path(value, rest, path)

    # ------------------------------------------------------------------ helpers
    def _emit(self, event_type: str, obj: dict) -> None:
        """Record a Stripe ``event`` for ``obj`` and notify listeners."""
        request = CURRENT_REQUEST.get() or {"id": None, "idempotency_key": None}
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": {"object": self._public(obj)},
            "livemode": False,
            "pending_webhooks": sum(
                1
                for endpoint, _secret in self.webhook_targets()
                if event_matches(endpoint["enabled_events"], event_type)
            ),
            "request": dict(request),
            "type": event_type,
        }
        self._events.append(event)
        self._objects[event["id"]] = event
        for listener in list(self._listeners):
            listener(copy.deepcopy(event))

    @staticmethod
    def _public(obj: dict) -> dict:
        """A copy of ``obj`` without the simulator's private ``_`` fields."""
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
