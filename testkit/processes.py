"""Child processes of the tests and benchmarks."""

import contextlib
import subprocess
import time
import urllib.request

STARTUP_TIMEOUT = 120


def stop(process, timeout=10):
    """Ask ``process`` to stop (SIGTERM); SIGKILL it after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_http(url, alive, timeout=STARTUP_TIMEOUT):
    """Wait until ``url`` answers 200 while ``alive()``; return whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=10) as answer,
        ):
            if answer.status == 200:
                return True
        time.sleep(0.3)
    return False


class ServiceError(RuntimeError):
    """A service did not start."""


class Service:
    """A child process serving HTTP, as a context manager: :meth:`start`
    spawns it (:meth:`spawn`) and waits until ``health_url`` answers 200."""

    name = "the service"
    health_url = None
    process = None

    def spawn(self):
        """Start the process; return its ``Popen``."""
        raise NotImplementedError

    def start(self, timeout=STARTUP_TIMEOUT):
        self.process = self.spawn()
        if not wait_http(self.health_url, lambda: self.process.poll() is None, timeout):
            self.stop()
            raise ServiceError(f"{self.name} did not start")
        return self

    def stop(self):
        stop(self.process)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
