"""A real headless Chromium driven through the Chrome DevTools Protocol.

The browser tests of the end-to-end suite need a browser that follows the
customer from Odoo to the Stripe simulator's hosted page and back, which an
Odoo tour (confined to Odoo's own pages) cannot do. This is a small CDP client
on ``websocket-client`` (a dependency of Odoo already): one Chromium process,
one isolated browser context (its own cookies) per :class:`Page`, and real
input events (mouse clicks at the element's position, typed text).

Chromium is Debian's ``chromium`` package (``/usr/bin/chromium``, installed by
``.ci/run``), or ``$OMOCHI_CHROMIUM``. A missing browser is an error, never a
reason to skip: a browser test that did not run proves nothing.
"""

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import websocket

# As root, Chromium runs only without its sandbox. The machine has no Internet:
# Chromium must not try to reach Google's services on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--metrics-recording-only",
    "--password-store=basic",
    "--hide-scrollbars",
)
START_TIMEOUT = 20
COMMAND_TIMEOUT = 30


class BrowserError(Exception):
    """Chromium could not be started, or a command failed."""


START_ATTEMPTS = 3

# Odoo's server limits its process's address space (limit_memory_hard);
# Chromium reserves far more virtual memory and dies at start-up under that
# limit, so it starts without it (Odoo's own ChromeBrowser does the same).
WITHOUT_ADDRESS_SPACE_LIMIT = ("prlimit", "--as=unlimited", "--")


def find_chromium():
    """The Chromium executable: ``$OMOCHI_CHROMIUM``, else ``chromium`` (or
    ``chromium-browser``, ``google-chrome``) on the PATH."""
    configured = os.environ.get("OMOCHI_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(
        "Chromium is not installed: the browser tests need it "
        "(Debian: apt-get install chromium; or set OMOCHI_CHROMIUM)"
    )


