"""The hosted checkout page at each session's ``url`` (``/c/pay/{id}``).

A self-contained HTML page (inline CSS, no scripts, no external assets) that
shows the order and a card form, validated on the server. The guide's test
cards decide what happens (see :data:`TEST_CARDS`):

* ``4242 4242 4242 4242`` pays: the session completes and the browser is sent
  (303) to ``success_url`` with ``{CHECKOUT_SESSION_ID}`` replaced;
* ``4000 0025 0000 3155`` asks for 3-D Secure: an authentication page whose
  buttons post to ``/c/pay/{id}/authenticate`` (``action=approve|fail``);
* ``4000 0000 0000 0002`` is declined: the session stays open for another card;
* any other number fails the Luhn check ("invalid") or is declined.

``/c/pay/{id}/cancel`` sends the browser to ``cancel_url``. Every value shown
is HTML-escaped. There is no CSRF token: it is a simulator.
"""

import html
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .currencies import format_money
from .errors import StripeError
from .state import AUTHENTICATION_FAILURE_MESSAGE, DECLINE_MESSAGE

if TYPE_CHECKING:
    from .state import SimulatorState

PAGE_PREFIX = "/c/pay"
UNAVAILABLE_MESSAGE = "This checkout session is no longer available."
INVALID_NUMBER = "Your card number is invalid."
SESSION_ID_PLACEHOLDERS = ("{CHECKOUT_SESSION_ID}", "%7BCHECKOUT_SESSION_ID%7D")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXPIRY = re.compile(r"^(\d{1,2})\s*/\s*(\d{2}|\d{4})$|^(\d{2})(\d{2})$")


@dataclass(frozen=True)
class CardBehaviour:
    """What a test card does when submitted."""

    kind: str  # "success" | "authenticate" | "declined"
    message: str = ""
    failure_code: str = "card_declined"
    decline_code: str = "generic_decline"


SUCCESS = CardBehaviour("success")
AUTHENTICATE = CardBehaviour("authenticate")
DECLINED = CardBehaviour("declined", DECLINE_MESSAGE)
#: Stripe's test cards the page knows; other Luhn-valid numbers are declined.
TEST_CARDS = {
    "4242424242424242": SUCCESS,
    "5555555555554444": SUCCESS,
    "4000002500003155": AUTHENTICATE,
    "4000002760003184": AUTHENTICATE,
    "4000000000000002": DECLINED,
    "4000000000009995": CardBehaviour(
        "declined",
        "Your card has insufficient funds.",
        decline_code="insufficient_funds",
    ),
    "4000000000000069": CardBehaviour(
        "declined",
        "Your card has expired.",
        failure_code="expired_card",
        decline_code="expired_card",
    ),
}


