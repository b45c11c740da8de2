"""Omochi ▸ Payments ▸ Health and the health block of Settings.

Each figure is checked against records made for it (and records just outside
of it), and each action lists exactly the records behind its figure.
"""

import json
import os
import time
from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, HttpCase, tagged
from odoo.tools import config as odoo_config
from odoo.tools import mute_logger

from .. import const
from ..tools.stripe_signature import signature_header
from .common import OmochiPaymentsCase

PARAMETER = "omochi_payments.reconcile_after_minutes"
# The backlog figures are Health's own (Settings shows the others).
BACKLOG = ("pending_", "oldest_pending_")


@tagged("post_install", "-at_install")
class TestHealth(OmochiPaymentsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.company"].search([]).omochi_stripe_webhook_secret = False
        cls.other_order = cls._create_order(
            cls.customer_contact, company_id=cls.other_company.id
        )

    def setUp(self):
        super().setUp()
        self.health = self.env["omochi.payment.health"]
        self.now = fields.Datetime.now()
        # The database's own events and open payments (demo data...) are none
        # of these tests' business.
        self.env["omochi.payment.event"].sudo().search([]).unlink()
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE omochi_payment_transaction SET create_date = %s"
            " WHERE status IN ('pending', 'processing')",
            [self.now],
        )
        self.env.invalidate_all()

    def _ago(self, **delta):
        return self.now - timedelta(**delta)

    def _payment(self, status, age, order=None):
        """A payment in ``status`` created ``age`` (a timedelta) ago."""
        transaction = self._create_transaction(order or self.order, status=status)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE omochi_payment_transaction SET create_date = %s WHERE id = %s",
            [self.now - age, transaction.id],
        )
        transaction.invalidate_recordset(["create_date"])
        return transaction

    def _event(self, state, received_at, transaction=None):
        events = self.env["omochi.payment.event"].sudo()
        return events.create(
            {
                "stripe_event_id": f"evt_health_{events.search_count([]) + 1}",
                "type": "checkout.session.completed",
                "state": state,
                "received_at": received_at,
                "transaction_id": transaction and transaction.id,
                "error": "KeyError: 'amount_total'" if state == "failed" else False,
            }
        )

    def _values(self, company=None):
        return self.health._omochi_health_values(company or self.company)

    def _listed(self, action):
        """The records an action of the health page lists."""
        return self.env[action["res_model"]].sudo().search(action["domain"])

    # ------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------

    def test_webhook_secret_configured(self):
        self.assertFalse(self._values()["webhook_secret_configured"])
        self.other_company.omochi_stripe_webhook_secret = "whsec_other_company"
        self.assertFalse(self._values()["webhook_secret_configured"])
        self.assertTrue(self._values(self.other_company)["webhook_secret_configured"])

        self.company.omochi_stripe_webhook_secret = "whsec_company"
        self.assertTrue(self._values()["webhook_secret_configured"])
        self.company.omochi_stripe_webhook_secret = " , "
        self.assertFalse(self._values()["webhook_secret_configured"])

        os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_environment"
        self.assertTrue(self._values()["webhook_secret_configured"])
        del os.environ["STRIPE_WEBHOOK_SECRET"]
        odoo_config.options["stripe_webhook_secret"] = "whsec_odoo_conf"
        self.assertTrue(self._values()["webhook_secret_configured"])

    def test_last_event_received_at(self):
        self.assertFalse(self._values()["last_event_received_at"])
        ours = self._payment(const.STATUS_COMPLETED, timedelta(hours=5))
        theirs = self._payment(
            const.STATUS_COMPLETED, timedelta(hours=5), order=self.other_order
        )
        self._event("done", self._ago(hours=3), ours)
        self.assertEqual(self._values()["last_event_received_at"], self._ago(hours=3))
        # Events of no known payment count for every company.
        self._event("ignored", self._ago(hours=1))
        self._event("done", self._ago(minutes=10), theirs)
        self.assertEqual(self._values()["last_event_received_at"], self._ago(hours=1))
        self.assertEqual(
            self._values(self.other_company)["last_event_received_at"],
            self._ago(minutes=10),
        )

    def test_failed_events_of_the_last_24_hours(self):
        ours = self._payment(const.STATUS_PENDING, timedelta(minutes=1))
        theirs = self._payment(
            const.STATUS_PENDING, timedelta(minutes=1), order=self.other_order
        )
        counted = (
            self._event("failed", self._ago(hours=1), ours)
            | self._event("failed", self._ago(hours=23, minutes=59))
            | self._event("failed", self._ago(minutes=1), ours)
        )
        self._event("failed", self._ago(hours=24, minutes=1), ours)
        self._event("failed", self._ago(days=3))
        self._event("done", self._ago(hours=1), ours)
        self._event("ignored", self._ago(hours=1))
        self._event("pending", self._ago(hours=1), ours)
        theirs_failed = self._event("failed", self._ago(hours=1), theirs)

        self.assertEqual(self._values()["failed_event_count"], 3)
        health = self.health.create({})
        self.assertEqual(health.failed_event_count, 3)
        action = health.action_open_failed_events()
        self.assertEqual(action["res_model"], "omochi.payment.event")
        self.assertEqual(self._listed(action), counted)

        other = self.health.create({"company_id": self.other_company.id})
        self.assertEqual(other.failed_event_count, 2)
        self.assertEqual(
            self._listed(other.action_open_failed_events()),
            theirs_failed | counted[1],
        )

    def test_stuck_payments_past_the_reconciliation_age(self):
        stuck = (
            self._payment(const.STATUS_PENDING, timedelta(minutes=30))
            | self._payment(const.STATUS_PROCESSING, timedelta(hours=2))
            | self._payment(const.STATUS_PENDING, timedelta(minutes=16))
        )
        self._payment(const.STATUS_PENDING, timedelta(minutes=14))
        self._payment(const.STATUS_PROCESSING, timedelta(minutes=1))
        for status in (
            const.STATUS_COMPLETED,
            const.STATUS_EXPIRED,
            const.STATUS_CANCELLED,
            const.STATUS_REFUNDED,
        ):
            self._payment(status, timedelta(days=2))
        theirs = self._payment(
            const.STATUS_PENDING, timedelta(hours=2), order=self.other_order
        )

        values = self._values()
        self.assertEqual(values["reconcile_after_minutes"], 15)
        self.assertEqual(values["stuck_transaction_count"], 3)
        health = self.health.create({})
        self.assertEqual(
            (health.stuck_transaction_count, health.reconcile_after_minutes), (3, 15)
        )
        action = health.action_open_stuck_transactions()
        self.assertEqual(action["res_model"], "omochi.payment.transaction")
        self.assertEqual(self._listed(action), stuck)
        other = self.health.create({"company_id": self.other_company.id})
        self.assertEqual(other.stuck_transaction_count, 1)
        self.assertEqual(self._listed(other.action_open_stuck_transactions()), theirs)

        # The figure follows the reconciliation age.
        self.env["ir.config_parameter"].sudo().set_param(PARAMETER, "60")
        health = self.health.create({})
        self.assertEqual(
            (health.stuck_transaction_count, health.reconcile_after_minutes),
            (1, 60),
        )
        self.assertEqual(
            self._listed(health.action_open_stuck_transactions()), stuck[1]
        )

    def test_pending_backlog_and_its_age(self):
        """§8: the events no cron worker has applied yet, and how long the
        oldest has waited; a warning past a minute (no cron worker running)."""
        self.assertEqual(
            (
                self._values()["pending_event_count"],
                self._values()["oldest_pending_event_age"],
                self._values()["pending_backlog_warning"],
            ),
            (0, 0, False),
        )
        self.env.cr.execute("SELECT now() AT TIME ZONE 'UTC'")
        db_now = self.env.cr.fetchone()[0]
        recent = self._event("pending", db_now - timedelta(seconds=20))
        self._event("done", db_now - timedelta(hours=2))
        values = self._values()
        self.assertEqual(values["pending_event_count"], 1)
        self.assertTrue(20 <= values["oldest_pending_event_age"] < 60)
        self.assertFalse(values["pending_backlog_warning"])
        old = self._event("pending", db_now - timedelta(minutes=3))
        values = self._values()
        self.assertEqual(values["pending_event_count"], 2)
        self.assertTrue(180 <= values["oldest_pending_event_age"] < 240)
        self.assertTrue(values["pending_backlog_warning"])
        health = self.health.create({})
        self.assertEqual(
            self._listed(health.action_open_pending_events()), recent | old
        )
        # Once the job ran, no backlog is left.
        self.process_events()
        values = self._values()
        self.assertEqual(
            (values["pending_event_count"], values["pending_backlog_warning"]),
            (0, False),
        )

    def test_all_events_action(self):
        ours = self._payment(const.STATUS_PENDING, timedelta(minutes=1))
        theirs = self._payment(
            const.STATUS_PENDING, timedelta(minutes=1), order=self.other_order
        )
        listed = (
            self._event("done", self._ago(hours=1), ours)
            | self._event("failed", self._ago(days=30), ours)
            | self._event("ignored", self._ago(hours=2))
        )
        self._event("done", self._ago(hours=1), theirs)
        action = self.health.create({}).action_open_events()
        self.assertEqual(action["type"], "ir.actions.act_window")
        self.assertEqual(self._listed(action), listed)

    def test_settings_show_the_same_figures(self):
        self.company.omochi_stripe_webhook_secret = "whsec_company"
        ours = self._payment(const.STATUS_PENDING, timedelta(hours=1))
        self._payment(const.STATUS_PROCESSING, timedelta(hours=1))
        self._event("failed", self._ago(hours=2), ours)
        self._event("done", self._ago(minutes=30), ours)
        values = self._values()
        self.assertEqual(
            values,
            {
                "webhook_secret_configured": True,
                "last_event_received_at": self._ago(minutes=30),
                "failed_event_count": 1,
                "stuck_transaction_count": 2,
                "review_transaction_count": 0,
                "reconcile_after_minutes": 15,
                "pending_event_count": 0,
                "oldest_pending_event_age": 0,
                "pending_backlog_warning": False,
                "refused_delivery_count": 0,
                "refused_delivery_reasons": "",
            },
        )
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        self.assertEqual(
            {
                "webhook_secret_configured": settings.omochi_webhook_secret_configured,
                "last_event_received_at": settings.omochi_last_event_received_at,
                "failed_event_count": settings.omochi_failed_event_count,
                "stuck_transaction_count": settings.omochi_stuck_transaction_count,
                "reconcile_after_minutes": settings.omochi_reconcile_after_minutes,
                "refused_delivery_count": settings.omochi_refused_delivery_count,
                "refused_delivery_reasons": "",
            },
            {
                key: value
                for key, value in values.items()
                if key != "review_transaction_count" and not key.startswith(BACKLOG)
            },
        )

    def test_settings_form_shows_the_figures(self):
        """Settings opens as a new record (onchange), like the health form."""
        ours = self._payment(const.STATUS_PENDING, timedelta(hours=1))
        self._event("failed", self._ago(hours=2), ours)
        self._event("done", self._ago(minutes=30), ours)
        settings = Form(self.env["res.config.settings"].with_user(self.admin))
        self.assertEqual(settings.omochi_failed_event_count, 1)
        self.assertEqual(settings.omochi_stuck_transaction_count, 1)
        self.assertEqual(settings.omochi_last_event_received_at, self._ago(minutes=30))
        self.assertFalse(settings.omochi_webhook_secret_configured)

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    def test_manager_opens_the_health_page(self):
        menu = self.env.ref("omochi_payments.menu_omochi_payment_health")
        action = self.env.ref("omochi_payments.omochi_payment_health_action_server")
        self.assertEqual(menu.action, action)
        menus = self.env["ir.ui.menu"]
        self.assertIn(menu.id, menus.with_user(self.manager)._visible_menu_ids())
        self.assertNotIn(menu.id, menus.with_user(self.user)._visible_menu_ids())

        ours = self._payment(const.STATUS_PENDING, timedelta(hours=1))
        self._event("failed", self._ago(hours=1), ours)
        opened = action.with_user(self.manager).run()
        self.assertEqual(opened["res_model"], "omochi.payment.health")
        self.assertEqual(opened["views"], [(False, "form")])
        record = self.env["omochi.payment.health"].browse(opened["res_id"])
        record = record.with_user(self.manager)
        self.assertEqual(record.company_id, self.company)
        self.assertEqual(record.display_name, "Payments Health")
        self.assertFalse(record.webhook_secret_configured)
        self.assertEqual(record.failed_event_count, 1)
        self.assertEqual(record.stuck_transaction_count, 1)
        self.assertEqual(record.reconcile_after_minutes, 15)
        action = record.action_open_failed_events()
        failed = self.env[action["res_model"]].with_user(self.manager)
        self.assertEqual(len(failed.search(action["domain"])), 1)
        action = record.action_open_stuck_transactions()
        stuck = self.env[action["res_model"]].with_user(self.manager)
        self.assertEqual(stuck.search(action["domain"]), ours)

    def test_dashboard_is_read_only(self):
        """No New, no edit (so no save/discard), no delete or duplicate."""
        arch = self.env["omochi.payment.health"].get_view(view_type="form")["arch"]
        form = etree.fromstring(arch)
        for attribute in ("create", "edit", "delete", "duplicate"):
            self.assertEqual(form.get(attribute), "0", attribute)

    def test_multi_company_manager_sees_the_current_company(self):
        theirs = self._payment(
            const.STATUS_PENDING, timedelta(hours=1), order=self.other_order
        )
        self._event("failed", self._ago(hours=1), theirs)
        self.manager.write(
            {
                "company_ids": [(4, self.other_company.id)],
                "groups_id": [(4, self.env.ref("base.group_multi_company").id)],
            }
        )
        health = self.env["omochi.payment.health"].with_user(self.manager)
        opened = health.action_open_dashboard()
        record = health.browse(opened["res_id"])
        self.assertEqual(
            (record.failed_event_count, record.stuck_transaction_count), (0, 0)
        )
        switched = health.with_company(self.other_company)
        record = switched.browse(switched.action_open_dashboard()["res_id"])
        self.assertEqual(record.company_id, self.other_company)
        self.assertEqual(
            (record.failed_event_count, record.stuck_transaction_count), (1, 1)
        )

    def test_plain_user_cannot_read_the_health(self):
        health = self.env["omochi.payment.health"]
        for user in (self.user, self.portal_user):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    health.with_user(user).check_access("read")
                with self.assertRaises(AccessError):
                    health.with_user(user).create({})
                record = health.with_user(self.manager).create({})
                with self.assertRaises(AccessError):
                    record.with_user(user).read(["failed_event_count"])


