"""Webhook delivery: every recorded event is POSTed, signed like Stripe, to each
enabled webhook endpoint whose ``enabled_events`` match (``*`` = all).

* Body: the event object as JSON; headers ``Content-Type: application/json;
  charset=utf-8`` and ``Stripe-Signature: t=<unix>,v1=<hex>`` where ``v1`` is the
  HMAC-SHA256 of ``"<t>.<body>"`` keyed with the endpoint's secret.
* Delivery runs in background threads (one per endpoint, started on demand and
  ending when its queue is empty), never in the API request. Events reach an
  endpoint in the order they were recorded: a failing event is retried before
  the next one is sent.
* A non-2xx answer (redirects included), a timeout or a connection error is
  retried after ``retry_delay`` seconds, doubling up to ``max_delay``, until
  ``max_attempts`` attempts were made. Each attempt is signed afresh with a new
  timestamp (at least one second after the previous attempt's).
* Each attempt is recorded as a :class:`DeliveryAttempt`.
"""

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field

from .state import SimulatorState, event_matches

log = logging.getLogger("stripe_sim.webhooks")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
#: Characters of the receiver's answer kept in a delivery record.
MAX_RESPONSE_BODY = 1000


@dataclass
class DeliveryConfig:
    """Retry policy and timeout of webhook deliveries."""

    retry_delay: float = 1.0
    max_delay: float = 60.0
    max_attempts: int = 8
    timeout: float = 10.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.retry_delay * 2 ** (attempt - 1), self.max_delay)

    def update(self, **options) -> None:
        """Change some settings, validated."""
        for name, value in options.items():
            if name not in ("retry_delay", "max_delay", "max_attempts", "timeout"):
                raise ValueError(f"unknown webhook setting {name!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number")
            if name == "max_attempts" and (int(value) != value or value < 1):
                raise ValueError("max_attempts must be an integer >= 1")
            if value < 0 or (name == "timeout" and value == 0):
                raise ValueError(f"{name} must be positive")
            setattr(self, name, int(value) if name == "max_attempts" else value)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DeliveryAttempt:
    """One POST of an event to an endpoint (or the reason none was made)."""

    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    #: Wall-clock time of the attempt.
    timestamp: float
    #: The ``t`` of the ``Stripe-Signature`` header.
    signed_at: int | None = None
    signature: str | None = None
    #: HTTP status answered, ``None`` when no answer was received.
    status: int | None = None
    #: Connection error, timeout or other reason for failing without a status.
    error: str | None = None
    response_body: str | None = None
    duration: float | None = None
    succeeded: bool = False
    #: Seconds until the next attempt; ``None`` when this one was the last.
    next_retry_in: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Delivery:
    """One event queued for one endpoint."""

    event: dict
    body: bytes
    endpoint_id: str
    url: str
    generation: int
    attempts: int = 0
    last_signed_at: int = 0
    due: float = field(default_factory=time.monotonic)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature`` header value for ``body``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stripe does not follow redirects: a 3xx is a failed delivery."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class WebhookDispatcher:
    """Queues each new event of ``state`` for its endpoints and delivers it."""

    def __init__(self, state: SimulatorState, config: DeliveryConfig | None = None):
        self.state = state
        self.config = config or DeliveryConfig()
        self._cond = threading.Condition()
        self._queues: dict[str, deque[_Delivery]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._attempts: list[DeliveryAttempt] = []
        self._in_flight = 0
        self._generation = 0
        self._closed = False
        state.subscribe(self._on_event)

    # --------------------------------------------------------------- public API
    def deliveries(
        self,
        event_id: str | None = None,
        *,
        event_type: str | None = None,
        url: str | None = None,
        endpoint_id: str | None = None,
    ) -> list[DeliveryAttempt]:
        """Delivery attempts so far, oldest first, optionally filtered."""
        with self._cond:
            return [
                DeliveryAttempt(**a.to_dict())
                for a in self._attempts
                if (event_id is None or a.event_id == event_id)
                and (event_type is None or a.event_type == event_type)
                and (url is None or a.url == url)
                and (endpoint_id is None or a.endpoint_id == endpoint_id)
            ]

    def clear_deliveries(self) -> int:
        """Forget the recorded attempts (queued deliveries continue)."""
        with self._cond:
            count = len(self._attempts)
            self._attempts.clear()
            return count

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self._cond:
            return self._pending()

    def _pending(self) -> int:
        return max(self._in_flight, sum(len(q) for q in self._queues.values()))

    def wait(self, timeout: float | None = 10.0) -> bool:
        """Block until no delivery is queued or in flight (``True``) or until
        ``timeout`` seconds passed (``False``)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending() == 0, timeout)

    def resend(self, event_id: str, endpoint_id: str | None = None) -> int:
        """Queue an existing event again for its matching endpoints (or only
        ``endpoint_id``); returns the number of deliveries queued."""
        event = self.state.get_object(event_id, "event")
        targets = []
        for endpoint, _secret in self.state.webhook_targets():
            wanted = event_matches(endpoint["enabled_events"], event["type"])
            if endpoint["id"] == endpoint_id or (endpoint_id is None and wanted):
                targets.append(endpoint)
        for endpoint in targets:
            self._enqueue(event, endpoint)
        return len(targets)

    def reset(self) -> None:
        """Drop queued deliveries and the attempt log (in-flight attempts finish
        but are neither recorded nor retried)."""
        with self._cond:
            self._generation += 1
            for queue in self._queues.values():
                queue.clear()
            self._attempts.clear()
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering; wait up to ``timeout`` s for the worker threads."""
        with self._cond:
            self._closed = True
            self._generation += 1
            for queue in self._queues.values():
                queue.clear()
            workers = list(self._workers.values())
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    # ----------------------------------------------------------------- internals
    def _on_event(self, event: dict) -> None:
        """State listener (runs under the state's lock: only queue work here)."""
        for endpoint, _secret in self.state.webhook_targets():
            if event_matches(endpoint["enabled_events"], event["type"]):
                self._enqueue(event, endpoint)

    def _enqueue(self, event: dict, endpoint: dict) -> None:
        body = (json.dumps(event, indent=2) + "\n").encode()
        with self._cond:
            if self._closed:
                return
            delivery = _Delivery(
                event=event,
                body=body,
                endpoint_id=endpoint["id"],
                url=endpoint["url"],
                generation=self._generation,
            )
            self._queues.setdefault(endpoint["id"], deque()).append(delivery)
            if endpoint["id"] not in self._workers:
                worker = threading.Thread(
                    target=self._work,
                    args=(endpoint["id"],),
                    name=f"stripe-sim-webhook-{endpoint['id']}",
                    daemon=True,
                )
                self._workers[endpoint["id"]] = worker
                worker.start()
            self._cond.notify_all()

    def _work(self, endpoint_id: str) -> None:
        """Deliver one endpoint's queue in order; end when it is empty."""
        while True:
            with self._cond:
                delivery = self._next_due(endpoint_id)
                if delivery is None:
                    self._workers.pop(endpoint_id, None)
                    self._queues.pop(endpoint_id, None)
                    self._cond.notify_all()
                    return
                self._in_flight += 1
            record = None
            try:
                record = self._attempt(delivery)
            except Exception:  # never let one bad delivery stop the worker
                log.exception("webhook delivery of %s failed", delivery.event["id"])
            with self._cond:
                self._in_flight -= 1
                self._finish(endpoint_id, delivery, record)
                self._cond.notify_all()
            if record is not None and record.succeeded:
                self.state.webhook_delivered(delivery.event["id"])

    def _next_due(self, endpoint_id: str) -> _Delivery | None:
        """Wait (holding the condition) until the queue's head is due; ``None``
        when the queue is empty or the dispatcher closed."""
        while not self._closed:
            queue = self._queues.get(endpoint_id)
            if not queue:
                return None
            delay = queue[0].due - time.monotonic()
            if delay <= 0:
                return queue[0]
            self._cond.wait(delay)
        return None

    def _finish(
        self, endpoint_id: str, delivery: _Delivery, record: "DeliveryAttempt | None"
    ) -> None:
        """Record the attempt; pop the delivery or schedule its retry."""
        queue = self._queues.get(endpoint_id)
        current = delivery.generation == self._generation
        if record is not None and current:
            done = record.succeeded or delivery.attempts >= self.config.max_attempts
            if not done:
                record.next_retry_in = self.config.delay_after(delivery.attempts)
                delivery.due = time.monotonic() + record.next_retry_in
            self._attempts.append(record)
            _log_attempt(record)
        else:
            done = True
        if done and queue and queue[0] is delivery:
            queue.popleft()

    def _attempt(self, delivery: _Delivery) -> DeliveryAttempt | None:
        """POST the event once; ``None`` (nothing recorded) when the endpoint
        was deleted or disabled meanwhile."""
        target = self.state.webhook_target(delivery.endpoint_id)
        if target is None:
            log.info(
                "webhook endpoint %s deleted or disabled: %s not delivered",
                delivery.endpoint_id,
                delivery.event["id"],
            )
            return None
        endpoint, secret = target
        delivery.url = endpoint["url"]
        delivery.attempts += 1
        signed_at = max(int(time.time()), delivery.last_signed_at + 1)
        delivery.last_signed_at = signed_at
        signature = sign(delivery.body, secret, signed_at)
        record = DeliveryAttempt(
            event_id=delivery.event["id"],
            event_type=delivery.event["type"],
            endpoint_id=delivery.endpoint_id,
            url=delivery.url,
            attempt=delivery.attempts,
            timestamp=time.time(),
            signed_at=signed_at,
            signature=signature,
        )
        request = urllib.request.Request(
            delivery.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Stripe-Signature": signature,
                "Cache-Control": "no-cache",
                "Accept": "*/*; q=0.5, application/xml",
            },
        )
        started = time.monotonic()
        try:
            with _OPENER.open(request, timeout=self.config.timeout) as response:
                record.status = response.status
                record.response_body = _read_text(response)
        except urllib.error.HTTPError as error:
            record.status = error.code
            record.response_body = _read_text(error)
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            record.error = f"{type(reason).__name__}: {reason}"
        record.duration = time.monotonic() - started
        record.succeeded = record.status is not None and 200 <= record.status < 300
        return record


def _read_text(response) -> str:
    """The start of a receiver's answer, as text."""
    try:
        data = response.read(MAX_RESPONSE_BODY)
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _log_attempt(record: DeliveryAttempt) -> None:
    outcome = record.status if record.status is not None else record.error
    log.info(
        "webhook %s %s -> %s attempt %d: %s%s",
        record.event_type,
        record.event_id,
        record.url,
        record.attempt,
        outcome,
        f" (retry in {record.next_retry_in:g}s)" if record.next_retry_in else "",
    )
