"""The Odoo-hosted payment status page, for customers without a frontend.

``/omochi/payment/status?session_id=...`` shows the result of a Stripe
Checkout from the same status logic as ``/api/payments/check_status/``. The
session id is the visitor's only credential, so the page reveals nothing
personal: no name, e-mail or address, only the payment's status, amount and
order reference.
"""

from odoo import http
from odoo.http import request
from odoo.tools import consteq

from ..const import CHECKOUT_SESSION_ID_PATTERN
from .api import error_response, json_response


class OmochiPaymentStatusPage(http.Controller):
    @http.route(
        "/omochi/payment/status",
        type="http",
        auth="public",
        methods=["GET"],
        website=True,
    )
    def payment_status(self, session_id=None, status=None, **query):
        """Render the status of the payment of ``session_id``.

        Without a session (Stripe's cancel URL carries none) the page says
        the payment was cancelled; an unknown session is a 404 page. The page
        links back to the order only for a visitor who may see it: the
        order's customer, or whoever holds its access token (``order_token``,
        put in the return URL by the portal's Pay now).
        """
        transaction = request.env["omochi.payment.transaction"]
        not_found = False
        if isinstance(session_id, str) and CHECKOUT_SESSION_ID_PATTERN.match(
            session_id
        ):
            transaction = transaction.sudo().search(
                [("stripe_checkout_session_id", "=", session_id)], limit=1
            )
            not_found = not transaction
            if transaction:
                transaction._stripe_refresh_on_request()
        elif status != "cancelled":
            not_found = True
        values = {"transaction": transaction, "not_found": not_found}
        order_sudo = transaction.sudo().order_id or self._omochi_order_by_uuid(
            query.get("order_id")
        )
        if (
            not not_found
            and order_sudo
            and self._omochi_may_see(order_sudo, query.get("order_token"))
        ):
            values["order_portal_url"] = self._omochi_order_url(order_sudo)
        return request.render(
            "omochi_payments.payment_status_page",
            values,
            status=404 if not_found else 200,
            headers={"Cache-Control": "no-store"},
        )

    @http.route(
        "/omochi/payment/status/poll",
        type="http",
        auth="public",
        methods=["GET"],
        save_session=False,
    )
    def payment_status_poll(self, session_id=None, **_query):
        """The status page's poll: ``{"status": "<API status>"}`` of the
        payment of ``session_id``, refreshed from Stripe while not final, as
        rarely as the page (the refresh claim). Nothing more than the page
        itself shows."""
        transaction = request.env["omochi.payment.transaction"]
        if isinstance(session_id, str) and CHECKOUT_SESSION_ID_PATTERN.match(
            session_id
        ):
            transaction = transaction.sudo().search(
                [("stripe_checkout_session_id", "=", session_id)], limit=1
            )
        if not transaction:
            return error_response(404, "not_found", "No such payment.")
        transaction._stripe_refresh_on_request()
        return json_response({"status": transaction._get_api_status()})

    @staticmethod
    def _omochi_order_url(order_sudo):
        """Where "Back to your order" leads: the back-office form for an
        Omochi user who may read the order, the portal page otherwise."""
        user = request.env.user
        if user.has_group("omochi_orders.group_omochi_user") and order_sudo.with_user(
            user
        ).has_access("read"):
            return f"/odoo/omochi.order/{order_sudo.id}"
        return order_sudo.get_portal_url()

    @staticmethod
    def _omochi_order_by_uuid(order_uuid):
        """The order (sudo) of a uuid from the query, or an empty record."""
        orders = request.env["omochi.order"].sudo()
        if not isinstance(order_uuid, str) or len(order_uuid) != 36:
            return orders
        return orders.search([("uuid", "=", order_uuid)], limit=1)

    @staticmethod
    def _omochi_may_see(order_sudo, order_token):
        """Whether the visitor may see the order: by the access rules, or with
        its access token."""
        if order_sudo.with_user(request.env.user).has_access("read"):
            return True
        return bool(
            isinstance(order_token, str)
            # consteq raises on non-ASCII text; tokens are ASCII anyway
            and order_token.isascii()
            and order_sudo.access_token
            and consteq(order_sudo.access_token, order_token)
        )
