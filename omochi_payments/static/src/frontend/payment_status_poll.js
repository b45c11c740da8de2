/** @odoo-module */
/**
 * The payment status page follows the payment by itself, as Odoo's own
 * /payment/status does: while the payment is not final it asks the server
 * every few seconds and reloads the page once the status changed.
 */
const POLL_INTERVAL_MS = 2000;
const MAX_POLLS = 150; // five minutes, then the page says to reload

function followPayment() {
    const page = document.querySelector(".o_omochi_payment_status[data-poll-url]");
    if (!page) {
        return;
    }
    let polls = 0;
    const poll = async () => {
        polls += 1;
        try {
            const response = await fetch(page.dataset.pollUrl, {
                headers: { Accept: "application/json" },
                cache: "no-store",
            });
            if (response.ok) {
                const { status } = await response.json();
                if (status !== page.dataset.status) {
                    window.location.reload();
                    return;
                }
            }
        } catch {
            // A network hiccup: ask again at the next tick.
        }
        if (polls < MAX_POLLS) {
            setTimeout(poll, POLL_INTERVAL_MS);
        }
    };
    setTimeout(poll, POLL_INTERVAL_MS);
}

if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", followPayment);
} else {
    followPayment();
}
