import uuid

from odoo import api, fields, models

from .. import const


class OmochiPaymentTransaction(models.Model):
    """A payment of an Omochi order through one Stripe Checkout Session.

    ``uuid`` is the public identifier used by the API (its ``payment_id``);
    ``reference`` is the human reference taken from a sequence. The amount, the
    currency, the customer and the company are a snapshot of the order taken at
    creation: later changes of the order never alter a payment.
    """

    _name = "omochi.payment.transaction"
    _description = "Omochi Payment Transaction"
    _inherit = "mail.thread"
    _order = "id desc"
    _rec_name = "reference"
    _check_company_auto = True
    # Users only read transactions; they may still log notes in the chatter.
    _mail_post_access = "read"

    _sql_constraints = (
        ("uuid_uniq", "UNIQUE(uuid)", "The payment UUID must be unique."),
        (
            "stripe_checkout_session_id_uniq",
            "UNIQUE(stripe_checkout_session_id)",
            "A Stripe Checkout Session belongs to one transaction only.",
        ),
        ("amount_positive", "CHECK(amount > 0)", "The amount must be positive."),
        (
            "amount_refunded_bounds",
            "CHECK(amount_refunded >= 0 AND amount_refunded <= amount)",
            "The refunded amount must lie between zero and the amount.",
        ),
    )

    uuid = fields.Char(
        string="UUID",
        required=True,
        readonly=True,
        copy=False,
        index=True,
        default=lambda self: str(uuid.uuid4()),
        help="Public identifier of the payment, used by the API (payment_id).",
    )
    reference = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        index="trigram",
        default="/",
    )
    order_id = fields.Many2one(
        "omochi.order",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
        check_company=True,
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        readonly=True,
        index=True,
        help="The customer of the order when the payment was created.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
    )
    amount = fields.Monetary(
        required=True,
        readonly=True,
        help="Amount of the order when the payment was created.",
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        readonly=True,
    )
    status = fields.Selection(
        const.STATUS_SELECTION,
        required=True,
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
        default=const.STATUS_PENDING,
    )
    stripe_checkout_session_id = fields.Char(
        string="Checkout Session ID",
        readonly=True,
        copy=False,
    )
    stripe_payment_intent_id = fields.Char(
        string="Payment Intent ID",
        readonly=True,
        copy=False,
        index="btree_not_null",
    )
    stripe_charge_id = fields.Char(string="Charge ID", readonly=True, copy=False)
    checkout_url = fields.Char(string="Checkout URL", readonly=True, copy=False)
    return_url = fields.Char(
        string="Return URL",
        readonly=True,
        copy=False,
        help="The frontend URL the customer returns to after the checkout.",
    )
    expires_at = fields.Datetime(
        readonly=True,
        copy=False,
        help="When the Stripe Checkout Session expires.",
    )
    amount_refunded = fields.Monetary(readonly=True, copy=False, tracking=True)
    error_message = fields.Text(readonly=True, copy=False)
    completed_at = fields.Datetime(readonly=True, copy=False)
    event_ids = fields.One2many(
        "omochi.payment.event",
        "transaction_id",
        string="Webhook Events",
        readonly=True,
        groups="omochi_orders.group_omochi_manager",
    )
    api_status = fields.Char(
        string="API Status",
        compute="_compute_api_status",
        help="The status as exposed by the API (upper-case).",
    )

    @api.depends("status")
    def _compute_api_status(self):
        """Expose the upper-case API value of the status."""
        for transaction in self:
            transaction.api_status = transaction._get_api_status()

    @api.model_create_multi
    def create(self, vals_list):
        """Snapshot the order and assign the sequence reference.

        The customer, company, amount and currency default to the order's
        values at creation time.
        """
        for vals in vals_list:
            if vals.get("order_id"):
                order = self.env["omochi.order"].browse(vals["order_id"])
                for key, value in self._prepare_order_snapshot(order).items():
                    vals.setdefault(key, value)
            if vals.get("reference", "/") == "/":
                vals["reference"] = self._next_reference(vals)
        return super().create(vals_list)

    @api.model
    def _prepare_order_snapshot(self, order):
        """Return the values a new transaction copies from its order.

        :param order: The ``omochi.order`` record being paid.
        :return: The ``partner_id``, ``company_id``, ``amount`` and
            ``currency_id`` values.
        :rtype: dict
        """
        order = order.sudo()
        return {
            "partner_id": order.partner_id.id,
            "company_id": order.company_id.id,
            "amount": order.amount_total,
            "currency_id": order.currency_id.id,
        }

    @api.model
    def _next_reference(self, vals):
        """Return the next ``omochi.payment.transaction`` sequence value.

        :param dict vals: The creation values (for the company).
        :rtype: str
        """
        company = self.env["res.company"].browse(vals.get("company_id"))
        sequence = (
            self.env["ir.sequence"].sudo().with_company(company or self.env.company)
        )
        return sequence.next_by_code("omochi.payment.transaction") or "/"

    def _get_api_status(self):
        """Return the API value of the transaction status (e.g. ``COMPLETED``).

        :rtype: str
        """
        self.ensure_one()
        return const.api_status(self.status)

    def _is_final(self):
        """Return whether the status is final (see ``const.FINAL_STATUSES``).

        :rtype: bool
        """
        self.ensure_one()
        return self.status in const.FINAL_STATUSES
