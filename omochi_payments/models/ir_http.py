from werkzeug.exceptions import MethodNotAllowed

from odoo import models
from odoo.http import request

from ..controllers.api import error_response

API_PREFIX = "/api/"


class IrHttp(models.AbstractModel):
    """The ``/api`` routes answer JSON (DESIGN §7) even where no route runs:
    a wrong method (405) or an unknown ``/api`` path (404), instead of
    Odoo's HTML error pages."""

    _inherit = "ir.http"

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
