"""The one helper for Stripe-shaped errors.

Every error answered by the simulator has Stripe's body::

    {"error": {"type": ..., "code": ..., "message": ..., "param": ..., "doc_url": ...,
               "request_log_url": ...}}

(the fields of https://stripe.com/docs/api/errors that apply, and no others).
"""

from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"


def doc_url(code: str) -> str:
    """Stripe's documentation page of an error ``code`` (``doc_url``)."""
    return DOCS + code.replace("_", "-")


class StripeError(Exception):
    """An API error; raised anywhere, turned into a response by the app."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        #: Where the request is logged (set by the app for API requests).
        self.request_log_url: str | None = None

    def body(self) -> dict:
        """The JSON body Stripe would send for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = doc_url(self.code)
        if self.param:
            error["param"] = self.param
        if self.request_log_url:
            error["request_log_url"] = self.request_log_url
        error.update(self.extra)
        return {"error": dict(sorted(error.items()))}


def invalid_request(
    message: str, param: str | None = None, code: str | None = None
) -> StripeError:
    """A 400 ``invalid_request_error``."""
    return StripeError(message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    """Stripe's "Missing required param: x." error."""
    return invalid_request(
        f"Missing required param: {param}.", param, "parameter_missing"
    )


def unknown_param(param: str) -> StripeError:
    """Stripe's "Received unknown parameter: x" error."""
    return invalid_request(
        f"Received unknown parameter: {param}", param, "parameter_unknown"
    )


def resource_missing(object_name: str, object_id: str, param: str) -> StripeError:
    """Stripe's 404 "No such checkout.session: 'cs_...'" error."""
    return StripeError(
        f"No such {object_name}: '{object_id}'",
        status=404,
        code="resource_missing",
        param=param,
    )
