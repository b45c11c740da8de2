from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.tools import float_is_zero

from .. import const
from ..exceptions import OrderNotPayableError
from ..tools.stripe_amounts import to_minor_units
from ..tools.stripe_gateway import StripeGatewayError


class OmochiOrder(models.Model):
    """Link orders to their payment transactions."""

    _inherit = "omochi.order"

    transaction_ids = fields.One2many(
        "omochi.payment.transaction",
        "order_id",
        string="Payments",
        readonly=True,
        copy=False,
    )
    transaction_count = fields.Integer(
        string="Payment Count", compute="_compute_transaction_count"
    )

    @api.depends("transaction_ids")
    def _compute_transaction_count(self):
        """Count the transactions of the orders (for the smart button)."""
        for order in self:
            order.transaction_count = len(order.transaction_ids)

    @api.depends(
        "transaction_ids.status",
        "transaction_ids.amount",
        "transaction_ids.amount_refunded",
        "transaction_ids.review_required",
    )
    def _compute_payment_state(self):
        """Derive the payment state of the orders from their transactions.

        An order may have several transactions (e.g. an expired session and a
        later successful one). The first matching rule wins:

        1. a ``completed`` transaction: ``paid`` (money is held, even if another
           payment of the order was refunded);
        2. a ``partially_refunded`` transaction: ``partially_refunded``;
        3. a ``refunded`` transaction: ``refunded``;
        4. a ``pending`` or ``processing`` transaction: ``pending``;
        5. otherwise (none, or only failed/cancelled/expired): ``not_paid``.

        Payments flagged for review did not pay the order (§4): left out.
        """
        res = super()._compute_payment_state()
        for order in self:
            statuses = set(
                order.transaction_ids.filtered(
                    lambda tx: not tx.review_required
                ).mapped("status")
            )
            order.payment_state = self._payment_state_from_statuses(statuses)
        return res

    @api.model
    def _payment_state_from_statuses(self, statuses):
        """Return the order payment state for a set of transaction statuses.

        :param set statuses: The statuses of the order's transactions.
        :return: A ``payment_state`` selection key (see
            ``_compute_payment_state`` for the precedence).
        :rtype: str
        """
        if const.STATUS_COMPLETED in statuses:
            return "paid"
        if const.STATUS_PARTIALLY_REFUNDED in statuses:
            return "partially_refunded"
        if const.STATUS_REFUNDED in statuses:
            return "refunded"
        if statuses & set(const.OPEN_STATUSES):
            return "pending"
        return "not_paid"

    def action_view_transactions(self):
        """Open the payment transactions of the order (smart button).

        :return: An ``ir.actions.act_window`` dict.
        :rtype: dict
        """
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "omochi_payments.omochi_payment_transaction_action"
        )
        action["domain"] = [("order_id", "=", self.id)]
        action["context"] = {"create": False}
        if self.transaction_count == 1:
            action["views"] = [(False, "form")]
            action["res_id"] = self.transaction_ids.id
        return action

    def action_omochi_payment_link(self):
        """**Payment Link**: open the dialog with the order's payment link.

        :raise OrderNotPayableError: the order cannot be paid.
        :return: An ``ir.actions.act_window`` of the link wizard.
        :rtype: dict
        """
        self.ensure_one()
        self.check_access("write")
        self._omochi_check_payable()
        # The token is made here, in a read/write call: the dialog's link is
        # computed again by read-only calls (web_read), which cannot write it.
        self._portal_ensure_token()
        wizard = self.env["omochi.payment.link.wizard"].create({"order_id": self.id})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Payment Link"),
            "res_model": wizard._name,
            "res_id": wizard.id,
            "views": [(False, "form")],
            "target": "new",
        }

    def action_send_payment_link(self):
        """Open the mail composer with the payment link template (the
        composer of **Send by Email**, another template)."""
        action = self.action_send_by_email()
        template = self.env.ref("omochi_payments.mail_template_omochi_payment_link")
        action["name"] = self.env._("Send Payment Link")
        action["context"] = {**action["context"], "default_template_id": template.id}
        return action

    def action_cancel(self):
        """Cancel the orders, first cancelling their pending payments."""
        self._omochi_cancel_pending_payments()
        return super().action_cancel()

    def action_draft(self):
        """Reset the orders to draft, first cancelling their pending payments
        (the lines become editable: the old amount must not be paid)."""
        self._omochi_cancel_pending_payments()
        return super().action_draft()

    def _omochi_cancel_pending_payments(self):
        """Cancel the pending payments of the orders.

        Their open Checkout Sessions are expired at Stripe, so that nobody pays
        an order that changed; a session found paid makes the order paid,
        which then refuses the cancellation. A payment Stripe is still
        processing (asynchronous methods) blocks the change.
        """
        self.check_access("write")
        processing = self.transaction_ids.filtered(
            lambda tx: tx.status == const.STATUS_PROCESSING
        )
        if processing:
            raise UserError(
                self.env._(
                    "Payment %s is being processed by Stripe; wait for its outcome "
                    "before changing the order.",
                    processing[0].reference,
                )
            )
        self.transaction_ids.filtered(
            lambda tx: tx.status in (const.STATUS_PENDING, const.STATUS_FAILED)
        ).action_cancel()

    # ------------------------------------------------------------------
    # Checkout
    # ------------------------------------------------------------------

    def action_pay(self):
        """Back-office **Pay** button: open the order's Stripe Checkout page.

        The customer comes back to Odoo's own payment status page (the person
        paying from the back-office is in Odoo, not in the frontend). Errors
        from Stripe are shown as a notification rather than raised, so that
        the transaction keeps the error message for a later retry.

        :return: An ``ir.actions.act_url`` to the checkout page (new tab), or a
            danger notification when Stripe failed.
        :rtype: dict
        """
        self.ensure_one()
        self.check_access("write")
        try:
            transaction, _created = self._omochi_checkout(
                return_url=f"{self.get_base_url()}/omochi/payment/status"
            )
        except StripeGatewayError as error:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "danger",
                    "title": self.env._("Stripe Checkout failed"),
                    "message": error.message,
                    "sticky": True,
                },
            }
        transaction.pay_user_id = self.env.user
        return {
            "type": "ir.actions.act_url",
            "url": transaction.checkout_url,
            "target": "new",
        }

    def _omochi_checkout(self, return_url=None):
        """Create or reuse the order's open Stripe Checkout Session.

        The one entry point of every way to pay (Pay button, ``/api`` routes,
        JSON-RPC, portal). The caller has checked that its user may see the
        order; the work runs as superuser from here on. The order row is locked
        first, so concurrent calls for one order create exactly one session:
        the later ones wait, fail to serialize, and Odoo retries them, when
        they find the open session.

        :param str return_url: Where the customer returns to after paying or
            cancelling (validated against the allowed origins); ``None`` for
            the frontend's ``/payment/status`` page.
        :return: ``(transaction, created)``; ``created`` is ``False`` when an
            open session was reused.
        :raise OrderNotPayableError: The order is draft, paid, cancelled...
        :raise ReturnUrlNotAllowedError: ``return_url`` is on a foreign origin.
        :raise StripeGatewayError: Stripe failed; the transaction keeps the
            error and is retried with the same idempotency key next time.
        """
        self.ensure_one()
        order = self.sudo()
        transactions = self.env["omochi.payment.transaction"].sudo()
        config = order.company_id._omochi_stripe_config()
        return_urls = transactions._omochi_return_urls(config, return_url)
        order._omochi_lock_for_checkout()
        order._omochi_check_payable()
        transaction = order._omochi_open_transaction(return_url)
        # Closing an earlier session may have found it paid or processing.
        order._omochi_check_payable()
        if transaction.checkout_url:
            return transaction, False
        if not transaction:
            transaction = transactions.create({"order_id": order.id})
        transaction._stripe_create_checkout_session(config, return_urls, return_url)
        return transaction, True

    def omochi_pay(self, return_url=None):
        """JSON-RPC entry point of ``POST /api/orders/<uuid>/pay/`` (DESIGN §7).

        ``execute_kw(db, uid, api_key, "omochi.order", "omochi_pay",
        [[order_id]], {"return_url": "https://shop.example/payment/status"})``

        :param str return_url: Where Stripe sends the customer back (on an
            allowed origin); ``None`` or empty for ``FRONTEND_URL``'s page.
        :return: ``{"payment_id", "checkout_session_id", "checkout_url"}``,
            the dict of the pay routes.
        :rtype: dict
        :raise AccessError: the order does not exist or the caller may not
            read it (one error for both).
        :raise UserError: ``return_url`` is not a string or not allowed, the
            order is not payable (``OrderNotPayableError``, the routes'
            message), or Stripe failed (its message; paying again is safe).
        """
        if return_url is not None and not isinstance(return_url, str):
            raise UserError(self.env._("'return_url' must be a string."))
        order = self._omochi_rpc_readable_order()
        try:
            transaction, _created = order._omochi_checkout(
                return_url=return_url or None
            )
        except StripeGatewayError as error:
            raise UserError(error.message) from None
        return transaction._omochi_checkout_payload()

    def _omochi_rpc_readable_order(self):
        """Return the order as its caller finds it: exactly one order id the
        caller may read (access rights and record rules).

        :raise UserError: ``self`` is not exactly one order id.
        :raise AccessError: the order does not exist or is not the caller's.
        """
        if len(self._ids) != 1 or type(self._ids[0]) is not int:
            raise UserError(self.env._("Give exactly one order id."))
        try:
            self.check_access("read")
            order = self.search([("id", "=", self.id)], limit=1)
        except (AccessError, MissingError):
            order = self.browse()
        if not order:
            raise AccessError(
                self.env._("This order does not exist or you may not access it.")
            )
        return order

    def _omochi_lock_for_checkout(self):
        """Lock the order row until the end of the database transaction.

        A no-op UPDATE rather than ``SELECT ... FOR UPDATE``: under Odoo's
        REPEATABLE READ isolation, a concurrent request waiting on the lock
        then fails to serialize once this one commits, and is retried with a
        snapshot that sees the session created here.
        """
        self.env.cr.execute(
            "UPDATE omochi_order SET write_date = write_date WHERE id = %s",
            [self.id],
            log_exceptions=False,
        )

    def _omochi_check_payable(self):
        """Refuse to pay an order that is not confirmed, is paid or being paid
        (an asynchronous payment in progress), or has nothing to pay.

        :raise OrderNotPayableError: with a message saying why.
        """
        if self.state == "draft":
            message = self.env._("Order %s is not confirmed yet.", self.name)
        elif self.state in ("paid", "refunded") or self.payment_state not in (
            "not_paid",
            "pending",
        ):
            message = self.env._("Order %s is already paid.", self.name)
        elif self.state == "cancelled":
            message = self.env._("Order %s is cancelled.", self.name)
        elif const.STATUS_PROCESSING in self.transaction_ids.mapped("status"):
            # Its session is complete and the money on its way: another session
            # could take it twice.
            message = self.env._("Order %s has a payment in progress.", self.name)
        elif self.currency_id.compare_amounts(self.amount_total, 0) <= 0:
            message = self.env._("Order %s has nothing to pay.", self.name)
        else:
            return
        raise OrderNotPayableError(message)

    def _omochi_open_transaction(self, return_url=None):
        """Return the order's transaction whose session the customer may pay
        on, after closing at Stripe every other session that may be open.

        DESIGN §4: one payable session per order *at Stripe*. The newest
        pending or failed transaction is reused when its session stays open
        long enough and leads back to the same ``return_url`` (a failed one,
        a declined card, only while Stripe says its session is open); one
        whose session creation failed is returned without a ``checkout_url``,
        to be retried. Every other session is expired at Stripe and seen
        closed before any new one is made.

        :param str return_url: The caller's ``return_url`` (``None``: the
            frontend's status page).
        :return: An ``omochi.payment.transaction`` record, or an empty one.
        :raise StripeGatewayError: Stripe could not confirm that an earlier
            session is closed (nothing new may be created).
        """
        reuse_until = fields.Datetime.now() + timedelta(
            minutes=const.CHECKOUT_SESSION_REUSE_MARGIN_MINUTES
        )
        reusable = self.env["omochi.payment.transaction"]
        candidates = self.transaction_ids.filtered(
            lambda tx: tx.status in (const.STATUS_PENDING, const.STATUS_FAILED)
        )
        for transaction in candidates.sorted("id", reverse=True):
            if not reusable and transaction._omochi_is_reusable(
                return_url, reuse_until
            ):
                reusable = transaction
            else:
                transaction._stripe_close_checkout_session()
        return reusable

    def _stripe_line_items(self):
        """Return Checkout ``line_items`` summing EXACTLY to the order total.

        Per-unit lines when every line's quantity is whole and its unit price
        times quantity gives its subtotal in minor units; otherwise one line
        per order line (quantity 1, its subtotal); otherwise, when currency
        rounding (e.g. KWD's multiples of 10) breaks even that, one line for
        the whole order. Free lines are left out (they add nothing).

        :rtype: list[dict]
        """
        currency = self.currency_id.name
        total = to_minor_units(self.amount_total, currency)
        lines = self.line_ids.filtered(
            lambda line: not self.currency_id.is_zero(line.price_subtotal)
        )

        def item(name, unit_amount, quantity):
            return {
                "quantity": quantity,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": unit_amount,
                    "product_data": {"name": name[:250]},
                },
            }

        per_unit = []
        for line in lines:
            quantity = round(line.quantity)
            unit_amount = to_minor_units(line.price_unit, currency)
            if not float_is_zero(line.quantity - quantity, precision_digits=6) or (
                unit_amount * quantity != to_minor_units(line.price_subtotal, currency)
            ):
                break
            per_unit.append(item(line.name, unit_amount, quantity))
        else:
            if (
                sum(i["price_data"]["unit_amount"] * i["quantity"] for i in per_unit)
                == total
            ):
                return per_unit
        per_line = [
            item(
                f"{line.name} × {line.quantity:g}",
                to_minor_units(line.price_subtotal, currency),
                1,
            )
            for line in lines
        ]
        if sum(i["price_data"]["unit_amount"] for i in per_line) == total:
            return per_line
        return [item(self.env._("Order %s", self.name), total, 1)]
