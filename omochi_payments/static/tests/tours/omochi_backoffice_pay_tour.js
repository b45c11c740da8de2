/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/**
 * A back-office user creates an order (customer, one line), confirms it and
 * presses Pay. Pay opens Stripe Checkout in a new tab, which a tour cannot
 * follow: the tour ends once the order shows its payment; the Python test
 * (tests/test_backoffice_pay_tour.py) checks the transaction and the
 * Checkout Session at the Stripe simulator.
 */
registry.category("web_tour.tours").add("omochi_backoffice_pay", {
    url: "/odoo/action-omochi_orders.action_omochi_order",
    steps: () => [
        {
            content: "Create a new order",
            trigger: ".o_list_view .o_control_panel_main_buttons .o_list_button_add",
            run: "click",
        },
        {
            content: "Type the customer",
            trigger: ".o_form_view .o_field_widget[name=partner_id] input",
            run: "edit Omochi Tour Customer",
        },
        {
            content: "Pick the customer",
            trigger: ".o-autocomplete--dropdown-menu .ui-menu-item a:contains(Omochi Tour Customer)",
            run: "click",
        },
        {
            content: "Add an order line",
            trigger: ".o_field_widget[name=line_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Describe the line",
            trigger: ".o_field_widget[name=line_ids] .o_selected_row [name=name] input",
            run: "edit Kusa mochi",
        },
        {
            content: "Set the quantity",
            trigger: ".o_field_widget[name=line_ids] .o_selected_row [name=quantity] input",
            run: "edit 3",
        },
        {
            content: "Set the unit price",
            trigger: ".o_field_widget[name=line_ids] .o_selected_row [name=price_unit] input",
            run: "edit 4.50",
        },
        ...stepUtils.saveForm(),
        {
            content: "The total is computed",
            trigger: ".o_field_widget[name=amount_total]:contains(13.50)",
        },
        {
            content: "Confirm the order",
            trigger: ".o_statusbar_buttons button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The order is confirmed",
            trigger: ".o_statusbar_status button.o_arrow_button_current[data-value=confirmed]",
        },
        {
            content: "Pay: Stripe Checkout opens in a new tab",
            trigger: ".o_statusbar_buttons button[name=action_pay]",
            run: "click",
        },
        {
            content: "The order now has a payment",
            trigger: ".o_form_view button[name=action_view_transactions]:contains(Payments)",
        },
    ],
});
