from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge, abort

from odoo import models
from odoo.http import request

from .. import const
from ..controllers.api import error_response

API_PREFIX = "/api/"


class IrHttp(models.AbstractModel):
    """The Omochi routes' HTTP rules: body limits before parsing, and the
    ``/api`` routes answer JSON (DESIGN §7) even where no route runs: a wrong
    method (405) or an unknown ``/api`` path (404), instead of Odoo's HTML
    error pages."""

    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        """Enforce the body limit of the Omochi routes before anything parses
        the body (Odoo reads form and multipart bodies right after this).

        A route declared with ``max_content_length`` and ``omochi_body_limit``
        answers the §7 413 error at once when the declared length is too
        large; a body without a length (chunked) is read here, at most up to
        the limit, so that nothing past it is ever read or parsed.
        """
        super()._pre_dispatch(rule, args)
        routing = rule.endpoint.routing
        limit = routing.get("max_content_length")
        if not (limit and routing.get("omochi_body_limit")):
            return
        httprequest = request.httprequest
        too_large = (httprequest.content_length or 0) > limit
        if not too_large and httprequest.content_length is None:
            # Read one byte past the limit at most: werkzeug stops a stream at
            # its limit, so a body of exactly the limit would look complete.
            httprequest.max_content_length = limit + 1
            try:
                too_large = len(httprequest.get_data(cache=True)) > limit
            except RequestEntityTooLarge:
                too_large = True
            httprequest.max_content_length = limit
        if too_large:
            abort(
                request.make_json_response(
                    {
                        "error": {
                            "code": const.BODY_TOO_LARGE_CODE,
                            "message": f"The body exceeds {limit} bytes.",
                        }
                    },
                    status=413,
                )
            )

    @classmethod
    def _match(cls, path_info):
        """Give a wrong method on an ``/api`` route the §7 error body."""
        try:
            return super()._match(path_info)
        except MethodNotAllowed as error:
            if path_info.startswith(API_PREFIX):
                allowed = ", ".join(sorted(error.valid_methods or ()))
                response = error_response(
                    405,
                    "method_not_allowed",
                    f"{request.httprequest.method} is not allowed here; use {allowed}.",
                )
                response.headers["Allow"] = allowed
                error.error_response = response
            raise

    @classmethod
    def _serve_fallback(cls):
        """An unknown ``/api`` path is a §7 404, not Odoo's HTML page."""
        response = super()._serve_fallback()
        if response is None and request.httprequest.path.startswith(API_PREFIX):
            return error_response(404, "not_found", "No such API route.")
        return response
