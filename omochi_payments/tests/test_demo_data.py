"""The demo data lets a newcomer walk through the product: currencies active,
no made-up Stripe ids, and orders left to pay in the back office and in the
customer portal."""

from odoo.tests import TransactionCase, tagged

STRIPE_ID_FIELDS = (
    "stripe_checkout_session_id",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "checkout_url",
)


@tagged("post_install", "-at_install")
class TestDemoData(TransactionCase):
    def test_demo_data(self):
        module = self.env["ir.module.module"].search([("name", "=", "omochi_payments")])
        portal_user = self.env.ref(
            "omochi_orders.demo_user_portal", raise_if_not_found=False
        )
        if not module.demo:
            self.assertFalse(portal_user, "demo records in a database without demo")
            return
        self.assertTrue(self.env.ref("base.EUR").active)
        self.assertTrue(self.env.ref("base.JPY").active)
        demo_transactions = self.env["omochi.payment.transaction"].browse(
            self.env["ir.model.data"]
            .search(
                [
                    ("module", "=", "omochi_payments"),
                    ("model", "=", "omochi.payment.transaction"),
                ]
            )
            .mapped("res_id")
        )
        self.assertTrue(demo_transactions)
        for field_name in STRIPE_ID_FIELDS:
            self.assertFalse(any(demo_transactions.mapped(field_name)), field_name)

        payable = self.env["omochi.order"].search(
            [("state", "=", "confirmed"), ("payment_state", "=", "not_paid")]
        )
        customer = portal_user.partner_id.commercial_partner_id
        portal_orders = (
            payable.with_user(portal_user)
            .sudo(False)
            .search([("id", "in", payable.ids)])
        )
        self.assertTrue(
            all(o.partner_id.commercial_partner_id == customer for o in portal_orders)
        )
        self.assertGreaterEqual(len(portal_orders), 3)
        self.assertGreaterEqual(len(payable - portal_orders), 3)
