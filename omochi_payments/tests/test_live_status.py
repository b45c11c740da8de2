"""Live payment status: Odoo's bus tells the back office, the status page
follows the payment by itself, and "Back to your order" suits the visitor."""

import json

from lxml import html

from odoo.tests import HttpCase, tagged

from .. import const
from ..exceptions import OrderNotPayableError
from .common import OmochiPaymentsCase, StripeSimulatorMixin

STATUS_PAGE = "/omochi/payment/status"


@tagged("post_install", "-at_install")
class TestLiveStatus(StripeSimulatorMixin, OmochiPaymentsCase, HttpCase):
    def _bus_messages(self, notification_type):
        """The bus notifications of ``notification_type``, as stored on commit."""
        self.env.cr.precommit.run()
        messages = self.env["bus.bus"].sudo().search([], order="id")
        decoded = [json.loads(message.message) for message in messages]
        return [
            (json.loads(message.channel), payload["payload"])
            for message, payload in zip(messages, decoded, strict=True)
            if payload["type"] == notification_type
        ]

    def _pay_from_back_office(self):
        """The user presses Pay; returns the new transaction."""
        action = self.order.with_user(self.user).action_pay()
        self.assertEqual(action["type"], "ir.actions.act_url")
        transaction = self.order.transaction_ids
        self.assertEqual(transaction.pay_user_id, self.user)
        return transaction

    def test_bus_tells_the_forms_and_the_user_who_pressed_pay(self):
        transaction = self._pay_from_back_office()
        self.env.cr.precommit.run()
        self.env["bus.bus"].sudo().search([]).unlink()
        self.complete_session(transaction.stripe_checkout_session_id)
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_COMPLETED)

        group = self.env.ref("omochi_orders.group_omochi_user")
        [(channel, payload)] = self._bus_messages(const.BUS_STATUS_NOTIFICATION)
        self.assertEqual(channel[1:], ["res.groups", group.id])
        self.assertEqual(
            payload,
            {
                "transaction_id": transaction.id,
                "order_id": self.order.id,
                "status": "completed",
            },
        )
        [(channel, notice)] = self._bus_messages("simple_notification")
        self.assertEqual(channel[1:], ["res.partner", self.user.partner_id.id])
        self.assertEqual(notice["type"], "success")
        self.assertIn(self.order.name, notice["message"])
        self.assertIn(
            transaction.currency_id.format(transaction.amount), notice["message"]
        )

    def test_declined_card_notifies_the_failure(self):
        transaction = self._pay_from_back_office()
        self.env.cr.precommit.run()
        self.env["bus.bus"].sudo().search([]).unlink()
        self.complete_session(transaction.stripe_checkout_session_id, "failed")
        transaction._stripe_refresh()
        self.assertEqual(transaction.status, const.STATUS_FAILED)
        [(_channel, notice)] = self._bus_messages("simple_notification")
        self.assertEqual(notice["type"], "danger")

    def test_status_page_follows_the_payment(self):
        transaction, _created = self.order._omochi_checkout()
        session_id = transaction.stripe_checkout_session_id
        poll_url = f"{STATUS_PAGE}/poll?session_id={session_id}"

        page = html.fromstring(
            self.url_open(f"{STATUS_PAGE}?session_id={session_id}").content
        )
        [status_box] = page.xpath("//*[hasclass('o_omochi_payment_status')]")
        self.assertEqual(status_box.get("data-status"), "PENDING")
        self.assertEqual(status_box.get("data-poll-url"), poll_url)
        self.assertEqual(self.url_open(poll_url).json(), {"status": "PENDING"})

        self.complete_session(session_id)
        # Stripe is asked again once the refresh interval has passed.
        self.assertEqual(self.url_open(poll_url).json(), {"status": "PENDING"})
        self.age_refresh_claims()
        self.assertEqual(self.url_open(poll_url).json(), {"status": "COMPLETED"})
        page = html.fromstring(
            self.url_open(f"{STATUS_PAGE}?session_id={session_id}").content
        )
        [status_box] = page.xpath("//*[hasclass('o_omochi_payment_status')]")
        self.assertEqual(status_box.get("data-status"), "COMPLETED")
        self.assertIsNone(status_box.get("data-poll-url"))  # final: no polling

    def test_poll_of_unknown_session_is_a_json_404(self):
        for query in ("session_id=cs_test_unknown", "session_id=x", ""):
            with self.subTest(query=query):
                response = self.url_open(f"{STATUS_PAGE}/poll?{query}")
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response.json()["error"]["code"], "not_found")

    def test_back_office_user_goes_back_to_the_form(self):
        transaction, _created = self.order._omochi_checkout()
        session_id = transaction.stripe_checkout_session_id
        self.authenticate(self.user.login, self.user.login)
        page = html.fromstring(
            self.url_open(f"{STATUS_PAGE}?session_id={session_id}").content
        )
        [link] = page.xpath(
            "//*[hasclass('o_omochi_payment_status_order_link')]//a/@href"
        )
        self.assertEqual(link, f"/odoo/omochi.order/{self.order.id}")

        self.authenticate(self.portal_user.login, self.portal_user.login)
        page = html.fromstring(
            self.url_open(f"{STATUS_PAGE}?session_id={session_id}").content
        )
        [link] = page.xpath(
            "//*[hasclass('o_omochi_payment_status_order_link')]//a/@href"
        )
        self.assertEqual(link, self.order.get_portal_url())

    def test_payment_link_only_for_payable_orders(self):
        action = self.order.with_user(self.user).action_omochi_payment_link()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(
            wizard.link, self.order.get_base_url() + self.order.get_portal_url()
        )
        self.assertIn("access_token=", wizard.link)
        composer = wizard.action_send_email()
        template = self.env.ref("omochi_payments.mail_template_omochi_payment_link")
        self.assertEqual(composer["context"]["default_template_id"], template.id)
        draft = self._create_order(self.customer_contact)
        draft.action_draft()
        with self.assertRaises(OrderNotPayableError):
            draft.with_user(self.user).action_omochi_payment_link()
