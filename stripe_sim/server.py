"""Run the simulator on a real socket, in a background thread or in the foreground."""

import threading
from collections.abc import Iterable

from werkzeug.serving import make_server

from .app import SimulatorApp
from .state import DEFAULT_API_VERSION
from .webhooks import DeliveryAttempt, DeliveryConfig

#: Seconds between the serving thread's checks for ``stop()``.
POLL_INTERVAL = 0.1


class SimulatorServer:
    """A threaded werkzeug server around :class:`SimulatorApp`.

    ``port=0`` picks a free port. The socket is bound on construction, so
    ``url`` is known at once; ``start()`` serves in a daemon thread; ``with
    SimulatorServer() as sim:`` starts and stops it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] | None = None,
        api_version: str = DEFAULT_API_VERSION,
        public_url: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_retry_delay: float = 1.0,
        webhook_max_delay: float = 60.0,
        webhook_max_attempts: int = 8,
        webhook_timeout: float = 10.0,
    ):
        webhooks = [(webhook_url, webhook_secret)] if webhook_url else []
        delivery = DeliveryConfig()
        delivery.update(
            retry_delay=webhook_retry_delay,
            max_delay=webhook_max_delay,
            max_attempts=webhook_max_attempts,
            timeout=webhook_timeout,
        )
        self.app = SimulatorApp(
            api_keys=api_keys,
            api_version=api_version,
            public_url=public_url,
            webhooks=webhooks,
            delivery=delivery,
        )
        self._server = make_server(host, port, self.app, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.public_url = (public_url or self.url).rstrip("/")
        self.app.state.base_url = self.public_url
        self._thread: threading.Thread | None = None

    @property
    def state(self):
        """The :class:`~stripe_sim.state.SimulatorState`."""
        return self.app.state

    @property
    def faults(self):
        """The :class:`~stripe_sim.faults.FaultInjector`."""
        return self.app.faults

    @property
    def request_log(self):
        """The :class:`~stripe_sim.requestlog.RequestLog`."""
        return self.app.request_log

    @property
    def webhooks(self):
        """The :class:`~stripe_sim.webhooks.WebhookDispatcher` (``config``,
        ``deliveries()``, ``wait()``, ``resend()``)."""
        return self.app.dispatcher

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, oldest first."""
        return self.app.dispatcher.deliveries()

    def wait_for_deliveries(self, timeout: float | None = 10.0) -> bool:
        """Wait until no webhook delivery is queued or in flight (``True``), or
        ``timeout`` seconds (``False``)."""
        return self.app.dispatcher.wait(timeout)

    @property
    def webhook_secret(self) -> str | None:
        """The signing secret of the first enabled webhook endpoint, if any."""
        targets = self.app.state.webhook_targets()
        return targets[0][1] if targets else None

    @property
    def api_key(self) -> str:
        """The first accepted secret key."""
        return self.app.api_keys[0]

    def reset(self) -> None:
        """Forget objects, requests, faults and idempotency keys."""
        self.app.reset()

    def start(self) -> "SimulatorServer":
        """Serve in a daemon thread; return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(POLL_INTERVAL,),
                name=f"stripe-sim-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` or KeyboardInterrupt."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop webhook delivery and serving, wake stalled requests and close
        the socket."""
        self.app.close()
        if self._thread:
            self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
