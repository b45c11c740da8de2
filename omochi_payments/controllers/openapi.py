"""``GET /api/openapi.json``: the OpenAPI 3.1 document of the ``/api`` routes.

The document is kept in the addon (``static/openapi.json``) and served as is,
read once per process. It is public; browsers of the allowed origins get the
same CORS headers as on the other ``/api`` routes.
"""

import functools

from odoo import http
from odoo.http import request
from odoo.tools.misc import file_open

from .api import _cors_headers, _preflight_response

OPENAPI_PATH = "omochi_payments/static/openapi.json"


@functools.cache
def openapi_document():
    """Return the bytes of the addon's OpenAPI document (read once)."""
    with file_open(OPENAPI_PATH, "rb") as file:
        return file.read()


class OmochiOpenApi(http.Controller):
    @http.route(
        "/api/openapi.json",
        type="http",
        auth="public",
        methods=["GET"],
        save_session=False,
        readonly=True,
    )
    def openapi_json(self, **_query):
        """The OpenAPI document of the ``/api`` routes; public."""
        # Odoo routes OPTIONS to every route: answer it as a CORS preflight.
        if request.httprequest.method == "OPTIONS":
            return _preflight_response(["GET"])
        response = request.make_response(
            openapi_document(),
            headers=[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-cache"),
            ],
        )
        response.headers.update(
            _cors_headers(request.httprequest.headers.get("Origin"))
        )
        return response
