"""A thread-safe log of the requests the simulator received, for assertions."""

import copy
import threading
from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    """One request: what was sent (decoded) and what was answered.

    ``params`` are the decoded form body for POST and the decoded query string
    otherwise; ``headers`` keep their names as sent, with ``Authorization``
    masked. ``status`` is ``None`` when the connection was dropped.
    """

    request_id: str
    method: str
    path: str
    query: dict
    form: dict
    headers: dict[str, str]
    timestamp: float
    status: int | None = None
    fault: str | None = None
    replayed: bool = False
    duration: float | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def params(self) -> dict:
        """The request's parameters (form body for POST, query otherwise)."""
        return self.form if self.method == "POST" else self.query

    @property
    def stripe_version(self) -> str | None:
        """The ``Stripe-Version`` header sent, if any."""
        return self.header("Stripe-Version")

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header sent, if any."""
        return self.header("Idempotency-Key")

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def to_dict(self) -> dict:
        """A JSON-ready dict (as served by ``GET /_sim/requests``)."""
        data = asdict(self)
        data.pop("api_key")
        data.update(
            params=self.params,
            stripe_version=self.stripe_version,
            idempotency_key=self.idempotency_key,
        )
        return data


class RequestLog:
    """Records of every request outside ``/_sim``, oldest first."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> RequestRecord:
        """Append ``record`` (the app fills in ``status`` later)."""
        with self._lock:
            self._records.append(record)
        return record

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of all records."""
        with self._lock:
            return copy.deepcopy(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def requests_to(
        self, path_prefix: str = "", method: str | None = None
    ) -> list[RequestRecord]:
        """Records whose path starts with ``path_prefix`` (and method matches)."""
        return [
            r
            for r in self.records
            if r.path.startswith(path_prefix)
            and (method is None or r.method == method.upper())
        ]

    def last(
        self, path_prefix: str = "", method: str | None = None
    ) -> RequestRecord | None:
        """The latest matching record, or ``None``."""
        matching = self.requests_to(path_prefix, method)
        return matching[-1] if matching else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, index: int) -> RequestRecord:
        return self.records[index]
