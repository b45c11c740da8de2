"""JSON responses shaped like Stripe's."""

import json

from werkzeug.wrappers import Response

from .errors import StripeError


def json_response(
    body: dict, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response formatted like Stripe's (2-space indent)."""
    text = json.dumps(body, indent=2) + "\n"
    return Response(text, status, headers, mimetype="application/json")


def error_response(error: StripeError) -> Response:
    """The Stripe-shaped JSON response of ``error``."""
    return json_response(error.body(), error.status, error.headers)
