"""Session-wide test infrastructure shared by every suite of the repository.

The addons' tests reach Stripe only through ``STRIPE_API_BASE``, like the
addons themselves: this starts the project's Stripe simulator on a loopback
port for the whole pytest run and publishes its address and key in the
environment variables that the addons' test cases read.
"""

import logging
import os

from stripe_sim import SimulatorServer

SIMULATOR_URL_VARIABLE = "OMOCHI_TEST_STRIPE_API_BASE"
SIMULATOR_KEY_VARIABLE = "OMOCHI_TEST_STRIPE_SECRET_KEY"

_simulator = None

# pytest-odoo imports Odoo's test framework at start-up, before it turns test
# mode on for each test module, which Odoo reports as an ERROR. Turning test
# mode on for the whole run instead (--test-enable) would make loading the
# registry run every installed module's tests (+80 s). Quiet until collected.
logging.getLogger("odoo.tests.common").setLevel(logging.CRITICAL)


def pytest_configure(config):
    """Start the Stripe simulator unless the caller points at one already."""
    global _simulator
    if os.environ.get(SIMULATOR_URL_VARIABLE):
        return
    _simulator = SimulatorServer().start()
    os.environ[SIMULATOR_URL_VARIABLE] = _simulator.url
    os.environ[SIMULATOR_KEY_VARIABLE] = _simulator.api_key


def pytest_collection_finish(session):
    """Collection is over: Odoo's test framework logs normally again."""
    logging.getLogger("odoo.tests.common").setLevel(logging.NOTSET)


def pytest_unconfigure(config):
    """Stop the simulator this run started."""
    if _simulator is not None:
        _simulator.stop()
        os.environ.pop(SIMULATOR_URL_VARIABLE, None)
        os.environ.pop(SIMULATOR_KEY_VARIABLE, None)
