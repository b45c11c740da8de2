from odoo import api, fields, models


class OmochiPaymentLinkWizard(models.TransientModel):
    """**Payment Link** of a confirmed order, as Odoo's "Generate a Payment
    Link": the order's page in the customer portal, with its access token,
    where whoever holds the link can press Pay now. Copy it, or send it by
    e-mail with the payment link template."""

    _name = "omochi.payment.link.wizard"
    _description = "Omochi Payment Link"

    order_id = fields.Many2one("omochi.order", required=True, readonly=True)
    amount = fields.Monetary(related="order_id.amount_total")
    currency_id = fields.Many2one(related="order_id.currency_id")
    partner_id = fields.Many2one(related="order_id.partner_id")
    link = fields.Char(string="Payment Link", compute="_compute_link")

    @api.depends("order_id")
    def _compute_link(self):
        """The absolute portal URL of the order, with its access token: read
        with the user's rights (a wizard made for an order the user may not
        read must not hand out its token)."""
        for wizard in self:
            order = wizard.order_id
            wizard.link = order and order.get_base_url() + order.get_portal_url()

    def action_send_email(self):
        """Open the mail composer with the payment link template."""
        self.ensure_one()
        return self.order_id.action_send_payment_link()
