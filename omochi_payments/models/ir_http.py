from werkzeug.exceptions import RequestEntityTooLarge, abort

from odoo import models
from odoo.http import request

from .. import const


class IrHttp(models.AbstractModel):
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
