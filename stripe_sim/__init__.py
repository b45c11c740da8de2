"""A stateful simulator of the Stripe API subset used by Omochi Payments.

Reached by the real ``stripe`` SDK through its API base::

    from stripe import StripeClient
    from stripe_sim import SimulatorServer

    with SimulatorServer() as sim:
        client = StripeClient(sim.api_key, base_addresses={"api": sim.url})
        session = client.checkout.sessions.create(params={...})
        sim.state.complete_checkout_session(session.id, "paid")
"""

from .app import DEFAULT_API_KEY, SimulatorApp
from .errors import StripeError
from .faults import Fault, FaultInjector
from .requestlog import RequestLog, RequestRecord
from .server import SimulatorServer
from .state import DEFAULT_API_VERSION, SimulatorState
from .webhooks import DeliveryAttempt, DeliveryConfig, WebhookDispatcher

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_VERSION",
    "DeliveryAttempt",
    "DeliveryConfig",
    "Fault",
    "FaultInjector",
    "RequestLog",
    "RequestRecord",
    "SimulatorApp",
    "SimulatorServer",
    "SimulatorState",
    "StripeError",
    "WebhookDispatcher",
]
