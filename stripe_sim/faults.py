"""Fault injection: make the next N matching requests fail in chosen ways.

Kinds:

* ``latency``: sleep ``seconds`` (default 1), then answer normally;
* ``server_error`` (alias ``500``): answer 500 with Stripe's ``api_error``;
* ``rate_limit`` (alias ``429``): answer 429 ``rate_limit`` with ``Retry-After``;
* ``drop_connection`` (alias ``drop``): close the socket without answering;
* ``timeout``: sleep ``seconds`` (default 30, longer than the client waits), then
  process the request as usual: the client has given up, the server did the
  work (the case idempotency keys exist for).

``should_retry`` (``True``/``False``) adds Stripe's ``Stripe-Should-Retry`` header
to 500/429 answers: the Python SDK retries 429 only when it is ``true``.
Sleeps are cut short by ``reset()``/``stop()``; the request is then dropped.
"""

import itertools
import threading
from dataclasses import asdict, dataclass

KINDS = ("latency", "server_error", "rate_limit", "drop_connection", "timeout")
ALIASES = {"500": "server_error", "429": "rate_limit", "drop": "drop_connection"}
DEFAULT_SECONDS = {"latency": 1.0, "timeout": 30.0}


@dataclass
class Fault:
    """One armed fault; ``remaining=None`` means until cleared."""

    id: int
    kind: str
    remaining: int | None = 1
    method: str | None = None
    path: str | None = None
    seconds: float | None = None
    retry_after: int | None = None
    should_retry: bool | None = None
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to ``method path`` and is not used up."""
        return (
            (self.remaining is None or self.remaining > 0)
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or path.startswith(self.path))
        )

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


class FaultInjector:
    """The armed faults of one simulator (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._wake = threading.Event()

    def add(
        self,
        kind: str,
        count: int | None = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        seconds: float | None = None,
        retry_after: int | None = None,
        should_retry: bool | None = None,
    ) -> Fault:
        """Arm a fault for the next ``count`` matching requests."""
        kind = ALIASES.get(str(kind), str(kind))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        if count is not None and int(count) < 1:
            raise ValueError("count must be >= 1 (or None for unlimited)")
        if kind in DEFAULT_SECONDS and seconds is None:
            seconds = DEFAULT_SECONDS[kind]
        if kind == "rate_limit" and retry_after is None:
            retry_after = 1
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            remaining=None if count is None else int(count),
            method=method.upper() if method else None,
            path=path,
            seconds=None if seconds is None else float(seconds),
            retry_after=retry_after,
            should_retry=should_retry,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def latency(self, seconds: float, count: int | None = 1, **match) -> Fault:
        """Delay the next ``count`` matching requests by ``seconds``."""
        return self.add("latency", count, seconds=seconds, **match)

    def server_error(self, count: int | None = 1, **options) -> Fault:
        """Answer the next ``count`` matching requests with a 500 ``api_error``."""
        return self.add("server_error", count, **options)

    def rate_limit(self, count: int | None = 1, retry_after: int = 1, **options):
        """Answer the next ``count`` matching requests with a 429 ``rate_limit``."""
        return self.add("rate_limit", count, retry_after=retry_after, **options)

    def drop_connection(self, count: int | None = 1, **match) -> Fault:
        """Close the connection of the next ``count`` matching requests."""
        return self.add("drop_connection", count, **match)

    def timeout(self, seconds: float = 30.0, count: int | None = 1, **match):
        """Stall the next ``count`` matching requests for ``seconds``."""
        return self.add("timeout", count, seconds=seconds, **match)

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.used += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return Fault(**asdict(fault))
        return None

    def list(self) -> list[Fault]:
        """Faults still armed."""
        with self._lock:
            return [
                Fault(**asdict(f))
                for f in self._faults
                if f.remaining is None or f.remaining > 0
            ]

    def clear(self) -> int:
        """Disarm every fault and wake stalled requests; return how many."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            self._wake.set()
            self._wake = threading.Event()
            return count

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; return ``False`` if woken early by ``clear()``."""
        with self._lock:
            wake = self._wake
        return not wake.wait(seconds)