def luhn_valid(number: str) -> bool:
    """Whether a string of digits passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The card network of a number, from its prefix."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if 51 <= int(number[:2] or 0) <= 55 or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def success_redirect_url(session: dict) -> str:
    """``success_url`` with the session id substituted."""
    url = session["success_url"]
    for placeholder in SESSION_ID_PLACEHOLDERS:
        url = url.replace(placeholder, session["id"])
    return url


@dataclass
class CardForm:
    """The submitted form, its field errors and the card it describes."""

    values: dict[str, str]
    errors: dict[str, str]
    number: str = ""
    exp_month: int = 0
    exp_year: int = 0

    @property
    def card(self) -> dict:
        """The ``card`` hash for the state (brand, last4, expiry)."""
        return {
            "brand": card_brand(self.number),
            "last4": self.number[-4:],
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
        }


def validate_form(form, now: int, need_email: bool) -> CardForm:
    """Check the card form like Checkout does (``now``: Unix time for expiry)."""
    fields = ("email", "cardnumber", "expiry", "cvc", "zip")
    values = {name: str(form.get(name, "")).strip()[:100] for name in fields}
    result = CardForm(values=values, errors={})
    errors = result.errors
    if need_email and values["email"] and not _EMAIL.match(values["email"]):
        errors["email"] = "Your email address is invalid."
    number = re.sub(r"[\s-]", "", values["cardnumber"])
    if not number:
        errors["cardnumber"] = "Your card number is incomplete."
    elif not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        errors["cardnumber"] = INVALID_NUMBER
    result.number = number
    match = _EXPIRY.match(re.sub(r"\s+", "", values["expiry"]))
    if not match:
        errors["expiry"] = "Your card's expiration date is incomplete."
    else:
        month = int(match.group(1) or match.group(3))
        year = int(match.group(2) or match.group(4))
        year = year + 2000 if year < 100 else year
        today = time.gmtime(now)
        if not 1 <= month <= 12:
            errors["expiry"] = "Your card's expiration date is invalid."
        elif (year, month) < (today.tm_year, today.tm_mon):
            errors["expiry"] = "Your card's expiration date is in the past."
        elif year > today.tm_year + 50:
            errors["expiry"] = "Your card's expiration year is invalid."
        result.exp_month, result.exp_year = month, year
    if not re.fullmatch(r"\d{3}", values["cvc"]):
        errors["cvc"] = "Your card's security code is incomplete."
    if not re.fullmatch(r"\d{5}", values["zip"]):
        errors["zip"] = "Your postal code is incomplete."
    return result


class CheckoutPage:
    """Serves ``/c/pay/...``: the hosted page of the Checkout Sessions in
    ``state``, linked under ``public_url`` when the simulator is published
    behind a path."""

    def __init__(self, state: "SimulatorState", public_url: str | None = None):
        self.state = state
        self.public_url = public_url
        self._routes = Map(
            [
                Rule(f"{PAGE_PREFIX}/<id>", methods=["GET"], endpoint="show"),
                Rule(f"{PAGE_PREFIX}/<id>", methods=["POST"], endpoint="pay"),
                Rule(
                    f"{PAGE_PREFIX}/<id>/authenticate",
                    methods=["GET"],
                    endpoint="show_authentication",
                ),
                Rule(
                    f"{PAGE_PREFIX}/<id>/authenticate",
                    methods=["POST"],
                    endpoint="authenticate",
                ),
                Rule(
                    f"{PAGE_PREFIX}/<id>/cancel",
                    methods=["GET", "POST"],
                    endpoint="cancel",
                ),
            ],
            strict_slashes=False,
        )

    def dispatch(self, request: Request) -> Response:
        """Answer one request for the hosted page."""
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except HTTPException:
            return self._message_page(
                request, "Page not found", "There is no such checkout page.", 404
            )
        try:
            session = self.state.get_checkout_session(args["id"])
        except StripeError:
            return self._message_page(
                request,
                "Checkout session not found",
                "This checkout session does not exist. Check the link you followed.",
                404,
            )
        if session["status"] != "open" and endpoint != "cancel":
            return self._unavailable(request, session)
        try:
            return getattr(self, "_" + endpoint)(request, session)
        except StripeError:  # the session changed meanwhile (expired, paid)
            session = self.state.get_checkout_session(args["id"])
            return self._unavailable(request, session)

    # ----------------------------------------------------------------- handlers
    def _show(self, request: Request, session: dict) -> Response:
        if self.state.pending_authentication(session["id"]) is not None:
            return self._authentication_page(request, session)
        return self._payment_page(request, session)

    def _pay(self, request: Request, session: dict) -> Response:
        need_email = not session["customer_email"]
        form = validate_form(request.form, self.state.now(), need_email)
        if form.errors:
            return self._payment_page(
                request, session, form, "Please check your card details.", 400
            )
        email = form.values["email"] if need_email else None
        behaviour = TEST_CARDS.get(form.number, DECLINED)
        if behaviour.kind == "success":
            self.state.complete_checkout_session(
                session["id"], "paid", customer_email=email or None, card=form.card
            )
            return redirect(success_redirect_url(session), 303)
        if behaviour.kind == "authenticate":
            card = {**form.card, "customer_email": email or None}
            self.state.require_authentication(session["id"], card)
            return self._authentication_page(request, session)
        self.state.complete_checkout_session(
            session["id"],
            "failed",
            customer_email=email or None,
            failure_message=behaviour.message,
            failure_code=behaviour.failure_code,
            decline_code=behaviour.decline_code,
            card=form.card,
        )
        form.values["cardnumber"] = ""
        return self._payment_page(request, session, form, behaviour.message, 402)

    def _show_authentication(self, request: Request, session: dict) -> Response:
        if self.state.pending_authentication(session["id"]) is None:
            return redirect(self._page_url(request, session), 303)
        return self._authentication_page(request, session)

    def _authenticate(self, request: Request, session: dict) -> Response:
        if self.state.pending_authentication(session["id"]) is None:
            return redirect(self._page_url(request, session), 303)
        action = request.form.get("action", "")
        if action not in ("approve", "fail"):
            return self._authentication_page(
                request, session, "Choose to complete or fail the authentication.", 400
            )
        self.state.authenticate_checkout_session(session["id"], action == "approve")
        if action == "approve":
            return redirect(success_redirect_url(session), 303)
        return self._payment_page(
            request, session, None, AUTHENTICATION_FAILURE_MESSAGE, 402
        )

    def _cancel(self, request: Request, session: dict) -> Response:
        if session["cancel_url"]:
            return redirect(session["cancel_url"], 303)
        if session["status"] != "open":
            return self._unavailable(request, session)
        return self._payment_page(
            request,
            session,
            notice="This checkout has no cancel URL: close this page to leave "
            "without paying.",
        )

    # ---------------------------------------------------------------- rendering
    def _page_url(self, request: Request, session: dict, suffix: str = "") -> str:
        """The path of this session's page (honouring ``--public-url``)."""
        if self.public_url:
            root = urlsplit(self.public_url).path.rstrip("/")
        else:
            root = request.script_root.rstrip("/")
        return f"{root}{PAGE_PREFIX}/{quote(session['id'], safe='')}{suffix}"

    def _payment_page(
        self,
        request: Request,
        session: dict,
        form: CardForm | None = None,
        error: str | None = None,
        status: int = 200,
        notice: str | None = None,
    ) -> Response:
        values = form.values if form else {}
        field_errors = form.errors if form else {}
        total = format_money(session["amount_total"], session["currency"])
        email = session["customer_email"]
        if email:
            email_html = (
                '<div class="field"><span class="label">Email</span>'
                f'<div class="static">{esc(email)}</div></div>'
            )
        else:
            email_html = _input(
                "email",
                "Email",
                values,
                field_errors,
                type="email",
                placeholder="you@example.com",
                autocomplete="email",
            )
        alert = f'<div class="alert" role="alert">{esc(error)}</div>' if error else ""
        if notice:
            alert += f'<div class="notice" role="status">{esc(notice)}</div>'
        body = f"""
<main class="shell">
  {self._summary(request, session)}
  <section class="payment" aria-label="Payment">
    <h2>Pay with card</h2>
    {alert}
    <form method="post" action="{esc(self._page_url(request, session))}" novalidate>
      {email_html}
      <fieldset>
        <legend class="label">Card information</legend>
        <div class="card-box{_box_error(field_errors)}">
          <input name="cardnumber" id="cardnumber" aria-label="Card number"
            placeholder="1234 1234 1234 1234" inputmode="numeric"
            autocomplete="cc-number" maxlength="23"
            value="{esc(values.get("cardnumber", ""))}">
          <div class="split">
            <input name="expiry" aria-label="Expiration date (MM/YY)"
              placeholder="MM / YY" inputmode="numeric" autocomplete="cc-exp"
              maxlength="7" value="{esc(values.get("expiry", ""))}">
            <input name="cvc" aria-label="CVC" placeholder="CVC" inputmode="numeric"
              autocomplete="cc-csc" maxlength="4" value="{esc(values.get("cvc", ""))}">
          </div>
        </div>
        {_errors(field_errors, ("cardnumber", "expiry", "cvc"))}
      </fieldset>
      {
            _input(
                "zip",
                "ZIP",
                values,
                field_errors,
                placeholder="12345",
                inputmode="numeric",
                autocomplete="postal-code",
                maxlength="10",
            )
        }
      <button type="submit" class="pay">Pay {esc(total)}</button>
    </form>
    <details class="hint">
      <summary>Test cards</summary>
      <ul>
        <li><code>4242 4242 4242 4242</code> succeeds</li>
        <li><code>4000 0025 0000 3155</code> requires authentication</li>
        <li><code>4000 0000 0000 0002</code> is declined</li>
      </ul>
      <p>Any future expiry date (MM/YY), any 3-digit CVC, any 5-digit ZIP.</p>
    </details>
  </section>
</main>"""
        return _html_response(f"Pay {total}", body, status)

    def _summary(self, request: Request, session: dict) -> str:
        """The order summary column: lines and total."""
        currency = session["currency"]
        rows = []
        for item in self.state.list_line_items(session["id"], {"limit": 100})["data"]:
            unit = format_money(item["price"]["unit_amount"], currency)
            rows.append(
                "<tr>"
                f'<td class="name">{esc(item["description"])}</td>'
                f'<td class="qty">{item["quantity"]}</td>'
                f'<td class="unit">{esc(unit)}</td>'
                f'<td class="amount">'
                f"{esc(format_money(item['amount_total'], currency))}</td>"
                "</tr>"
            )
        total = format_money(session["amount_total"], currency)
        cancel = esc(self._page_url(request, session, "/cancel"))
        return f"""
  <section class="summary" aria-label="Order summary">
    <div class="top">
      <a class="back" href="{cancel}">&larr; Back</a>
      <span class="badge">Test mode</span>
    </div>
    <p class="due-label">Amount due</p>
    <p class="due" data-total>{esc(total)}</p>
    <table class="lines">
      <thead><tr><th>Item</th><th class="qty">Qty</th><th class="unit">Unit price</th>
        <th class="amount">Amount</th></tr></thead>
      <tbody>{"".join(rows)}</tbody>
      <tfoot><tr><th colspan="3">Total due</th>
        <td class="amount total">{esc(total)}</td></tr></tfoot>
    </table>
    <p class="cancel"><a href="{cancel}">Cancel and return to the shop</a></p>
  </section>"""

    def _authentication_page(
        self,
        request: Request,
        session: dict,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        card = self.state.pending_authentication(session["id"]) or {}
        total = format_money(session["amount_total"], session["currency"])
        brand = str(card.get("brand", "card")).title()
        action = esc(self._page_url(request, session, "/authenticate"))
        alert = f'<div class="alert" role="alert">{esc(error)}</div>' if error else ""
        body = f"""
<main class="shell narrow">
  <section class="payment auth" aria-label="Authentication">
    <span class="badge">Test mode</span>
    <h2>Authenticate your payment</h2>
    <p>Your bank asks you to confirm this purchase (3-D Secure test page).</p>
    {alert}
    <dl class="facts">
      <dt>Amount</dt><dd>{esc(total)}</dd>
      <dt>Card</dt>
      <dd>{esc(brand)} &bull;&bull;&bull;&bull; {esc(card.get("last4", ""))}</dd>
    </dl>
    <form method="post" action="{action}">
      <button type="submit" name="action" value="approve" class="pay">
        Complete authentication</button>
      <button type="submit" name="action" value="fail" class="secondary">
        Fail authentication</button>
    </form>
  </section>
</main>"""
        return _html_response("Authenticate your payment", body, status)

    def _unavailable(self, request: Request, session: dict) -> Response:
        """The page of an expired or completed session (410)."""
        if session["status"] == "complete":
            link = success_redirect_url(session)
            detail = "It has already been paid."
        else:
            link = session["cancel_url"]
            detail = "It has expired; start the payment again from the shop."
        back = (
            f'<p><a class="button" href="{esc(link)}">Return to the shop</a></p>'
            if link
            else ""
        )
        return self._message_page(request, UNAVAILABLE_MESSAGE, detail, 410, extra=back)

    @staticmethod
    def _message_page(
        request: Request, title: str, detail: str, status: int, extra: str = ""
    ) -> Response:
        body = f"""
<main class="shell narrow">
  <section class="payment message">
    <span class="badge">Test mode</span>
    <h2>{esc(title)}</h2>
    <p>{esc(detail)}</p>
    {extra}
  </section>
</main>"""
        return _html_response(title, body, status)


def esc(value) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(value), quote=True)


