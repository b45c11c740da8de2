"""HTTP load: one request per connection, a pool of threads for a time or a
count, a burst released at once, logged-in web sessions."""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from .stats import percentile


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict


def http_request(method, url, body=None, headers=None, timeout=120):
    """One request on a fresh connection (Odoo's prefork workers serve one
    connection at a time)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(
            method,
            target,
            body=body,
            headers={"Connection": "close", **(headers or {})},
        )
        answer = connection.getresponse()
        return Response(answer.status, answer.read(), dict(answer.getheaders()))
    finally:
        connection.close()


@dataclass
class LoadResult:
    label: str
    concurrency: int
    latencies: list = field(default_factory=list)  # seconds, completed requests
    statuses: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # connection errors
    bodies: list = field(default_factory=list)
    elapsed: float = 0.0
    resets: int = 0  # connection resets sent again (burst)

    @property
    def count(self):
        return len(self.latencies)

    @property
    def rate(self):
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile(self, q):
        return percentile(self.latencies, q)

    @property
    def server_errors(self):
        return sum(1 for status in self.statuses if status >= 500) + len(self.errors)

    def status_counts(self):
        counts = {}
        for status in self.statuses:
            counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))


def run_load(
    label,
    make_request,
    concurrency,
    duration=None,
    max_requests=None,
    keep_bodies=False,
):
    """Call ``make_request(index)`` from ``concurrency`` threads until
    ``duration`` seconds passed or ``max_requests`` were started (each
    bounds the run); ``make_request`` returns ``(method, url, body,
    headers)`` and is prepared before the clock of its request starts."""
    assert duration or max_requests
    result = LoadResult(label, concurrency)
    lock = threading.Lock()
    counter = iter(range(max_requests or 10**9))
    barrier = threading.Barrier(concurrency + 1)
    deadline = [None]

    def worker():
        barrier.wait()
        while True:
            with lock:
                index = next(counter, None)
            if index is None or (deadline[0] and time.perf_counter() > deadline[0]):
                return
            method, url, body, headers = make_request(index)
            started = time.perf_counter()
            try:
                answer = http_request(method, url, body, headers)
            except OSError as error:
                with lock:
                    result.errors.append(repr(error))
                continue
            latency = time.perf_counter() - started
            with lock:
                result.latencies.append(latency)
                result.statuses.append(answer.status)
                if keep_bodies:
                    result.bodies.append(answer.body)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    if duration:
        deadline[0] = started + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    return result


def burst(label, requests_, timeout=120, resend_resets=0):
    """Send every ``(method, url, body, headers)`` of ``requests_`` from its
    own thread, all released at the same moment (a barrier). A connection
    reset before any answer is sent again up to ``resend_resets`` times (as
    Stripe redelivers), counted in ``result.resets``; the latency runs from
    the first attempt."""
    result = LoadResult(label, len(requests_))
    lock = threading.Lock()
    barrier = threading.Barrier(len(requests_) + 1)
    answers = [None] * len(requests_)

    def worker(index, request):
        barrier.wait()
        started = time.perf_counter()
        for attempt in range(1 + resend_resets):
            try:
                answer = http_request(*request, timeout=timeout)
            except ConnectionResetError as error:
                with lock:
                    result.resets += 1
                if attempt < resend_resets:
                    continue
                answers[index] = (None, repr(error), time.perf_counter() - started)
                return
            except OSError as error:
                answers[index] = (None, repr(error), time.perf_counter() - started)
                return
            answers[index] = (answer, None, time.perf_counter() - started)
            return

    threads = [
        threading.Thread(target=worker, args=(index, request), daemon=True)
        for index, request in enumerate(requests_)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    for answer, error, latency in answers:
        if error:
            result.errors.append(error)
            continue
        result.latencies.append(latency)
        result.statuses.append(answer.status)
        result.bodies.append(answer.body)
    return result


def web_login(url, dbname, login, password):
    """Log in through ``/web/session/authenticate``; return the session
    cookie header."""
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {"db": dbname, "login": login, "password": password},
    }
    answer = http_request(
        "POST",
        f"{url}/web/session/authenticate",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json"},
    )
    data = json.loads(answer.body)
    if "error" in data or not data.get("result", {}).get("uid"):
        sys.exit(f"ERROR: {login} could not log in: {data}")
    cookie = answer.headers.get("Set-Cookie", "")
    return cookie.split(";", 1)[0]


def json_rpc(url, path, params, cookie):
    payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
    return (
        "POST",
        f"{url}{path}",
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", "Cookie": cookie},
    )
