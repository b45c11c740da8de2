import atexit
import importlib
import json
import os
import sys
from unittest.mock import patch

import requests

from odoo.tests import TransactionCase, new_test_user
from odoo.tools import config as odoo_config

from ..const import CONFIG_KEYS, REFRESH_MIN_INTERVAL_SECONDS


class OmochiPaymentsCase(TransactionCase):
    """Companies, users and a confirmed order to attach transactions to.

    The Stripe configuration of the process (environment variables and odoo.conf
    options) is emptied for each test, so that tests never depend on the machine.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Omochi Other Co."})
        cls.currency_eur = cls.env.ref("base.EUR")
        cls.currency_eur.active = True

        cls.customer = cls.env["res.partner"].create(
            {"name": "Omochi Customer Co.", "is_company": True}
        )
        cls.customer_contact = cls.env["res.partner"].create(
            {"name": "Omochi Contact", "parent_id": cls.customer.id}
        )
        cls.stranger = cls.env["res.partner"].create({"name": "Omochi Stranger"})

        cls.user = new_test_user(
            cls.env, login="omochi_pay_user", groups="omochi_orders.group_omochi_user"
        )
        cls.manager = new_test_user(
            cls.env,
            login="omochi_pay_manager",
            groups="omochi_orders.group_omochi_manager",
        )
        cls.admin = new_test_user(
            cls.env,
            login="omochi_pay_admin",
            groups="omochi_orders.group_omochi_manager,base.group_system",
        )
        cls.portal_user = new_test_user(
            cls.env,
            login="omochi_pay_portal",
            groups="base.group_portal",
            partner_id=cls.customer_contact.id,
        )
        cls.other_company_manager = new_test_user(
            cls.env,
            login="omochi_pay_other",
            groups="omochi_orders.group_omochi_manager",
            company_id=cls.other_company.id,
            company_ids=[cls.other_company.id],
        )

        cls.order = cls._create_order(cls.customer_contact, price_unit=25.5)
        cls.stranger_order = cls._create_order(cls.stranger, price_unit=10.0)

    @classmethod
    def _create_order(cls, partner, price_unit=10.0, quantity=2, **vals):
        """Create and confirm an order with one line."""
        order = cls.env["omochi.order"].create(
            {
                "partner_id": partner.id,
                "currency_id": cls.currency_eur.id,
                "line_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Daifuku",
                            "quantity": quantity,
                            "price_unit": price_unit,
                        },
                    )
                ],
                **vals,
            }
        )
        order.action_confirm()
        return order

    @classmethod
    def _create_transaction(cls, order, **vals):
        """Create a transaction for ``order`` as the checkout code would (sudo)."""
        return (
            cls.env["omochi.payment.transaction"]
            .sudo()
            .create({"order_id": order.id, **vals})
        )

    def age_refresh_claims(self):
        """Let the refresh interval pass: move every refresh claim (issue 10,
        5: Stripe asked at most once per interval) past it."""
        self.env.cr.execute(
            "UPDATE omochi_payment_refresh_claim SET claimed_at = claimed_at"
            " - interval '1 second' * %s",
            [REFRESH_MIN_INTERVAL_SECONDS + 1],
        )

    def process_events(self):
        """Apply the pending webhook events as the processing cron does
        (DESIGN §8: the addons' tests run the job directly)."""
        events = self.env["omochi.payment.event"].sudo()
        while events._omochi_process_pending():
            pass
        self.env.invalidate_all()

    def receive_event(self, event, company_ids=()):
        """Store ``event`` as the webhook acknowledges it (signed by a secret
        of ``company_ids``, or of the server when empty), then apply it.

        :return: ``(stored event, duplicate)``.
        """
        events = self.env["omochi.payment.event"].sudo()
        stored, _triggered = events._omochi_insert_pending(
            self.env.cr, event, json.dumps(event), company_ids
        )
        self.process_events()
        record = events.search([("stripe_event_id", "=", event["id"])])
        return record, not stored

    def setUp(self):
        super().setUp()
        self.startPatcher(patch.dict(os.environ))
        self.startPatcher(patch.dict(odoo_config.options))
        for env_name, option_name, _field, _default in CONFIG_KEYS.values():
            os.environ.pop(env_name, None)
            odoo_config.options.pop(option_name, None)


SIMULATOR_URL_VARIABLE = "OMOCHI_TEST_STRIPE_API_BASE"
SIMULATOR_KEY_VARIABLE = "OMOCHI_TEST_STRIPE_SECRET_KEY"
DEFAULT_SIMULATOR_KEY = "sk_test_omochi_simulator"
# The repository that holds the addons also holds the simulator package.
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

_in_process_simulator = None


def _import_stripe_sim():
    """Import the project's Stripe simulator for the tests, never for the
    addon itself: from the Python path, else from the repository root next
    to the addons.

    :raise RuntimeError: when neither provides it.
    """
    try:
        return importlib.import_module("stripe_sim")
    except ImportError:
        if not os.path.isfile(
            os.path.join(REPOSITORY_ROOT, "stripe_sim", "__init__.py")
        ):
            raise RuntimeError(
                "the tests of omochi_payments need the project's Stripe simulator "
                "(stripe_sim): run them from the Omochi Payments repository, or "
                f"start `python -m stripe_sim` and set {SIMULATOR_URL_VARIABLE}"
            ) from None
        sys.path.append(REPOSITORY_ROOT)
        return importlib.import_module("stripe_sim")


def stripe_simulator():
    """Return ``(url, secret key)`` of the Stripe simulator of the tests.

    A simulator started by the caller is used when ``OMOCHI_TEST_STRIPE_API_BASE``
    names it (and ``OMOCHI_TEST_STRIPE_SECRET_KEY`` its key, if not the
    default); otherwise one is started in this process on a free loopback
    port, once, as Odoo's own test runner (``--test-enable``) gives the tests
    nothing else.
    """
    global _in_process_simulator
    url = os.environ.get(SIMULATOR_URL_VARIABLE)
    if url:
        return url, os.environ.get(SIMULATOR_KEY_VARIABLE, DEFAULT_SIMULATOR_KEY)
    if _in_process_simulator is None:
        _in_process_simulator = _import_stripe_sim().SimulatorServer().start()
        atexit.register(_in_process_simulator.stop)
    return _in_process_simulator.url, _in_process_simulator.api_key


class StripeSimulatorMixin:
    """Point the test company's Stripe settings at the project's simulator.

    The simulator is the project's one fake of Stripe, reached over HTTP by
    the real SDK exactly as Stripe would be (see :func:`stripe_simulator`).
    Each test starts from an empty simulator.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator_url, cls.simulator_key = stripe_simulator()
        cls.env.company.write(
            {
                "omochi_stripe_api_base": cls.simulator_url,
                "omochi_stripe_secret_key": cls.simulator_key,
            }
        )

    def setUp(self):
        super().setUp()
        self.simulator("POST", "reset")

    def simulator(self, method, path, payload=None):
        """Call the simulator's control interface (``/_sim/<path>``).

        :return: The decoded JSON answer.
        """
        response = requests.request(
            method, f"{self.simulator_url}/_sim/{path}", json=payload, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def simulator_requests(self, path, method=None):
        """Return the simulator's log of Stripe API requests to ``path``."""
        query = f"requests?path={path}" + (f"&method={method}" if method else "")
        return self.simulator("GET", query)["data"]

    def complete_session(self, session_id, outcome="paid", **values):
        """Act as the customer on the hosted page: pay (``paid``), start an
        asynchronous payment (``unpaid``) or fail the card (``failed``)."""
        return self.simulator(
            "POST",
            f"checkout/sessions/{session_id}/complete",
            {"outcome": outcome, **values},
        )

    def _deliver(self, event):
        """Deliver a verified Stripe event (a dict) as the webhook does after
        checking its signature, and have it applied: the one place the tests
        hand events to the addon.

        :return: The stored ``omochi.payment.event``.
        """
        record, _duplicate = self.receive_event(event)
        return record

    def forget_refresh_claims(self):
        """Let the next status request refresh from Stripe at once, as it
        would ``REFRESH_MIN_INTERVAL_SECONDS`` later."""
        self.env.cr.execute("DELETE FROM omochi_payment_refresh_claim")

    def sim_events_of(self, object_id, event_type=None):
        """The simulator's events about ``object_id``, oldest first."""
        query = f"events?type={event_type}" if event_type else "events"
        return [
            event
            for event in self.simulator("GET", query)["data"]
            if event["data"]["object"]["id"] == object_id
        ]

    def inject_fault(self, kind, **options):
        """Make the simulator fail its next request(s): ``server_error``,
        ``rate_limit``, ``drop_connection``, ``timeout``, ``latency``."""
        return self.simulator("POST", "faults", {"kind": kind, **options})
