"""The Odoo-hosted payment status page, for customers without a frontend.

``/omochi/payment/status?session_id=...`` shows the result of a Stripe
Checkout from the same status logic as ``/api/payments/check_status/``. The
session id is the visitor's only credential, so the page reveals nothing
personal: no name, e-mail or address, only the payment's status, amount and
order reference.
"""

from odoo import http
from odoo.http import request

from ..const import CHECKOUT_SESSION_ID_PATTERN


class OmochiPaymentStatusPage(http.Controller):
    @http.route(
        "/omochi/payment/status",
        type="http",
        auth="public",
        methods=["GET"],
        website=True,
    )
    def payment_status(self, session_id=None, status=None, **_query):
        """Render the status of the payment of ``session_id``.

        Without a session (Stripe's cancel URL carries none) the page says
        the payment was cancelled; an unknown session is a 404 page.
        """
        transaction = request.env["omochi.payment.transaction"]
        if isinstance(session_id, str) and CHECKOUT_SESSION_ID_PATTERN.match(
            session_id
        ):
            transaction = transaction.sudo().search(
                [("stripe_checkout_session_id", "=", session_id)], limit=1
            )
            if not transaction:
                return request.render(
                    "omochi_payments.payment_status_page",
                    {"transaction": transaction, "not_found": True},
                    status=404,
                )
            transaction._stripe_refresh()
        elif status != "cancelled":
            return request.render(
                "omochi_payments.payment_status_page",
                {"transaction": transaction, "not_found": True},
                status=404,
            )
        return request.render(
            "omochi_payments.payment_status_page",
            {"transaction": transaction, "not_found": False},
            headers={"Cache-Control": "no-store"},
        )
