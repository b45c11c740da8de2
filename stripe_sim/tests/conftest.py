"""Fixtures: one simulator per test module (reset between tests) and SDK clients."""

import time
import warnings

import pytest
import stripe
from stripe import StripeClient

from stripe_sim import SimulatorServer

API_VERSION = "2023-10-16"


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """Shadow pytest-odoo's autouse fixture: these tests need no Odoo database."""
    yield


@pytest.fixture(scope="module", autouse=True)
def enable_odoo_test_flag():
    """Shadow pytest-odoo's autouse fixture (no Odoo here)."""
    yield


@pytest.fixture(scope="module")
def server():
    """A simulator serving on a free loopback port for the whole module."""
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture
def sim(server):
    """The module's simulator, reset before each test."""
    server.reset()
    return server


def make_client(sim, *, retries=0, timeout=None, api_key=None) -> StripeClient:
    """A real SDK client pointed at ``sim`` (``v1`` namespace)."""
    options = {}
    if timeout is not None:
        options["http_client"] = stripe.RequestsClient(timeout=timeout)
    return StripeClient(
        api_key or sim.api_key,
        base_addresses={"api": sim.url},
        stripe_version=API_VERSION,
        max_network_retries=retries,
        **options,
    )


@pytest.fixture
def client(sim):
    """An SDK client without network retries."""
    return make_client(sim).v1


def session_params(**overrides) -> dict:
    """Parameters like the Omochi addon sends for a 25.00 EUR order."""
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 2,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1250,
                    "product_data": {"name": "Daifuku mochi"},
                },
            }
        ],
        "client_reference_id": "pay-uuid-1",
        "metadata": {
            "payment_id": "pay-uuid-1",
            "order_id": "order-uuid-1",
            "order_name": "OM/2026/00001",
        },
        "payment_intent_data": {"metadata": {"payment_id": "pay-uuid-1"}},
        "customer_email": "hanako@example.com",
        "expires_at": int(time.time()) + 3600,
        "success_url": "http://localhost:3000/payment/status"
        "?session_id={CHECKOUT_SESSION_ID}&status=success",
        "cancel_url": "http://localhost:3000/payment/status?status=cancelled",
    }
    params.update(overrides)
    return params


@pytest.fixture(autouse=True)
def _quiet_sdk_deprecations():
    """The SDK warns about its own legacy namespaces; tests use ``v1``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield
