/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Live status: the order form shows the payment Pending; the customer has
 * paid at Stripe (the Python test did that at the simulator) and the status
 * page asks Odoo about it (the poll route, fetched here). Without any reload,
 * the open order form shows Paid and the user who pressed Pay gets a
 * notification, through Odoo's bus.
 */
let sessionId = null;

registry.category("web_tour.tours").add("omochi_live_status", {
    steps: () => [
        {
            content: "The order's payment is pending",
            trigger: ".o_form_view .o_field_widget[name=payment_state]:contains(Pending)",
        },
        {
            content: "Open its payment",
            trigger: ".o_form_view button[name=action_view_transactions]",
            run: "click",
        },
        {
            content: "Note the payment's Checkout Session",
            trigger: ".o_form_view .o_field_widget[name=stripe_checkout_session_id]:contains(cs_)",
            run: (helpers) => {
                sessionId = helpers.anchor.textContent.trim();
            },
        },
        {
            content: "Back to the order",
            trigger: ".o_breadcrumb .breadcrumb-item:not(.active) a",
            run: "click",
        },
        {
            content: "The customer's status page asks Odoo about the payment",
            trigger: ".o_form_view .o_field_widget[name=payment_state]:contains(Pending)",
            run: async () => {
                const response = await fetch(
                    `/omochi/payment/status/poll?session_id=${encodeURIComponent(sessionId)}`
                );
                const { status } = await response.json();
                if (status !== "COMPLETED") {
                    throw new Error(`the payment is ${status}, not COMPLETED`);
                }
            },
        },
        {
            content: "Whoever pressed Pay is notified",
            trigger: ".o_notification:contains(Payment received)",
        },
        {
            content: "The open form shows the order paid, without a reload",
            trigger: ".o_form_view .o_field_widget[name=payment_state]:contains(Paid)",
        },
        {
            content: "Its status bar too",
            trigger: ".o_statusbar_status button.o_arrow_button_current[data-value=paid]",
        },
    ],
});
