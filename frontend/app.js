// What guide.js needs around it: the API key (yourAuthToken), the messages,
// and polling check_status while the payment is not final. Plain browser
// JavaScript, no build step.

// The API key is kept for this tab only, so that the status page has it when
// Stripe Checkout sends the customer back. (A real frontend authenticates its
// own users and calls Odoo from its backend or with a short-lived token.)
var yourAuthToken = sessionStorage.getItem("omochiApiKey") || "";

const POLL_INTERVAL_MS = 2000;
const OPEN_STATUSES = ["PENDING", "PROCESSING"];

function show(status, title, detail) {
  const box = document.getElementById("status");
  box.dataset.status = status;
  box.querySelector("h2").textContent = title;
  box.querySelector("p").textContent = detail || "";
  box.hidden = false;
}

function showSuccessMessage() {
  show("COMPLETED", "Payment successful", "Thank you! Your payment has been received.");
}

function showStatusMessage(status) {
  if (OPEN_STATUSES.includes(status)) {
    show(status, "Payment in progress", "Waiting for Stripe's confirmation…");
    setTimeout(checkPaymentStatus, POLL_INTERVAL_MS); // poll until final
  } else if (status === "FAILED") {
    show(status, "Payment failed", "The payment did not go through.");
  } else {
    show(status || "ERROR", "Payment " + (status || "unknown").toLowerCase(), "");
  }
}

function showCancelledMessage() {
  show("CANCELLED", "Payment cancelled", "You have not been charged.");
}

function startPaymentForm() {
  const form = document.getElementById("pay-form");
  document.getElementById("api-key").value = yourAuthToken;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    yourAuthToken = document.getElementById("api-key").value.trim();
    sessionStorage.setItem("omochiApiKey", yourAuthToken);
    initiatePayment(document.getElementById("order-id").value.trim());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (window.location.pathname === "/payment/status") {
    checkPaymentStatus();
  } else {
    startPaymentForm();
  }
});
