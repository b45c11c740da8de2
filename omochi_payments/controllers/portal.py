"""Paying from the customer portal, and the way back to the order.

* The order page ``/my/omochi_orders/<id>`` shows the order's payments and, when the
  order can be paid, a **Pay now** button posting to ``/my/omochi_orders/<id>/pay``.
* That route checks access exactly like the page (access rules or the order's
  access token; a 404 otherwise), creates or reuses the order's Stripe
  Checkout Session through ``omochi.order._omochi_checkout`` and redirects the
  customer to Stripe. Failures come back to the order page as a fixed error
  code (``?error=not_payable``) shown as a fixed message, never as raw text.
* The Odoo-hosted status page ``/omochi/payment/status`` links back to the
  order when the visitor may see it: logged in with access, or holding the
  order's token carried by the return URL. The session id alone still
  reveals nothing personal.
"""

import logging
from urllib.parse import urlencode

from odoo import http
from odoo.http import request

from odoo.addons.omochi_orders.controllers.portal import OmochiOrderPortal

from ..const import PORTAL_PAY_MAX_BODY_BYTES
from ..exceptions import OmochiPaymentError, OrderNotPayableError
from ..tools.stripe_gateway import StripeGatewayError

_logger = logging.getLogger(__name__)

STATUS_PAGE_PATH = "/omochi/payment/status"


def _portal_error_messages(env):
    """The messages of the ``error`` codes the pay route sends back to the
    order page; any other value of ``error`` is ignored."""
    return {
        "not_payable": env._(
            "This order cannot be paid online: it is not awaiting payment "
            "(not confirmed yet, already paid, cancelled, or a payment is in "
            "progress)."
        ),
        "stripe_unavailable": env._(
            "The payment service could not be reached. You have not been "
            "charged; please try again in a few minutes."
        ),
        "payment_error": env._(
            "The payment could not be started. Please try again later or contact us."
        ),
    }


class OmochiPaymentsPortal(OmochiOrderPortal):
    """The payment part of the order page and the **Pay now** route."""

    @staticmethod
    def _omochi_is_payable(order_sudo):
        """Whether the order can be paid now (the checks of the checkout:
        confirmed, not paid, no payment in progress, something to pay).

        :rtype: bool
        """
        try:
            order_sudo._omochi_check_payable()
        except OrderNotPayableError:
            return False
        return True

    def _omochi_order_page_values(self, order_sudo, access_token=None, **kwargs):
        """Add the payments, the **Pay now** availability and the message of
        a known ``error`` code."""
        values = super()._omochi_order_page_values(order_sudo, access_token, **kwargs)
        error = kwargs.get("error")
        messages = _portal_error_messages(request.env)
        values.update(
            {
                "omochi_transactions": order_sudo.transaction_ids.sorted(
                    lambda tx: (tx.create_date, tx.id), reverse=True
                ),
                "omochi_can_pay": self._omochi_is_payable(order_sudo),
                "omochi_error_message": (
                    messages.get(error) if isinstance(error, str) else None
                ),
            }
        )
        return values

    def _omochi_accessible_by_rights(self, order_sudo):
        """Whether the current user may read the order by the access rules
        (rather than through its access token)."""
        return order_sudo.with_user(request.env.user).has_access("read")

    def _omochi_portal_return_url(self, order_sudo):
        """The Odoo status page the customer comes back to from Stripe.

        It names the order (its public uuid), so that the page can link back
        to it; a visitor who reached the order through its access token gets
        the token too (they have no other way to see the order), a logged-in
        customer does not need it.
        """
        query = {"order_id": order_sudo.uuid}
        if not self._omochi_accessible_by_rights(order_sudo):
            query["order_token"] = order_sudo._portal_ensure_token()
        return f"{order_sudo.get_base_url()}{STATUS_PAGE_PATH}?{urlencode(query)}"

    @staticmethod
    def _omochi_stripe_error_code(order_sudo, error):
        """The ``error`` code of a Stripe failure: ``stripe_unavailable`` when
        Stripe could not be reached or failed (retrying later helps),
        ``payment_error`` when the shop's configuration is at fault (no key,
        a key or request Stripe refuses)."""
        if not order_sudo.company_id._omochi_stripe_config().secret_key:
            return "payment_error"
        if error.http_status is None or error.http_status in (409, 429):
            return "stripe_unavailable"
        if error.http_status >= 500:
            return "stripe_unavailable"
        return "payment_error"

    def _omochi_order_page_redirect(self, order_sudo, access_token, error):
        """Back to the order page with an error code."""
        query = {"error": error}
        if access_token:
            query["access_token"] = access_token
        return request.redirect(f"{order_sudo.access_url}?{urlencode(query)}")

    @http.route(
        "/my/omochi_orders/<int:order_id>/pay",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
        # Checked by ir.http._pre_dispatch, before the form is parsed.
        max_content_length=PORTAL_PAY_MAX_BODY_BYTES,
        omochi_body_limit=True,
    )
    def portal_omochi_order_pay(self, order_id, access_token=None, **_kwargs):
        """**Pay now**: open (or reuse) the order's Stripe Checkout Session
        and send the customer there (303)."""
        order_sudo = self._omochi_order_check_access(order_id, access_token)
        if not self._omochi_is_payable(order_sudo):
            return self._omochi_order_page_redirect(
                order_sudo, access_token, "not_payable"
            )
        try:
            transaction, _created = order_sudo._omochi_checkout(
                return_url=self._omochi_portal_return_url(order_sudo)
            )
        except StripeGatewayError as error:
            # The transaction keeps the error for a retry (same idempotency key).
            _logger.warning(
                "Portal payment of %s failed at Stripe: %s",
                order_sudo.name,
                error.message,
            )
            return self._omochi_order_page_redirect(
                order_sudo,
                access_token,
                self._omochi_stripe_error_code(order_sudo, error),
            )
        except OrderNotPayableError:
            request.env.cr.rollback()
            return self._omochi_order_page_redirect(
                order_sudo, access_token, "not_payable"
            )
        except OmochiPaymentError as error:
            request.env.cr.rollback()
            _logger.warning(
                "Portal payment of %s refused: %s", order_sudo.name, error.args[0]
            )
            return self._omochi_order_page_redirect(
                order_sudo, access_token, "payment_error"
            )
        return request.redirect(transaction.checkout_url, code=303, local=False)
