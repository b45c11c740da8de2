from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import OmochiPaymentsCase


@tagged("post_install", "-at_install")
class TestPaymentAccess(OmochiPaymentsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.transaction = cls._create_transaction(cls.order)
        cls.stranger_transaction = cls._create_transaction(cls.stranger_order)
        cls.event = cls.env["omochi.payment.event"].create(
            {"stripe_event_id": "evt_access", "transaction_id": cls.transaction.id}
        )
        cls.orphan_event = cls.env["omochi.payment.event"].create(
            {"stripe_event_id": "evt_orphan", "type": "customer.created"}
        )
        other_order = cls._create_order(cls.stranger, company_id=cls.other_company.id)
        cls.other_transaction = cls._create_transaction(other_order)
        cls.other_event = cls.env["omochi.payment.event"].create(
            {"stripe_event_id": "evt_other", "transaction_id": cls.other_transaction.id}
        )
        cls.mine = cls.transaction | cls.stranger_transaction

    def _search_transactions(self, user):
        return self.env["omochi.payment.transaction"].with_user(user).search([])

    def _search_events(self, user):
        return self.env["omochi.payment.event"].with_user(user).search([])

    def test_user_reads_transactions_not_events(self):
        found = self._search_transactions(self.user)
        self.assertEqual(found & self.mine, self.mine)
        transaction = self.transaction.with_user(self.user)
        self.assertEqual(transaction.order_id, self.order)
        self.assertTrue(transaction.stripe_checkout_session_id is False)
        with self.assertRaises(AccessError):
            self._search_events(self.user)
        with self.assertRaises(AccessError):
            self.event.with_user(self.user).read(["payload"])
        with self.assertRaises(AccessError):
            transaction.read(["event_ids"])

    def test_user_cannot_change_transactions(self):
        transaction = self.transaction.with_user(self.user)
        with self.assertRaises(AccessError):
            transaction.write({"status": "completed"})
        with self.assertRaises(AccessError):
            self.env["omochi.payment.transaction"].with_user(self.user).create(
                {"order_id": self.order.id}
            )
        with self.assertRaises(AccessError):
            transaction.unlink()
        # Logging a note in the chatter only needs read access.
        transaction.message_post(body="Customer called", message_type="comment")

    def test_manager_reads_events(self):
        events = self._search_events(self.manager)
        self.assertIn(self.event, events)
        self.assertIn(self.orphan_event, events)
        self.assertNotIn(self.other_event, events)
        transaction = self.transaction.with_user(self.manager)
        self.assertEqual(transaction.event_ids, self.event)
        self.assertEqual(self.event.with_user(self.manager).payload, False)
        with self.assertRaises(AccessError):
            self.event.with_user(self.manager).write({"state": "done"})
        with self.assertRaises(AccessError):
            self.env["omochi.payment.event"].with_user(self.manager).create(
                {"stripe_event_id": "evt_manual"}
            )
        with self.assertRaises(AccessError):
            transaction.unlink()

    def test_portal_reads_own_transactions_only(self):
        found = self._search_transactions(self.portal_user)
        self.assertEqual(found, self.transaction)
        self.assertEqual(
            self.transaction.with_user(self.portal_user).amount, self.order.amount_total
        )
        with self.assertRaises(AccessError):
            self.stranger_transaction.with_user(self.portal_user).read(["amount"])
        with self.assertRaises(AccessError):
            self._search_events(self.portal_user)
        with self.assertRaises(AccessError):
            self.transaction.with_user(self.portal_user).write({"status": "completed"})
        order = self.order.with_user(self.portal_user)
        self.assertEqual(order.transaction_ids, self.transaction)
        self.assertEqual(order.payment_state, "pending")

    def test_other_company_sees_nothing(self):
        found = self._search_transactions(self.other_company_manager)
        self.assertEqual(found, self.other_transaction)
        with self.assertRaises(AccessError):
            self.transaction.with_user(self.other_company_manager).read(["amount"])
        events = self._search_events(self.other_company_manager)
        self.assertEqual(events & (self.event | self.other_event), self.other_event)
        self.assertIn(self.orphan_event, events)

    def test_secret_fields_admin_only(self):
        self.company.sudo().write(
            {
                "omochi_stripe_secret_key": "sk_test_secret",
                "omochi_stripe_webhook_secret": "whsec_secret",
                "omochi_stripe_publishable_key": "pk_test_public",
            }
        )
        for field in ("omochi_stripe_secret_key", "omochi_stripe_webhook_secret"):
            for user in (self.user, self.manager, self.portal_user):
                with self.subTest(field=field, user=user.login):
                    company = self.company.with_user(user)
                    with self.assertRaises(AccessError):
                        company.read([field])
            self.assertTrue(self.company.with_user(self.admin).read([field])[0][field])
        self.assertEqual(
            self.company.with_user(self.user).omochi_stripe_publishable_key,
            "pk_test_public",
        )

    def test_views_load_for_each_group(self):
        for user in (self.user, self.manager):
            for model in ("omochi.payment.transaction", "omochi.order"):
                with self.subTest(user=user.login, model=model):
                    views = (
                        self.env[model]
                        .with_user(user)
                        .get_views(
                            [(False, "list"), (False, "form"), (False, "search")]
                        )
                    )
                    self.assertIn("form", views["views"])
            form = (
                self.env["omochi.payment.transaction"]
                .with_user(user)
                .get_views([(False, "form")])["views"]["form"]["arch"]
            )
            self.assertEqual("event_ids" in form, user == self.manager)
        order_form = (
            self.env["omochi.order"]
            .with_user(self.user)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn("action_view_transactions", order_form)
        settings_form = (
            self.env["res.config.settings"]
            .with_user(self.admin)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn("omochi_stripe_secret_key", settings_form)
