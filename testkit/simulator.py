"""The Stripe simulator (``stripe_sim``) for tests and benchmarks: in a
process of its own, and driven through its control API (``/_sim``)."""

import os
import subprocess

import requests

from . import processes
from .odoo import PYTHON, REPO
from .ports import LOOPBACK, free_port


class SimulatorProcess(processes.Service):
    """``python -m stripe_sim`` on a free loopback port (``url``), accepting
    ``api_key``; a context manager."""

    def __init__(self, api_key, args=()):
        self.api_key = api_key
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.health_url = f"{self.url}/_sim/health"

    name = "the Stripe simulator"

    def spawn(self):
        return subprocess.Popen(
            [
                PYTHON,
                "-m",
                "stripe_sim",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--api-key",
                self.api_key,
                "--quiet",
                *self.args,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def sim(simulator_url, method, path, **kwargs):
    """Call the simulator's control API (``/_sim<path>``); assert a 200 and
    return its JSON."""
    response = requests.request(
        method, f"{simulator_url}/_sim{path}", timeout=60, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()


def customer_pays(simulator_url, session_id, outcome="paid"):
    """The customer completes a Checkout Session on Stripe's hosted page."""
    return sim(
        simulator_url,
        "POST",
        f"/checkout/sessions/{session_id}/complete",
        json={"outcome": outcome},
    )


def recorded_event(simulator_url, event_type, object_id):
    """The one event of ``event_type`` Stripe recorded for ``object_id``."""
    listed = sim(simulator_url, "GET", "/events", params={"type": event_type})
    [found] = [e for e in listed["data"] if e["data"]["object"]["id"] == object_id]
    return found


def stripe_api(simulator_url, path, data, api_key=None):
    """POST to the simulator's Stripe API with the server's secret key
    (``OMOCHI_TEST_STRIPE_SECRET_KEY`` unless ``api_key``); assert a 200."""
    key = api_key or os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"]
    response = requests.post(
        f"{simulator_url}{path}",
        headers={"Authorization": f"Bearer {key}"},
        data=data,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def open_checkout_session(simulator_url, payment, api_key=None):
    """A Checkout Session at Stripe for ``payment`` (a dict of
    :func:`testkit.seeding.orders_awaiting_payment`): one line of its amount,
    its metadata and ``client_reference_id`` as Omochi sends them; open."""
    metadata = {
        "payment_id": payment["payment_id"],
        "order_id": payment["order_uuid"],
        "order_name": payment["order_name"],
    }
    params = {
        "mode": "payment",
        "success_url": "http://localhost:3000/payment/status?status=success",
        "cancel_url": "http://localhost:3000/payment/status?status=cancelled",
        "client_reference_id": payment["payment_id"],
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": payment["currency"].lower(),
        "line_items[0][price_data][unit_amount]": str(payment["amount_minor"]),
        "line_items[0][price_data][product_data][name]": payment["order_name"],
    }
    for key, value in metadata.items():
        params[f"metadata[{key}]"] = value
        params[f"payment_intent_data[metadata][{key}]"] = value
    return stripe_api(simulator_url, "/v1/checkout/sessions", params, api_key)