@tagged("post_install", "-at_install")
class TestRefusedDeliveries(OmochiPaymentsCase, HttpCase):
    """Deliveries refused before verification: counted by hour and reason,
    their bodies never stored, shown on the dashboard."""

    SECRET = "whsec_omochi_health_refusals_0123"

    def _deliver(self, header):
        body = json.dumps(
            {"id": "evt_refused", "type": "x", "data": {"object": {}}}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Stripe-Signature"] = header(body)
        with mute_logger("odoo.addons.omochi_payments.controllers.webhook"):
            response = self.url_open(
                "/api/payments/webhook/", data=body, headers=headers
            )
        self.assertEqual(response.status_code, 400, response.text)

    def test_refusals_counted_by_reason(self):
        self.env.company.omochi_stripe_webhook_secret = self.SECRET
        health = self.env["omochi.payment.health"]
        self.assertEqual(
            health._omochi_health_values(self.company)["refused_delivery_count"], 0
        )
        self._deliver(None)
        self._deliver(lambda body: "garbled")
        self._deliver(
            lambda body: signature_header(body, self.SECRET, int(time.time()) - 3600)
        )
        self._deliver(lambda body: signature_header(body, "whsec_someone_else"))
        self._deliver(lambda body: signature_header(body, "whsec_someone_else"))
        refusals = self.env["omochi.payment.webhook.refusal"]
        self.assertEqual(
            refusals._omochi_recent_counts(),
            {
                const.WEBHOOK_REFUSAL_BAD_SIGNATURE: 2,
                const.WEBHOOK_REFUSAL_STALE_TIMESTAMP: 1,
                const.WEBHOOK_REFUSAL_UNKNOWN_SECRET: 2,
            },
        )
        self.assertEqual(refusals.search_count([]), 3)  # one row per hour and reason
        self.assertFalse(
            self.env["omochi.payment.event"].search(
                [("stripe_event_id", "=", "evt_refused")]
            )
        )
        values = health._omochi_health_values(self.company)
        self.assertEqual(values["refused_delivery_count"], 5)
        self.assertEqual(
            values["refused_delivery_reasons"],
            "Missing or malformed signature: 2, Stale timestamp: 1, "
            "Signed with an unknown secret: 2",
        )
        record = health.with_user(self.manager).create({})
        action = record.action_open_refusals()
        listed = self.env[action["res_model"]].with_user(self.manager)
        self.assertEqual(sum(listed.search(action["domain"]).mapped("count")), 5)

    def test_counters_older_than_a_day_are_not_shown(self):
        refusals = self.env["omochi.payment.webhook.refusal"]
        refusals.create(
            {
                "hour": fields.Datetime.now() - timedelta(hours=30),
                "reason": const.WEBHOOK_REFUSAL_UNKNOWN_SECRET,
                "count": 7,
            }
        )
        self.assertEqual(refusals._omochi_recent_counts(), {})
