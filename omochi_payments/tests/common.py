import os
from unittest.mock import patch

from odoo.tests import TransactionCase, new_test_user
from odoo.tools import config as odoo_config

from ..const import CONFIG_KEYS


class OmochiPaymentsCase(TransactionCase):
    """Companies, users and a confirmed order to attach transactions to.

    The Stripe configuration of the process (environment variables and odoo.conf
    options) is emptied for each test, so that tests never depend on the machine.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.other_company = cls.env["res.company"].create({"name": "Omochi Other Co."})
        cls.currency_eur = cls.env.ref("base.EUR")
        cls.currency_eur.active = True

        cls.customer = cls.env["res.partner"].create(
            {"name": "Omochi Customer Co.", "is_company": True}
        )
        cls.customer_contact = cls.env["res.partner"].create(
            {"name": "Omochi Contact", "parent_id": cls.customer.id}
        )
        cls.stranger = cls.env["res.partner"].create({"name": "Omochi Stranger"})

        cls.user = new_test_user(
            cls.env, login="omochi_pay_user", groups="omochi_orders.group_omochi_user"
        )
        cls.manager = new_test_user(
            cls.env,
            login="omochi_pay_manager",
            groups="omochi_orders.group_omochi_manager",
        )
        cls.admin = new_test_user(
            cls.env,
            login="omochi_pay_admin",
            groups="omochi_orders.group_omochi_manager,base.group_system",
        )
        cls.portal_user = new_test_user(
            cls.env,
            login="omochi_pay_portal",
            groups="base.group_portal",
            partner_id=cls.customer_contact.id,
        )
        cls.other_company_manager = new_test_user(
            cls.env,
            login="omochi_pay_other",
            groups="omochi_orders.group_omochi_manager",
            company_id=cls.other_company.id,
            company_ids=[cls.other_company.id],
        )

        cls.order = cls._create_order(cls.customer_contact, price_unit=25.5)
        cls.stranger_order = cls._create_order(cls.stranger, price_unit=10.0)

    @classmethod
    def _create_order(cls, partner, price_unit=10.0, quantity=2, **vals):
        """Create and confirm an order with one line."""
        order = cls.env["omochi.order"].create(
            {
                "partner_id": partner.id,
                "currency_id": cls.currency_eur.id,
                "line_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Daifuku",
                            "quantity": quantity,
                            "price_unit": price_unit,
                        },
                    )
                ],
                **vals,
            }
        )
        order.action_confirm()
        return order

    @classmethod
    def _create_transaction(cls, order, **vals):
        """Create a transaction for ``order`` as the checkout code would (sudo)."""
        return (
            cls.env["omochi.payment.transaction"]
            .sudo()
            .create({"order_id": order.id, **vals})
        )

    def setUp(self):
        super().setUp()
        self.startPatcher(patch.dict(os.environ))
        self.startPatcher(patch.dict(odoo_config.options))
        for env_name, option_name, _field, _default in CONFIG_KEYS.values():
            os.environ.pop(env_name, None)
            odoo_config.options.pop(option_name, None)
