"""Issue 10, 8: the money invariants as a hypothesis state machine, played
against the Stripe simulator (the real SDK, real Odoo, real PostgreSQL).

Rules: pay and pay again (same or another ``return_url``), time passing to
near a session's expiry (in Odoo) or past it (Stripe expires the session),
Stripe down and back, a declined card, the customer paying any session still
payable, webhook deliveries in any order, duplicated or sent as two Event
objects, a status refresh, reset-edit-confirm of the order, cancel, refunds,
a manager of another company trying to refund or cancel, a user writing
``state``. After every step: at most one payable session per order at the
simulator; the order is paid only if a completed payment of its current total
pays it; refunded ≤ amount; no completion applied twice. At the end, with
every event delivered: what Stripe captured and refunded is what Odoo records.
"""

import copy
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .. import const
from ..exceptions import OmochiPaymentError
from ..tools.stripe_amounts import to_minor_units
from ..tools.stripe_gateway import StripeGatewayError
from .test_money_safety import MoneySafetyCase

# Bounded for CI (about 30 s); derandomized: the same examples every run.
MAX_EXAMPLES = 20
STEPS_PER_EXAMPLE = 16
RETURN_URLS = (None, "http://localhost:3000/shop/thanks")


class OrderMachine(RuleBasedStateMachine):
    """One order of one customer, and everything that can happen to
    it and its payments. ``case`` is the running test (its database cursor,
    users and simulator)."""

    case = None

    def __init__(self):
        super().__init__()
        self.case.simulator("POST", "reset")
        self.order = self.case._eur_order()
        self.delivered = set()
        self.stripe_down = False
        self.completions = {}

    # -- helpers ----------------------------------------------------

    def attempt(self, function, *args, **kwargs):
        """Run a user action as a request would: in a savepoint,
        rolled back when it fails with an expected error."""
        try:
            with self.case.env.cr.savepoint():
                return function(*args, **kwargs)
        except (
            OmochiPaymentError,
            StripeGatewayError,
            UserError,
            AccessError,
        ) as error:
            return error

    def sessions(self):
        """This order's sessions as the simulator holds them."""
        return [
            session
            for session in self.case._stripe_sessions()
            if session["metadata"].get("order_id") == self.order.uuid
        ]

    def events(self):
        return self.case.simulator("GET", "events")["data"]

    def deliver(self, event):
        self.case._deliver(event)
        self.delivered.add(event["id"])

    def transactions(self):
        self.case.env.invalidate_all()
        return self.order.transaction_ids

    # -- rules ------------------------------------------------------

    @rule(return_url=st.sampled_from(RETURN_URLS))
    def pay(self, return_url):
        self.attempt(self.order._omochi_checkout, return_url=return_url)

    @rule(return_url=st.sampled_from(RETURN_URLS))
    def customer_pays_again(self, return_url):
        """A second rule for paying: paying again is what most of the
        dangerous sequences start with."""
        self.pay(return_url)

    @rule()
    def time_passes_near_expiry(self):
        pending = self.transactions().filtered(
            lambda tx: tx.status == const.STATUS_PENDING and tx.expires_at
        )
        if pending:
            pending[0].expires_at = self.case.env.cr.now()

    @rule(data=st.data())
    def stripe_expires_a_session(self, data):
        open_ids = [s["id"] for s in self.sessions() if s["status"] == "open"]
        if open_ids:
            session_id = data.draw(st.sampled_from(open_ids))
            self.case.simulator("POST", f"checkout/sessions/{session_id}/expire_now")

    @precondition(lambda self: not self.stripe_down)
    @rule()
    def stripe_goes_down(self):
        # Every call of Odoo fails (the test's own listing of the sessions,
        # GET /v1/checkout/sessions, still answers).
        for method, path in (("POST", "/v1/"), ("GET", "/v1/checkout/sessions/")):
            self.case.inject_fault(
                "server_error",
                count=None,
                method=method,
                path=path,
                should_retry=False,
            )
        self.stripe_down = True

    @precondition(lambda self: self.stripe_down)
    @rule()
    def stripe_comes_back(self):
        self.case.simulator("DELETE", "faults")
        self.stripe_down = False

    @rule(data=st.data(), outcome=st.sampled_from(("paid", "failed")))
    def customer_on_a_payable_session(self, data, outcome):
        open_ids = [s["id"] for s in self.sessions() if s["status"] == "open"]
        if open_ids:
            session_id = data.draw(st.sampled_from(open_ids))
            self.case.complete_session(session_id, outcome)

    @rule(data=st.data())
    def deliver_an_event(self, data):
        waiting = [e for e in self.events() if e["id"] not in self.delivered]
        if waiting:
            self.deliver(data.draw(st.sampled_from(waiting)))

    @rule(data=st.data(), as_new_event=st.booleans())
    def redeliver_an_event(self, data, as_new_event):
        done = [e for e in self.events() if e["id"] in self.delivered]
        if done:
            event = copy.deepcopy(data.draw(st.sampled_from(done)))
            if as_new_event:
                # Stripe may send one change as two Event objects.
                event["id"] = f"evt_{uuid.uuid4().hex}"
            self.case._deliver(event)

    @rule()
    def status_is_refreshed(self):
        for transaction in self.transactions():
            transaction._stripe_refresh()

    @rule(quantity=st.integers(min_value=1, max_value=4))
    def reset_edit_confirm(self, quantity):
        def change():
            self.order.action_draft()
            self.order.line_ids[0].quantity = quantity
            self.order.action_confirm()

        self.attempt(change)

    @rule()
    def cancel(self):
        self.attempt(self.order.action_cancel)

    @rule(data=st.data(), full=st.booleans())
    def manager_refunds(self, data, full):
        paid = self.transactions().filtered(
            lambda tx: (
                tx.status in const.PAID_STATUSES and tx.status != const.STATUS_REFUNDED
            )
        )
        if not paid:
            return
        transaction = data.draw(st.sampled_from(list(paid)))
        remaining = transaction.amount - transaction.amount_refunded
        wizard = (
            self.case.env["omochi.payment.refund.wizard"]
            .with_user(self.case.manager)
            .create(
                {
                    "transaction_id": transaction.id,
                    "amount": remaining if full else min(remaining, 1.0),
                }
            )
        )
        self.attempt(wizard.action_refund)

    @rule()
    def other_company_manager_tries(self):
        for transaction in self.transactions():
            error = self.attempt(
                transaction.with_user(self.case.other_company_manager).action_cancel
            )
            assert isinstance(error, AccessError), error
            wizard = (
                self.case.env["omochi.payment.refund.wizard"]
                .with_user(self.case.other_company_manager)
                .create({"transaction_id": transaction.id, "amount": 1.0})
            )
            error = self.attempt(wizard.action_refund)
            assert isinstance(error, AccessError), error

    @rule(state=st.sampled_from(("paid", "draft", "confirmed", "refunded")))
    def user_writes_state(self, state):
        before = self.order.state
        error = self.attempt(
            self.order.with_user(self.case.user).write, {"state": state}
        )
        assert isinstance(error, UserError), error
        assert self.order.state == before

    # -- invariants -------------------------------------------------

    @invariant()
    def one_payable_session_at_stripe(self):
        payable = [s["id"] for s in self.sessions() if s["status"] == "open"]
        assert len(payable) <= 1, payable

    @invariant()
    def paid_only_by_a_payment_of_the_current_total(self):
        order = self.order
        self.case.env.invalidate_all()
        payers = self.transactions().filtered(
            lambda tx: (
                tx.status in const.PAID_STATUSES
                and not tx.review_required
                and tx.currency_id == order.currency_id
                and to_minor_units(tx.amount, tx.currency_id.name)
                == to_minor_units(order.amount_total, order.currency_id.name)
            )
        )
        if order.state == "paid":
            assert payers, "order paid without a payment of its total"
        assert len(payers) <= 1, payers.mapped("reference")

    @invariant()
    def refunded_within_amount_and_completed_once(self):
        for transaction in self.transactions():
            assert transaction.amount_refunded <= transaction.amount
            completions = transaction.message_ids.filtered(
                lambda m: "completed at Stripe" in (m.body or "")
            )
            assert len(completions) <= 1, transaction.reference

    def teardown(self):
        """Stripe back, every event delivered: Odoo records what
        Stripe captured and refunded, payment by payment."""
        self.case.simulator("DELETE", "faults")
        for event in self.events():
            if event["id"] not in self.delivered:
                self.deliver(event)
        by_session = {
            tx.stripe_checkout_session_id: tx
            for tx in self.transactions()
            if tx.stripe_checkout_session_id
        }
        for session in self.sessions():
            transaction = by_session[session["id"]]
            intent_id = session.get("payment_intent")
            intent = intent_id and self.case._stripe_object(intent_id)
            captured = bool(intent) and intent["status"] == "succeeded"
            assert (transaction.status in const.PAID_STATUSES) == captured, (
                transaction.reference,
                transaction.status,
            )
            if captured:
                charge = self.case._stripe_object(intent["latest_charge"])
                assert charge["amount_refunded"] == to_minor_units(
                    transaction.amount_refunded, transaction.currency_id.name
                )


@tagged("post_install", "-at_install")
class TestMoneyStateMachine(MoneySafetyCase):
    def test_money_invariants(self):
        OrderMachine.case = self
        run_state_machine_as_test(
            OrderMachine,
            settings=settings(
                max_examples=MAX_EXAMPLES,
                stateful_step_count=STEPS_PER_EXAMPLE,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
