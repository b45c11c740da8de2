/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Payment Link on a confirmed order: the dialog shows the link (to copy) and
 * sends it by e-mail with the payment link template. The Python test opens
 * the link without a login and finds Pay now there.
 */
registry.category("web_tour.tours").add("omochi_payment_link", {
    steps: () => [
        {
            content: "Open the Payment Link dialog",
            trigger: ".o_statusbar_buttons button[name=action_omochi_payment_link]",
            run: "click",
        },
        {
            content: "The dialog shows the link, with the order's access token",
            trigger: ".modal .o_omochi_payment_link:contains(access_token=)",
        },
        {
            content: "A copy button is next to it",
            trigger: ".modal .o_omochi_payment_link .o_clipboard_button",
        },
        {
            content: "Send it by e-mail",
            trigger: ".modal button[name=action_send_email]",
            run: "click",
        },
        {
            content: "The composer uses the payment link template",
            trigger: ".modal .o_field_widget[name=subject] input:value(/payment of order/)",
        },
        {
            content: "Send",
            trigger: ".modal button.o_mail_send",
            run: "click",
        },
        {
            content: "The e-mail is in the chatter",
            trigger: ".o-mail-Message:contains(Pay now)",
        },
    ],
});
