"""``python -m stripe_sim`` as a separate process."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from stripe import StripeClient

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STRIPE_SECRET_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "stripe_sim", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_help():
    process = _run("--help")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    for option in (
        "--host",
        "--port",
        "--api-key",
        "--webhook-url",
        "--webhook-secret",
        "--webhook-retry-delay",
        "--webhook-max-attempts",
    ):
        assert option in output


def test_serves_until_interrupted():
    port = _free_port()
    process = _run(
        "--port",
        str(port),
        "--api-key",
        "sk_test_cli_key",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--webhook-secret",
        "whsec_cli",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(url + "/_sim/health", timeout=1).raise_for_status()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "simulator did not start"
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.1)
        client = StripeClient(
            "sk_test_cli_key", base_addresses={"api": url}, stripe_version="2023-10-16"
        )
        endpoints = client.v1.webhook_endpoints.list()
        assert endpoints.data[0].url == "http://127.0.0.1:9/hook"
        assert sim_secret(url) is None  # secrets are never listed
    finally:
        process.send_signal(signal.SIGINT)  # like Ctrl-C
        output, _ = process.communicate(timeout=20)
    assert f"Stripe simulator listening on {url}" in output
    assert "webhook target: http://127.0.0.1:9/hook (all events)" in output
    assert "whsec_cli" not in output  # a secret given by the caller is not shown
    assert "sk_test_cli_key" not in output
    assert process.returncode == 0


def sim_secret(url):
    """The secret as served by the API after creation (it never is)."""
    response = requests.get(
        url + "/v1/webhook_endpoints", auth=("sk_test_cli_key", ""), timeout=5
    )
    return response.json()["data"][0].get("secret")
