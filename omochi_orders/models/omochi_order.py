import uuid
from datetime import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

# Context key of ``_omochi_set_state``: the one way to change ``state`` (§3).
STATE_CHANGE_CONTEXT_KEY = "omochi_order_state_change"


class OmochiOrder(models.Model):
    """A customer order of the Omochi platform.

    ``uuid`` is the public identifier used by the HTTP API (its ``order_id``);
    ``name`` is the human reference taken from the ``omochi.order`` sequence.
    """

    _name = "omochi.order"
    _description = "Omochi Order"
    _inherit = ("mail.thread", "mail.activity.mixin", "portal.mixin")
    _order = "date_order desc, id desc"
    _check_company_auto = True

    _sql_constraints = (
        ("uuid_uniq", "unique(uuid)", "The order UUID must be unique."),
    )

    uuid = fields.Char(
        string="UUID",
        required=True,
        readonly=True,
        copy=False,
        # No index=True: the UNIQUE constraint's index serves the lookups.
        default=lambda self: str(uuid.uuid4()),
        help="Public identifier of the order, used by the API.",
    )
    name = fields.Char(
        string="Reference",
        required=True,
        readonly=True,
        copy=False,
        index="trigram",
        # "New" until saved, as Odoo's own documents: the reference is taken
        # from the sequence only when the order is created.
        default=lambda self: self.env._("New"),
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        tracking=True,
        index=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        tracking=True,
        default=lambda self: self.env.company.currency_id,
    )
    date_order = fields.Datetime(
        string="Order Date",
        required=True,
        default=fields.Datetime.now,
        copy=False,
    )
    line_ids = fields.One2many(
        "omochi.order.line",
        "order_id",
        string="Order Lines",
        copy=True,
    )
    amount_total = fields.Monetary(
        string="Total",
        compute="_compute_amount_total",
        store=True,
        tracking=True,
    )
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("confirmed", "Confirmed"),
            ("paid", "Paid"),
            ("cancelled", "Cancelled"),
            ("refunded", "Refunded"),
        ],
        string="Status",
        required=True,
        readonly=True,
        copy=False,
        index=True,
        tracking=True,
        default="draft",
    )
    payment_state = fields.Selection(
        [
            ("not_paid", "Not Paid"),
            ("pending", "Pending"),
            ("paid", "Paid"),
            ("partially_refunded", "Partially Refunded"),
            ("refunded", "Refunded"),
        ],
        compute="_compute_payment_state",
        store=True,
        copy=False,
        index=True,
    )
    note = fields.Html(string="Notes")

    @api.depends("line_ids.price_subtotal", "currency_id")
    def _compute_amount_total(self):
        """Sum the (already rounded) line subtotals in the order currency."""
        for order in self:
            total = sum(order.line_ids.mapped("price_subtotal"))
            order.amount_total = order.currency_id.round(total)

    @api.depends("state")
    def _compute_payment_state(self):
        """Compute the payment state of the orders.

        This addon knows no payments, so every order is ``not_paid``. The
        ``omochi_payments`` addon adds ``transaction_ids`` and overrides this
        method (extending its dependencies) with the real computation; keep it
        a small, self-contained method so that the override stays simple.
        """
        for order in self:
            order.payment_state = "not_paid"

    def _compute_access_url(self):
        """Orders are shown to customers under ``/my/omochi_orders/<id>``."""
        for order in self:
            order.access_url = f"/my/omochi_orders/{order.id}"

    @api.model_create_multi
    def create(self, vals_list):
        """Assign the sequence reference to the new orders, which start as
        drafts (``state`` only moves through the actions)."""
        for vals in vals_list:
            if vals.get("state", "draft") != "draft" and not self.env.context.get(
                STATE_CHANGE_CONTEXT_KEY
            ):
                raise UserError(self.env._("New orders start as drafts."))
            if vals.get("name") in (None, False, "/", self.env._("New")):
                vals["name"] = self._next_order_name(vals)
        return super().create(vals_list)

    @api.model
    def _next_order_name(self, vals):
        """Return the next ``omochi.order`` sequence value for ``vals``.

        The sequence is taken in the order's company and dated with the order
        date, so ``%(year)s`` is the year of the order.
        """
        company = self.env["res.company"].browse(vals.get("company_id"))
        if not company:
            company = self.env.company
        seq_date = fields.Datetime.context_timestamp(
            self, fields.Datetime.to_datetime(vals.get("date_order")) or datetime.now()
        ).date()
        sequence = self.env["ir.sequence"].with_company(company)
        # the context date is the one used for %(year)s in the prefix
        sequence = sequence.with_context(ir_sequence_date=seq_date)
        return sequence.next_by_code("omochi.order", sequence_date=seq_date) or "/"

    def write(self, vals):
        """Refuse to change the currency of an order that is not a draft, and
        any change of ``state`` other than through the order's actions and
        the payment logic (``_omochi_set_state``), DESIGN §3."""
        if "state" in vals and not self.env.context.get(STATE_CHANGE_CONTEXT_KEY):
            raise UserError(
                self.env._(
                    "The state of an order changes only through its actions "
                    "(Confirm, Cancel, Reset to Draft) and its payments."
                )
            )
        if "currency_id" in vals and any(
            order.state != "draft" and order.currency_id.id != vals["currency_id"]
            for order in self
        ):
            raise UserError(
                self.env._("The currency of a confirmed order cannot be changed.")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_draft_or_cancelled(self):
        """Only draft and cancelled orders may be deleted."""
        for order in self:
            if order.state not in ("draft", "cancelled"):
                raise UserError(
                    self.env._(
                        "Order %(name)s cannot be deleted: only draft or cancelled "
                        "orders can be deleted.",
                        name=order.name,
                    )
                )

    def _omochi_set_state(self, state):
        """Move the orders to ``state``: the one way the actions and the
        payment logic change it (``write`` refuses ``state`` otherwise)."""
        return self.with_context(**{STATE_CHANGE_CONTEXT_KEY: True}).write(
            {"state": state}
        )

    def _state_label(self):
        """Return the human label of the order's state."""
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def action_confirm(self):
        """Confirm draft orders; an order needs at least one line."""
        for order in self:
            if order.state != "draft":
                raise UserError(
                    self.env._(
                        "Only draft orders can be confirmed; order %(name)s is "
                        "%(state)s.",
                        name=order.name,
                        state=order._state_label(),
                    )
                )
            if not order.line_ids:
                raise UserError(
                    self.env._(
                        "Order %(name)s has no lines and cannot be confirmed.",
                        name=order.name,
                    )
                )
        self._omochi_set_state("confirmed")
        return True

    def action_cancel(self):
        """Cancel draft or confirmed orders; paid or refunded ones are refused."""
        for order in self:
            if order.state not in ("draft", "confirmed"):
                raise UserError(
                    self.env._(
                        "Only draft or confirmed orders can be cancelled; order "
                        "%(name)s is %(state)s.",
                        name=order.name,
                        state=order._state_label(),
                    )
                )
        self._omochi_set_state("cancelled")
        return True

    def action_draft(self):
        """Reset confirmed or cancelled orders to draft."""
        for order in self:
            if order.state not in ("confirmed", "cancelled"):
                raise UserError(
                    self.env._(
                        "Only confirmed or cancelled orders can be reset to draft; "
                        "order %(name)s is %(state)s.",
                        name=order.name,
                        state=order._state_label(),
                    )
                )
        self._omochi_set_state("draft")
        return True

    # ------------------------------------------------------------------
    # Customer portal
    # ------------------------------------------------------------------

    def action_send_by_email(self):
        """**Send by Email**: open the mail composer with the order template,
        whose link to the order in the portal carries its access token.

        :return: An ``ir.actions.act_window`` of ``mail.compose.message``.
        :rtype: dict
        """
        self.ensure_one()
        self.check_access("write")
        template = self.env.ref(
            "omochi_orders.mail_template_omochi_order", raise_if_not_found=False
        )
        self._portal_ensure_token()
        context = {
            "default_model": self._name,
            "default_res_ids": self.ids,
            "default_composition_mode": "comment",
            "default_template_id": template.id if template else False,
            "default_email_layout_xmlid": "mail.mail_notification_layout",
            "email_notification_allow_footer": True,
            "force_email": True,
            "model_description": self.env._("Order"),
        }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send Order"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    def action_preview_portal(self):
        """**Preview**: open the order's page in the customer portal.

        :return: An ``ir.actions.act_url``.
        :rtype: dict
        """
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": self.get_portal_url(),
            "target": "self",
        }
