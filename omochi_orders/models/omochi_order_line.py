from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError


class OmochiOrderLine(models.Model):
    """A line of an Omochi order: a product, a quantity and a unit price."""

    _name = "omochi.order.line"
    _description = "Omochi Order Line"
    _order = "order_id, sequence, id"
    _check_company_auto = True

    # Fields a user edits; they are frozen once the order left the draft state.
    _LOCKED_FIELDS = ("order_id", "product_id", "name", "quantity", "price_unit")

    order_id = fields.Many2one(
        "omochi.order",
        required=True,
        index=True,
        ondelete="cascade",
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        related="order_id.company_id",
        store=True,
        index=True,
        precompute=True,
    )
    currency_id = fields.Many2one(
        related="order_id.currency_id",
        store=True,
        precompute=True,
    )
    product_id = fields.Many2one(
        "product.product",
        check_company=True,
        ondelete="restrict",
    )
    name = fields.Char(
        string="Description",
        required=True,
        compute="_compute_name",
        store=True,
        readonly=False,
        precompute=True,
    )
    quantity = fields.Float(
        required=True,
        default=1.0,
        digits="Product Unit of Measure",
    )
    price_unit = fields.Float(
        string="Unit Price",
        required=True,
        digits="Product Price",
        compute="_compute_price_unit",
        store=True,
        readonly=False,
        precompute=True,
    )
    price_subtotal = fields.Monetary(
        string="Subtotal",
        compute="_compute_price_subtotal",
        store=True,
        precompute=True,
    )

    @api.depends("product_id")
    def _compute_name(self):
        """Default the description to the product's display name."""
        for line in self:
            if line.product_id:
                line.name = line.product_id.display_name

    @api.depends("product_id")
    def _compute_price_unit(self):
        """Default the unit price to the product's sales price.

        The product price is expressed in the company currency; it is converted
        to the order currency (at the order date) without rounding.
        """
        for line in self:
            product = line.product_id
            if not product:
                line.price_unit = line.price_unit or 0.0
                continue
            order = line.order_id
            line.price_unit = product.currency_id._convert(
                product.lst_price,
                order.currency_id or product.currency_id,
                order.company_id or self.env.company,
                order.date_order or fields.Date.context_today(line),
                round=False,
            )

    @api.depends("quantity", "price_unit", "currency_id")
    def _compute_price_subtotal(self):
        """Subtotal = quantity × unit price, rounded in the order currency."""
        for line in self:
            subtotal = line.quantity * line.price_unit
            line.price_subtotal = (
                line.currency_id.round(subtotal) if line.currency_id else subtotal
            )

    @api.constrains("quantity")
    def _check_quantity(self):
        """The quantity must be strictly positive."""
        for line in self:
            if line.quantity <= 0:
                raise ValidationError(
                    self.env._(
                        "The quantity of line “%(line)s” must be positive "
                        "(got %(quantity)s).",
                        line=line.name,
                        quantity=line.quantity,
                    )
                )

    @api.constrains("price_unit")
    def _check_price_unit(self):
        """The unit price cannot be negative."""
        for line in self:
            if line.price_unit < 0:
                raise ValidationError(
                    self.env._(
                        "The unit price of line “%(line)s” cannot be negative "
                        "(got %(price)s).",
                        line=line.name,
                        price=line.price_unit,
                    )
                )

    def _check_order_is_draft(self):
        """Raise a UserError if one of the lines' orders is not a draft."""
        locked = self.order_id.filtered(lambda order: order.state != "draft")
        if locked:
            raise UserError(
                self.env._(
                    "The lines of order %(name)s cannot be modified: the order is "
                    "not a draft any more.",
                    name=locked[0].name,
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        """Lines can only be added to draft orders."""
        lines = super().create(vals_list)
        lines._check_order_is_draft()
        return lines

    def write(self, vals):
        """Lines of orders that are not drafts cannot be edited.

        Only the user-editable fields are guarded, so stored computations and
        technical fields (e.g. ``sequence``) stay writable by the system.
        """
        if any(field in vals for field in self._LOCKED_FIELDS):
            self._check_order_is_draft()
        res = super().write(vals)
        if "order_id" in vals:
            self._check_order_is_draft()
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_order_not_draft(self):
        """Lines of orders that are not drafts cannot be deleted.

        Lines deleted together with their order are removed by the database
        cascade, so this check does not apply to them: the order itself is
        protected by its own ``ondelete`` check.
        """
        self._check_order_is_draft()
