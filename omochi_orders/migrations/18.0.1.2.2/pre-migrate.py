from odoo.tools.sql import drop_index


def migrate(cr, version):
    """Drop the plain index on ``omochi_order.uuid`` that earlier versions made
    next to the UNIQUE constraint's own: it served no query and was written on
    every order update (Odoo keeps an index its field no longer declares)."""
    drop_index(cr, "omochi_order__uuid_index", "omochi_order")
