"""The database schema of both Omochi addons: no index written twice.

Every index is updated on every insert and on every update that is not HOT
(a payment's or order's state change), and is written to the WAL that each
webhook acknowledgement waits to flush: an index that repeats another costs
on every payment and serves no query.
"""

from odoo.tests import TransactionCase, tagged

OMOCHI_MODULES = ("omochi_orders", "omochi_payments")


@tagged("post_install", "-at_install")
class TestSchema(TransactionCase):
    def _omochi_tables(self):
        return sorted(
            {
                model._table
                for model in self.env.registry.values()
                if model._original_module in OMOCHI_MODULES and not model._abstract
            }
        )

    def test_no_two_indexes_on_the_same_columns(self):
        self.env.cr.execute(
            """
            SELECT table_class.relname,
                   array_agg(index_class.relname ORDER BY index_class.relname)
              FROM pg_index index_
              JOIN pg_class table_class ON table_class.oid = index_.indrelid
              JOIN pg_class index_class ON index_class.oid = index_.indexrelid
              JOIN pg_am access_method ON access_method.oid = index_class.relam
             WHERE table_class.relname = ANY(%s)
             GROUP BY table_class.relname, index_.indkey::text,
                      access_method.amname, index_.indclass::text,
                      pg_get_expr(index_.indexprs, index_.indrelid),
                      pg_get_expr(index_.indpred, index_.indrelid)
            HAVING count(*) > 1
            """,
            [self._omochi_tables()],
        )
        self.assertEqual(self.env.cr.fetchall(), [])