def _input(name: str, label: str, values: dict, errors: dict, **attrs) -> str:
    """A labelled text input with its error message."""
    extra = " ".join(f'{key}="{esc(value)}"' for key, value in attrs.items())
    invalid = ' aria-invalid="true" class="invalid"' if name in errors else ""
    return (
        f'<div class="field"><label class="label" for="{name}">{esc(label)}</label>'
        f'<input id="{name}" name="{name}" {extra}{invalid} '
        f'value="{esc(values.get(name, ""))}">'
        f"{_errors(errors, (name,))}</div>"
    )


def _errors(errors: dict, names) -> str:
    """The error messages of some fields."""
    return "".join(
        f'<p class="field-error" data-field="{name}">{esc(errors[name])}</p>'
        for name in names
        if name in errors
    )


def _box_error(errors: dict) -> str:
    return " invalid" if {"cardnumber", "expiry", "cvc"} & set(errors) else ""


def _html_response(title: str, body: str, status: int) -> Response:
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{esc(title)} · Stripe simulator</title>
<style>{STYLE}</style>
</head>
<body>{body}
<footer>Stripe simulator &middot; test mode, no real payment is made</footer>
</body>
</html>
"""
    response = Response(page, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return response


STYLE = """
*{box-sizing:border-box}
body{margin:0;min-height:100vh;background:#f6f9fc;color:#1a1f36;
 font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,
 sans-serif;display:flex;flex-direction:column;align-items:center}
