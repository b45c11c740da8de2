"""``POST /api/payments/webhook/``: Stripe's word on payments (DESIGN §8).

The signature is verified over the raw body with every active secret BEFORE
anything is parsed or written; any failure answers 400 and writes nothing.
A verified event is only stored ``pending`` and acknowledged, as Stripe asks;
Odoo's cron workers apply it (``omochi.payment.event._omochi_process_pending``).
"""

import contextlib
import json
import logging

from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from odoo import http, sql_db
from odoo.http import request

from .. import const
from ..tools.stripe_signature import SignatureVerificationError, find_signing_secret
from .api import error_response, json_response

_logger = logging.getLogger(__name__)


def _parse_event(payload):
    """Return the event of a verified body, or ``None`` when it is not a
    Stripe event (not JSON, or missing ``id``/``type``/``data.object``)."""
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: nesting too deep for the parser.
        return None
    if not isinstance(event, dict):
        return None
    data = event.get("data")
    if (
        not isinstance(event.get("id"), str)
        or not event["id"].startswith("evt_")
        or not isinstance(event.get("type"), str)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        return None
    return event


class OmochiStripeWebhook(http.Controller):
    @http.route(
        "/api/payments/webhook/",
        type="http",
        # No user at all: the signature is the authentication, and Odoo's
        # public user would cost a query per delivery.
        auth="none",
        # Read/write like any route that writes: the acknowledgement opens its
        # own read/write cursor (never on a read-only replica).
        readonly=False,
        methods=["POST"],
        csrf=False,
        save_session=False,
        # Checked by ir.http._pre_dispatch, before the body is parsed.
        max_content_length=const.WEBHOOK_MAX_BODY_BYTES,
        omochi_body_limit=True,
    )
    def stripe_webhook(self, **_query):
        """Verify and store one Stripe event ``pending``; 200 when stored."""
        httprequest = request.httprequest
        if httprequest.method == "OPTIONS":
            # Odoo routes OPTIONS here too; Stripe never sends it (no CORS).
            return request.make_response("", status=204)
        # ir.http._pre_dispatch has refused a body over the limit already
        # (declared or chunked); cached: the stream can be read once only.
        payload = httprequest.get_data(cache=True)
        # Cached per worker until a company's settings change: no query.
        scopes = dict(request.env["res.company"].sudo()._omochi_webhook_secret_scopes())
        try:
            _timestamp, secret = find_signing_secret(
                payload, httprequest.headers.get("Stripe-Signature", ""), tuple(scopes)
            )
        except SignatureVerificationError as error:
            _logger.warning(
                "Stripe webhook refused from %s: %s", httprequest.remote_addr, error
            )
            request.env["omochi.payment.webhook.refusal"].sudo()._omochi_count(
                error.reason
            )
            return error_response(
                400, "invalid_signature", "The Stripe signature could not be verified."
            )
        event = _parse_event(payload)
        if event is None:
            _logger.warning("Stripe webhook refused: a signed body that is no event")
            return error_response(
                400, "invalid_payload", "The body is not a Stripe event."
            )
        with _autocommit_env() as env:
            duplicate = env["omochi.payment.event"]._omochi_acknowledge(
                event, payload.decode(), scopes[secret]
            )
        return json_response({"received": True, "duplicate": duplicate})


@contextlib.contextmanager
def _autocommit_env():
    """Yield a superuser environment whose cursor commits each statement.

    The request's own cursor when its transaction has not begun (the
    webhook runs no statement before it stores the event): switched to
    autocommit and left so, since the request writes nothing more; Odoo's
    pool makes the connection transactional again when it is next borrowed,
    with no extra round trip. Otherwise a cursor of its own. A test's shared
    cursor is used as it is (its test rolls everything back).
    """
    cr = request.env.cr
    if not isinstance(cr, sql_db.Cursor):
        yield request.env(su=True)
        return
    if cr._cnx.get_transaction_status() == TRANSACTION_STATUS_IDLE:
        cr._cnx.autocommit = True
        yield request.env(su=True)
        return
    with request.env.registry.cursor() as own_cr:
        own_cr._cnx.autocommit = True
        yield request.env(cr=own_cr, su=True)
