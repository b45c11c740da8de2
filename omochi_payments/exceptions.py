"""Errors of Omochi Payments that callers map to an answer (HTTP status, UI)."""

from odoo.exceptions import UserError


class OmochiPaymentError(UserError):
    """A payment request that cannot be served as asked.

    :cvar str code: The snake_case error code of the API (DESIGN §7).
    :cvar int http_status: The HTTP status the API answers with.
    :cvar str field: The request field at fault, if any.
    """

    code = "payment_error"
    http_status = 400
    field = None


class OrderNotPayableError(OmochiPaymentError):
    """The order cannot be paid in its state (draft, paid, cancelled...)."""

    code = "order_not_payable"
    http_status = 409


class ReturnUrlNotAllowedError(OmochiPaymentError):
    """The ``return_url`` is not on an allowed origin (no open redirect)."""

    code = "return_url_not_allowed"
    http_status = 400
    field = "return_url"
