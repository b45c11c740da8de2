{
    "name": "Omochi Orders",
    "summary": "Customer orders of the Omochi platform, with portal access",
    "version": "18.0.1.2.2",
    "category": "Sales",
    "author": "Omochi",
    "license": "LGPL-3",
    "depends": ["mail", "portal", "product"],
    "data": [
        "security/omochi_security.xml",
        "security/ir.model.access.csv",
        "security/omochi_rules.xml",
        "data/ir_sequence_data.xml",
        "data/mail_template_data.xml",
        "views/omochi_order_views.xml",
        "views/omochi_order_portal_templates.xml",
        "views/omochi_menus.xml",
    ],
    "demo": [
        "demo/omochi_demo.xml",
    ],
    "application": True,
}
