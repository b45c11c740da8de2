"""``GET /dashboard/<id>``: the simulator's stand-in for Stripe's Dashboard.

Odoo links a payment to Stripe's Dashboard page of its Checkout Session or
PaymentIntent; in simulator mode those pages do not exist, so the links open
this page instead: the object's main facts and its JSON, as the simulator
holds it (read-only, test mode only).
"""

import json
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from .checkout import _html_response, esc
from .currencies import format_money
from .errors import StripeError

if TYPE_CHECKING:
    from .app import SimulatorApp

DASHBOARD_PREFIX = "/dashboard"
#: The facts shown above the JSON, when the object has them.
SUMMARY_FIELDS = (
    "status",
    "payment_status",
    "client_reference_id",
    "payment_intent",
    "latest_charge",
    "customer_email",
    "amount_refunded",
)


class DashboardPage:
    """Renders one stored object by id."""

    def __init__(self, app: "SimulatorApp"):
        self.app = app

    def dispatch(self, request: Request) -> Response:
        """Answer ``GET /dashboard/<id>``."""
        object_id = request.path[len(DASHBOARD_PREFIX) + 1 :].strip("/")
        if request.method != "GET" or not object_id or "/" in object_id:
            return _html_response("Not found", "<main><h2>Not found</h2></main>", 404)
        try:
            obj = self.app.state.get_object(object_id)
        except StripeError as error:
            body = f'<main class="shell narrow"><h2>{esc(error.message)}</h2></main>'
            return _html_response("Not found", body, 404)
        return _html_response(f"{obj['object']} {object_id}", _body(obj), 200)


def _body(obj: dict) -> str:
    """The summary table and the JSON of ``obj``."""
    rows = [("Object", obj["object"]), ("ID", obj["id"])]
    amount = obj.get("amount_total", obj.get("amount"))
    if isinstance(amount, int) and obj.get("currency"):
        rows.append(("Amount", format_money(amount, obj["currency"])))
    rows += [(name, obj[name]) for name in SUMMARY_FIELDS if obj.get(name)]
    table = "".join(
        f'<tr><th>{esc(name)}</th><td data-field="{esc(name)}">{esc(value)}</td></tr>'
        for name, value in rows
    )
    pretty = json.dumps(obj, indent=2, sort_keys=True)
    return f"""
<main class="shell">
  <section class="payment">
    <span class="badge">Test mode</span>
    <h2>{esc(obj["object"])} {esc(obj["id"])}</h2>
    <table class="dashboard">{table}</table>
    <pre class="dashboard-json">{esc(pretty)}</pre>
  </section>
</main>"""
