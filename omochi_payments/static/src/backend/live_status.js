/** @odoo-module */
/**
 * Live payment status in the back office: a form showing an order or a payment
 * reloads when Odoo's bus says its payment status changed (no manual reload),
 * unless the user is editing it.
 */
import { onWillUnmount } from "@odoo/owl";
import { useService } from "@web/core/utils/hooks";
import { patch } from "@web/core/utils/patch";
import { FormController } from "@web/views/form/form_controller";

const STATUS_NOTIFICATION = "omochi_payments/status";
// The payload key holding the id of a record of each model.
const ID_KEYS = {
    "omochi.order": "order_id",
    "omochi.payment.transaction": "transaction_id",
};

patch(FormController.prototype, {
    setup() {
        super.setup(...arguments);
        const idKey = ID_KEYS[this.props.resModel];
        if (!idKey) {
            return;
        }
        const busService = useService("bus_service");
        const onStatus = async (payload) => {
            const root = this.model.root;
            if (!root || root.resId !== payload[idKey] || (await root.isDirty())) {
                return;
            }
            await root.load();
        };
        busService.subscribe(STATUS_NOTIFICATION, onStatus);
        onWillUnmount(() => busService.unsubscribe(STATUS_NOTIFICATION, onStatus));
    },
});
