from odoo import api, fields, models

from .. import const


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
        """
        res = super()._compute_payment_state()
        for order in self:
            statuses = set(order.transaction_ids.mapped("status"))
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
