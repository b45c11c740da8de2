from odoo import Command
from odoo.tests import TransactionCase


class OmochiOrderCommon(TransactionCase):
    """Shared fixtures: currencies, a customer and a product.

    The tests never rely on demo data, so they also run on a database
    installed without demo.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.eur = cls.env.ref("base.EUR")
        cls.jpy = cls.env.ref("base.JPY")
        (cls.eur | cls.jpy).active = True
        cls.customer = cls.env["res.partner"].create(
            {"name": "Test Customer", "email": "customer@example.com"}
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Test Mochi", "default_code": "TMOCHI", "lst_price": 10.0}
        )

    @classmethod
    def _create_order(cls, lines=((1.0, 10.0),), currency=None, partner=None, **vals):
        """Create an order with one line per ``(quantity, price_unit)`` pair."""
        return cls.env["omochi.order"].create(
            {
                "partner_id": (partner or cls.customer).id,
                "currency_id": (currency or cls.eur).id,
                "line_ids": [
                    Command.create(
                        {
                            "product_id": cls.product.id,
                            "quantity": quantity,
                            "price_unit": price_unit,
                        }
                    )
                    for quantity, price_unit in lines
                ],
                **vals,
            }
        )
