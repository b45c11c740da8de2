from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import const
from ..tools.stripe_amounts import to_minor_units
from ..tools.stripe_gateway import StripeGatewayError

REFUND_REASONS = [
    ("requested_by_customer", "Requested by the customer"),
    ("duplicate", "Duplicate payment"),
    ("fraudulent", "Fraudulent payment"),
]


class OmochiPaymentRefundWizard(models.TransientModel):
    """Refund all or part of a completed payment at Stripe (managers only)."""

    _name = "omochi.payment.refund.wizard"
    _description = "Refund an Omochi Payment"

    transaction_id = fields.Many2one(
        "omochi.payment.transaction", required=True, readonly=True
    )
    currency_id = fields.Many2one(related="transaction_id.currency_id")
    amount_remaining = fields.Monetary(
        string="Refundable", compute="_compute_amount_remaining"
    )
    amount = fields.Monetary(string="Amount to Refund", required=True)
    reason = fields.Selection(
        REFUND_REASONS, required=True, default="requested_by_customer"
    )

    @api.depends("transaction_id.amount", "transaction_id.amount_refunded")
    def _compute_amount_remaining(self):
        """What was paid and is not refunded yet."""
        for wizard in self:
            transaction = wizard.transaction_id
            wizard.amount_remaining = transaction.amount - transaction.amount_refunded

    @api.model
    def default_get(self, fields_list):
        """Refund the whole remaining amount by default."""
        values = super().default_get(fields_list)
        transaction = self.env["omochi.payment.transaction"].browse(
            values.get("transaction_id") or self.env.context.get("active_id")
        )
        if transaction:
            transaction.check_access("read")
            values["transaction_id"] = transaction.id
            values["amount"] = transaction.amount - transaction.amount_refunded
        return values

    def action_refund(self):
        """Create the refund at Stripe and record it on the payment.

        :raise UserError: nothing refundable, an amount out of bounds, or
            Stripe refusing the refund.
        """
        self.ensure_one()
        if not self.env.user.has_group("omochi_orders.group_omochi_manager"):
            raise AccessError(self.env._("Only Omochi managers may refund payments."))
        # The wizard acts as superuser: the manager must be allowed to change
        # this very payment (its company among theirs, record rules), §4.
        self.transaction_id.check_access("write")
        transaction = self.transaction_id.sudo()
        transaction._omochi_lock()
        currency = transaction.currency_id.name
        amount = to_minor_units(self.amount, currency)
        remaining = to_minor_units(transaction.amount, currency) - to_minor_units(
            transaction.amount_refunded, currency
        )
        if (
            transaction.status
            not in (
                const.STATUS_COMPLETED,
                const.STATUS_PARTIALLY_REFUNDED,
            )
            or not transaction.stripe_payment_intent_id
        ):
            raise UserError(self.env._("Only completed payments can be refunded."))
        if amount <= 0:
            raise UserError(self.env._("The amount to refund must be positive."))
        if amount > remaining:
            raise UserError(
                self.env._(
                    "You cannot refund %(amount)s: only %(remaining)s remain "
                    "refundable on this payment.",
                    amount=transaction.currency_id.format(self.amount),
                    remaining=transaction.currency_id.format(
                        transaction.amount - transaction.amount_refunded
                    ),
                )
            )
        try:
            refund = transaction._stripe_gateway().create_refund(
                transaction.stripe_payment_intent_id,
                amount,
                f"omochi-{transaction.uuid}-refund-{self.id}",
                reason=self.reason,
            )
        except StripeGatewayError as error:
            raise UserError(error.message) from None
        if refund.get("status") in ("succeeded", "pending"):
            # Stripe's refunded total: a replayed request (same wizard pressed
            # again) is not counted twice.
            charge = refund.get("charge")
            refunded = (
                charge["amount_refunded"]
                if isinstance(charge, dict)
                else to_minor_units(transaction.amount_refunded, currency) + amount
            )
            transaction._omochi_refund_progress(refunded)
        return self._omochi_refund_notification(refund)

    def _omochi_refund_notification(self, refund):
        """Tell the manager what Stripe did with the refund, naming the
        amount, and close the wizard (the form behind it reloads)."""
        transaction = self.transaction_id.sudo()
        amount = transaction.currency_id.format(self.amount)
        if refund.get("status") in ("succeeded", "pending"):
            kind, message = (
                "success",
                self.env._(
                    "Refund of %(amount)s sent to Stripe for %(reference)s.",
                    amount=amount,
                    reference=transaction.reference,
                ),
            )
        else:
            kind, message = (
                "warning",
                self.env._(
                    "Stripe answered %(status)s for the refund of %(amount)s.",
                    status=refund.get("status"),
                    amount=amount,
                ),
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "message": message,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
