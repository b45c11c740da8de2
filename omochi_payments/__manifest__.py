{
    "name": "Omochi Payments",
    "summary": "Stripe Checkout payments for Omochi orders",
    "version": "18.0.1.3.1",
    "category": "Accounting/Payment Providers",
    "author": "Omochi",
    "website": "https://github.com/omochi/omochi-payments",
    "license": "LGPL-3",
    "depends": ["omochi_orders"],
    "external_dependencies": {"python": ["stripe"]},
    "data": [
        "security/omochi_payments_security.xml",
        "security/ir.model.access.csv",
        "data/ir_sequence_data.xml",
        "data/ir_cron_data.xml",
        "data/mail_template_data.xml",
        "views/omochi_payment_link_wizard_views.xml",
        "views/omochi_payment_refund_wizard_views.xml",
        "views/omochi_payment_transaction_views.xml",
        "views/omochi_payment_event_views.xml",
        "views/omochi_order_views.xml",
        "views/omochi_payment_health_views.xml",
        "views/res_config_settings_views.xml",
        "views/payment_status_templates.xml",
        "views/omochi_portal_templates.xml",
        "views/omochi_payments_menus.xml",
    ],
    "demo": [
        "demo/omochi_payments_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "omochi_payments/static/src/backend/**/*",
        ],
        "web.assets_frontend": [
            "omochi_payments/static/src/frontend/**/*",
        ],
        "web.assets_tests": [
            "omochi_payments/static/tests/tours/**/*",
        ],
    },
}
