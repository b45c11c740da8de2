"""What Stripe caused is signed by OdooBot, not by the user who happened to
apply it (a status page visit, a back-office refresh, a cron)."""

from odoo.tests import tagged

from .. import const
from .test_webhook import WebhookCase


@tagged("post_install", "-at_install")
class TestStripeAuthor(WebhookCase):
    def test_completion_messages_signed_by_odoobot(self):
        admin = self.env.ref("base.user_admin")
        odoobot = self.env.ref("base.partner_root")
        transaction = self.new_payment()
        order = transaction.order_id
        self.pay(transaction)
        # The admin's request refreshes the payment from Stripe (status page).
        transaction.with_user(admin).sudo()._stripe_refresh()
        self.env.cr.precommit.run()  # the tracking messages are posted here
        self.env.invalidate_all()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)
        messages = transaction.message_ids | order.message_ids
        stripe_messages = messages.filtered(
            lambda message: (
                "completed at Stripe" in (message.body or "")
                or "Order paid" in (message.body or "")
                or message.tracking_value_ids
            )
        )
        self.assertGreaterEqual(len(stripe_messages), 2)  # one in each chatter
        self.assertEqual(stripe_messages.author_id, odoobot)
        self.assertNotIn(admin.partner_id, stripe_messages.author_id)
