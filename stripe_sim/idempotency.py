"""Stripe's idempotency keys: replay, parameter conflicts, concurrent use."""

import json
import threading
from dataclasses import dataclass

MAX_KEY_LENGTH = 255


@dataclass
class StoredResponse:
    """A response saved for replay, byte for byte."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]


@dataclass
class _Entry:
    """What one key was first used for, and its saved response (if done)."""

    path: str
    fingerprint: str
    response: StoredResponse | None = None


class IdempotencyStore:
    """Idempotency keys per API key (thread-safe).

    ``begin`` returns one of ``("new", None)``, ``("replay", StoredResponse)``,
    ``("in_flight", None)``, ``("path_mismatch", first_path)`` or
    ``("params_mismatch", None)``; after ``"new"`` the caller must call
    ``finish`` (saving the response) or ``release`` (saving nothing).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    @staticmethod
    def fingerprint(method: str, path: str, params: dict) -> str:
        """A canonical form of a request's parameters."""
        return json.dumps([method, path, params], sort_keys=True)

    def begin(self, scope: tuple[str, str], path: str, fingerprint: str):
        """Claim ``scope`` (api key, idempotency key) for a request."""
        with self._lock:
            entry = self._entries.get(scope)
            if entry is None:
                self._entries[scope] = _Entry(path, fingerprint)
                return "new", None
        if entry.path != path:
            return "path_mismatch", entry.path
        if entry.fingerprint != fingerprint:
            return "params_mismatch", None
        if entry.response is None:
            return "in_flight", None
        return "replay", entry.response

    def finish(self, scope: tuple[str, str], response: StoredResponse) -> None:
        """Save the response of the request that claimed ``scope``."""
        with self._lock:
            entry = self._entries.get(scope)
            if entry is not None:  # gone if reset() ran meanwhile
                entry.response = response

    def release(self, scope: tuple[str, str]) -> None:
        """Forget ``scope`` (the request failed before executing)."""
        with self._lock:
            self._entries.pop(scope, None)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._entries.clear()
