from odoo.tests import tagged

from .common import OmochiPaymentsCase


@tagged("post_install", "-at_install")
class TestOrderPaymentState(OmochiPaymentsCase):
    def test_no_transaction(self):
        order = self._create_order(self.customer)
        self.assertEqual(order.payment_state, "not_paid")
        self.assertEqual(order.transaction_count, 0)

    def test_each_status(self):
        expected = {
            "pending": "pending",
            "processing": "pending",
            "completed": "paid",
            "failed": "not_paid",
            "cancelled": "not_paid",
            "expired": "not_paid",
            "partially_refunded": "partially_refunded",
            "refunded": "refunded",
        }
        order = self._create_order(self.customer)
        transaction = self._create_transaction(order)
        for status, payment_state in expected.items():
            with self.subTest(status=status):
                transaction.status = status
                self.assertEqual(order.payment_state, payment_state)
                # The field is stored: searching on it sees the new value.
                self.env.flush_all()
                found = self.env["omochi.order"].search(
                    [("id", "=", order.id), ("payment_state", "=", payment_state)]
                )
                self.assertEqual(found, order)

    def test_precedence(self):
        cases = [
            (("failed", "completed"), "paid"),
            (("refunded", "completed"), "paid"),
            (("expired", "partially_refunded", "refunded"), "partially_refunded"),
            (("refunded", "pending"), "refunded"),
            (("expired", "processing"), "pending"),
            (("expired", "failed", "cancelled"), "not_paid"),
        ]
        for statuses, payment_state in cases:
            with self.subTest(statuses=statuses):
                order = self._create_order(self.customer)
                for status in statuses:
                    self._create_transaction(order, status=status)
                self.assertEqual(order.payment_state, payment_state)

    def test_smart_button(self):
        order = self._create_order(self.customer)
        first = self._create_transaction(order, status="expired")
        self.assertEqual(order.transaction_count, 1)
        action = order.action_view_transactions()
        self.assertEqual(action["res_model"], "omochi.payment.transaction")
        self.assertEqual(action["res_id"], first.id)
        self.assertEqual(action["views"], [(False, "form")])

        second = self._create_transaction(order)
        self._create_transaction(self.stranger_order)
        self.assertEqual(order.transaction_count, 2)
        action = order.action_view_transactions()
        self.assertEqual(action["domain"], [("order_id", "=", order.id)])
        self.assertFalse(action.get("res_id"))
        self.assertEqual(action["views"][0], (False, "list"))
        found = self.env[action["res_model"]].search(action["domain"])
        self.assertEqual(found, first | second)

    def test_smart_button_as_user(self):
        self._create_transaction(self.order)
        order = self.order.with_user(self.user)
        self.assertEqual(order.transaction_count, 1)
        action = order.action_view_transactions()
        self.assertEqual(action["res_id"], self.order.transaction_ids.id)

    def test_payments_list_sums_received_money_only(self):
        """A failed attempt and its completed retry: 1× the order, not 2×."""
        order = self._create_order(self.customer)
        self._create_transaction(order, status="failed")
        self._create_transaction(order, status="completed")
        groups = self.env["omochi.payment.transaction"].read_group(
            [("order_id", "=", order.id)], ["amount_received:sum"], []
        )
        self.assertEqual(groups[0]["amount_received"], order.amount_total)
        view = self.env.ref("omochi_payments.omochi_payment_transaction_view_list")
        self.assertIn('name="amount_received" sum=', view.arch)
        self.assertNotIn('name="amount" sum=', view.arch)