.shell{display:flex;flex-wrap:wrap;gap:0;max-width:920px;width:100%;
 margin:40px 16px 16px;background:#fff;border-radius:12px;
 box-shadow:0 6px 24px rgba(50,50,93,.12),0 2px 6px rgba(0,0,0,.06);overflow:hidden}
.shell.narrow{max-width:440px}
.summary{flex:1 1 360px;padding:32px;background:#fafbfd;border-right:1px solid #e6ebf1}
.payment{flex:1 1 360px;padding:32px}
.top{display:flex;justify-content:space-between;align-items:center}
.back{color:#697386;text-decoration:none;font-weight:500}
.back:hover{color:#1a1f36}
.badge{display:inline-block;background:#ffde92;color:#983705;font-size:11px;
 font-weight:700;text-transform:uppercase;letter-spacing:.04em;padding:2px 8px;
 border-radius:4px}
.due-label{margin:24px 0 0;color:#697386;font-weight:500}
.due{margin:0 0 16px;font-size:36px;font-weight:700;letter-spacing:-.02em}
table.lines{width:100%;border-collapse:collapse;font-size:14px}
.lines th{text-align:left;color:#697386;font-weight:500;font-size:12px;
 padding:6px 4px;border-bottom:1px solid #e6ebf1}
.lines td{padding:10px 4px;border-bottom:1px solid #e6ebf1;vertical-align:top}
.lines .qty,.lines .unit,.lines .amount{text-align:right;white-space:nowrap}
.lines .name{font-weight:500;word-break:break-word}
.lines tfoot th{border:0;color:#1a1f36;font-size:15px;padding-top:14px}
.lines tfoot td{border:0;font-weight:700;font-size:15px;padding-top:14px}
.cancel{margin-top:24px;font-size:13px}
.cancel a{color:#697386}
h2{margin:0 0 16px;font-size:20px}
fieldset{border:0;margin:0 0 16px;padding:0}
.field{margin-bottom:16px}
.label{display:block;color:#4f566b;font-size:13px;font-weight:500;margin-bottom:6px;
 padding:0}
.static{padding:8px 0;color:#1a1f36}
input{width:100%;font:inherit;padding:10px 12px;border:1px solid #d5dbe1;
 border-radius:6px;background:#fff;color:#1a1f36;outline:none}
input:focus{border-color:#635bff;box-shadow:0 0 0 3px rgba(99,91,255,.25)}
input.invalid,.card-box.invalid{border-color:#df1b41}
.card-box{border:1px solid #d5dbe1;border-radius:6px;overflow:hidden}
.card-box input{border:0;border-radius:0}
.card-box .split{display:flex;border-top:1px solid #d5dbe1}
.card-box .split input+input{border-left:1px solid #d5dbe1}
.field-error{color:#df1b41;font-size:13px;margin:6px 0 0}
.alert{background:#fde8ec;color:#a41c38;border:1px solid #f8c1cc;border-radius:6px;
 padding:10px 12px;margin-bottom:16px}
.notice{background:#eef3ff;color:#2a3aa8;border:1px solid #cbd7ff;border-radius:6px;
 padding:10px 12px;margin-bottom:16px}
button{font:inherit;cursor:pointer;border-radius:6px;padding:12px 16px;width:100%;
 font-weight:600}
button.pay{background:#635bff;color:#fff;border:0;margin-top:4px}
button.pay:hover{background:#5147e5}
button.secondary{background:#fff;color:#1a1f36;border:1px solid #d5dbe1;margin-top:10px}
.button{display:inline-block;background:#635bff;color:#fff;text-decoration:none;
 padding:10px 16px;border-radius:6px;font-weight:600}
.hint{margin-top:24px;font-size:13px;color:#4f566b}
.hint summary{cursor:pointer;font-weight:500}
.hint ul{padding-left:18px;margin:8px 0}
code{background:#f2f4f7;padding:1px 4px;border-radius:3px}
.facts{display:grid;grid-template-columns:auto 1fr;gap:6px 16px;margin:16px 0 24px}
.facts dt{color:#697386}
.facts dd{margin:0;font-weight:500}
footer{color:#8792a2;font-size:12px;margin:8px 0 24px}
@media (max-width:760px){.summary{border-right:0;border-bottom:1px solid #e6ebf1}
 .shell{margin:0;border-radius:0}}
"""