class Chromium:
    """One headless Chromium process and its DevTools connection."""

    def __init__(self, executable=None):
        self.executable = executable or find_chromium()
        # A start-up crash on a loaded machine is retried; its log is kept.
        for attempt in range(1, START_ATTEMPTS + 1):
            self.profile = tempfile.mkdtemp(prefix="omochi-chromium-")
            log_path = Path(self.profile, "chromium.log")
            with open(log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [
                        *WITHOUT_ADDRESS_SPACE_LIMIT,
                        self.executable,
                        *FLAGS,
                        "--remote-debugging-port=0",
                        f"--user-data-dir={self.profile}",
                        "about:blank",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                self._connect()
                return
            except BrowserError as error:
                output = log_path.read_text(errors="replace")[-2000:]
                self.close()
                if attempt == START_ATTEMPTS:
                    raise BrowserError(f"{error}; its output:\n{output}") from None
            except BaseException:
                self.close()
                raise

    def _connect(self):
        active_port = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        while not (active_port.is_file() and len(active_port.read_text()) > 5):
            if self.process.poll() is not None:
                raise BrowserError(
                    f"{self.executable} exited at start-up "
                    f"(status {self.process.returncode})"
                )
            if time.monotonic() > deadline:
                raise BrowserError(f"{self.executable} did not start")
            time.sleep(0.05)
        port, path = active_port.read_text().split()[:2]
        self._ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}{path}", timeout=COMMAND_TIMEOUT
        )
        self._ids = itertools.count(1)
        self._pending = {}
        self._lock = threading.Lock()
        self.events = {}  # session id -> [(method, params)]
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            try:
                message = json.loads(self._ws.recv())
            except (websocket.WebSocketException, OSError, ValueError):
                break
            if "id" in message:
                with self._lock:
                    future = self._pending.pop(message["id"], None)
                if future is not None:
                    future.set_result(message)
            else:
                session = message.get("sessionId")
                with self._lock:
                    self.events.setdefault(session, []).append(
                        (message["method"], message.get("params", {}))
                    )
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(BrowserError("the browser connection closed"))

    def send(self, method, params=None, session=None, timeout=COMMAND_TIMEOUT):
        """Send one CDP command and return its result."""
        message = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future = futures.Future()
        with self._lock:
            self._pending[message["id"]] = future
        self._ws.send(json.dumps(message))
        answer = future.result(timeout)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer["result"]

    def new_page(self, width=1280, height=800):
        """A new tab in a new browser context (no cookies shared)."""
        return Page(self, width, height)

    def close(self):
        if getattr(self, "_ws", None) is not None:
            # Closing anyway: the process is waited for (or killed) below.
            with contextlib.suppress(BrowserError, OSError, futures.TimeoutError):
                self.send("Browser.close", timeout=5)
            self._ws.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A tab of its own browser context, with user-level actions."""

    def __init__(self, browser, width, height):
        self.browser = browser
        self.context = browser.send("Target.createBrowserContext")["browserContextId"]
        self.target = browser.send(
            "Target.createTarget",
            {"url": "about:blank", "browserContextId": self.context},
        )["targetId"]
        self.session = browser.send(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}
        )["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def send(self, method, params=None):
        return self.browser.send(method, params, session=self.session)

    # ------------------------------------------------------------ reading
    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            error = details.get("exception", {}).get("description") or details
            raise BrowserError(f"{expression!r} failed: {error}")
        return result["result"].get("value")

    @property
    def url(self):
        return self.evaluate("location.href")

    def text(self, selector="body"):
        """The visible text of the first element matching ``selector``."""
        return self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"
        )

    def wait_for(self, expression, timeout=20, what=None):
        """Wait until ``expression`` is truthy in the page (across page loads);
        return its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:  # the page is navigating: no context yet
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                try:
                    where, text = self.url, self.text()[:800]
                except BrowserError:
                    where, text = "?", ""
                raise AssertionError(
                    f"timed out waiting for {what or expression} at {where}; "
                    f"the page reads:\n{text}"
                )
            time.sleep(0.1)

    def wait_for_selector(self, selector, timeout=20):
        """Wait for a visible element matching ``selector``."""
        return self.wait_for(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " return !!el && el.getClientRects().length > 0"
            " && document.readyState === 'complete'; })()",
            timeout,
            what=f"the element {selector!r}",
        )

    def wait_for_url(self, predicate_js, timeout=20):
        """Wait for a loaded page whose ``location`` satisfies ``predicate_js``
        (an expression on ``location``)."""
        return self.wait_for(
            f"document.readyState === 'complete' && ({predicate_js})",
            timeout,
            what=f"a page where {predicate_js}",
        )

    # ------------------------------------------------------------ acting
    def _mark_document(self):
        """Mark the current document, to tell when another one has loaded."""
        with contextlib.suppress(BrowserError):  # no document yet
            self.evaluate("window.__omochiOldDocument = true")

    def _wait_new_document(self, what):
        self.wait_for(
            "!window.__omochiOldDocument && document.readyState === 'complete'"
            " && location.href !== 'about:blank'",
            what=what,
        )

    def goto(self, url):
        """Open ``url`` and wait for its page to be loaded."""
        self._mark_document()
        navigation = self.send("Page.navigate", {"url": url})
        if navigation.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigation['errorText']}")
        self._wait_new_document(f"the page {url}")

    def reload(self):
        """Reload the page and wait for it to be loaded again."""
        self._mark_document()
        self.send("Page.reload", {"ignoreCache": True})
        self._wait_new_document("the page to reload")

    def click(self, selector):
        """Click the element as a user would: the mouse, at its centre."""
        self.wait_for_selector(selector)
        x, y = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " el.scrollIntoView({block: 'center'});"
            " const box = el.getBoundingClientRect();"
            " return [box.x + box.width / 2, box.y + box.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            event = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            self.send("Input.dispatchMouseEvent", event)

    def fill(self, selector, text):
        """Click into the field, clear it and type ``text``."""
        self.click(selector)
        self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " el.select(); })()"
        )
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace"})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace"})
        self.send("Input.insertText", {"text": text})
        value = self.evaluate(f"document.querySelector({json.dumps(selector)}).value")
        assert value == text, f"{selector} holds {value!r}, not {text!r}"

    def screenshot(self, path):
        """Save the viewport as a PNG file; return its path."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self):
        """The page's uncaught JavaScript exceptions and console errors."""
        with self.browser._lock:
            events = list(self.browser.events.get(self.session, ()))
        found = []
        for method, params in events:
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(
                    details.get("exception", {}).get("description") or details["text"]
                )
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(a.get("value")) for a in params["args"]))
        return found

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target})
        self.browser.send(
            "Target.disposeBrowserContext", {"browserContextId": self.context}
        )
