from odoo.tools.sql import drop_index


def migrate(cr, version):
    """Drop the plain index on ``omochi_payment_transaction.uuid`` that earlier
    versions made next to the UNIQUE constraint's own: it served no query and
    was written on every payment update (Odoo keeps an index its field no
    longer declares)."""
    table = "omochi_payment_transaction"
    drop_index(cr, f"{table}__uuid_index", table)
