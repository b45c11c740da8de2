"""Coercion and validation of decoded parameters, with Stripe's error messages."""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import invalid_request, missing_param, unknown_param

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_URL_LENGTH = 5000


def check_allowed(params: dict, allowed: Iterable[str], prefix: str = "") -> None:
    """Refuse any key of ``params`` not in ``allowed`` (Stripe rejects them)."""
    allowed = set(allowed)
    for key in params:
        if key not in allowed:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def require(params: dict, name: str, param: str | None = None) -> Any:
    """Return ``params[name]`` or raise "Missing required param"."""
    value = params.get(name)
    if value is None or value == "":
        raise missing_param(param or name)
    return value


def as_str(value: Any, param: str, max_length: int | None = None) -> str:
    """A string parameter (no nested hash/array)."""
    if isinstance(value, (dict, list)):
        raise invalid_request(f"Invalid string: {value!r}", param, "parameter_invalid")
    text = str(value)
    if max_length is not None and len(text) > max_length:
        raise invalid_request(
            f"Invalid string: {text[:20]}...; must be at most {max_length} characters",
            param,
            "parameter_invalid_string_too_long",
        )
    return text


def as_int(value: Any, param: str, minimum: int | None = None) -> int:
    """An integer parameter, optionally with a lower bound."""
    if isinstance(value, bool):
        raise invalid_request(
            f"Invalid integer: {value}", param, "parameter_invalid_integer"
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value)
    else:
        raise invalid_request(
            f"Invalid integer: {value}", param, "parameter_invalid_integer"
        )
    if minimum is not None and number < minimum:
        raise invalid_request(
            f"This value must be greater than or equal to {minimum}.",
            param,
            "parameter_invalid_integer",
        )
    return number


def as_bool(value: Any, param: str) -> bool:
    """A boolean parameter sent as ``true``/``false``."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise invalid_request(f"Invalid boolean: {value}", param, "parameter_invalid")


def as_list(value: Any, param: str) -> list:
    """An array parameter (``a[0]=x`` or ``a[]=x``)."""
    if isinstance(value, list):
        return value
    raise invalid_request(f"Invalid array: {value!r}", param, "parameter_invalid")


def as_dict(value: Any, param: str) -> dict:
    """A hash parameter (``a[b]=x``)."""
    if isinstance(value, dict):
        return value
    raise invalid_request(f"Invalid hash: {value!r}", param, "parameter_invalid")


def as_choice(value: Any, param: str, choices: Iterable[str]) -> str:
    """A string parameter restricted to ``choices``."""
    choices = list(choices)
    text = as_str(value, param)
    if text not in choices:
        listed = ", ".join(choices[:-1]) + f", or {choices[-1]}"
        raise invalid_request(
            f"Invalid {param}: must be one of {listed}", param, "parameter_invalid"
        )
    return text


def as_url(value: Any, param: str) -> str:
    """An absolute http(s) URL (Stripe's ``url_invalid``)."""
    text = as_str(value, param)
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or len(text) > MAX_URL_LENGTH
        or any(c.isspace() for c in text)
    ):
        raise invalid_request("Not a valid URL", param, "url_invalid")
    return text


def as_email(value: Any, param: str) -> str:
    """An email address (Stripe's ``email_invalid``)."""
    text = as_str(value, param, 800)
    if not _EMAIL.match(text):
        raise invalid_request(f"Invalid email address: {text}", param, "email_invalid")
    return text


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe metadata: up to 50 string values; an empty value drops the key."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid hash: {value!r}", param, "parameter_invalid")
    result: dict[str, str] = {}
    for key, item in value.items():
        key_param = f"{param}[{key}]"
        if isinstance(item, (dict, list)):
            raise invalid_request(
                f"Invalid value type: {item!r} must be a string", key_param
            )
        if len(str(key)) > MAX_METADATA_KEY_LENGTH:
            raise invalid_request(
                f"Metadata keys can have up to {MAX_METADATA_KEY_LENGTH} characters;"
                f" {key!r} is too long.",
                key_param,
            )
        text = "" if item is None else str(item)
        if len(text) > MAX_METADATA_VALUE_LENGTH:
            raise invalid_request(
                f"Metadata values can have up to {MAX_METADATA_VALUE_LENGTH} "
                "characters.",
                key_param,
            )
        if text != "":
            result[str(key)] = text
    if len(result) > MAX_METADATA_KEYS:
        raise invalid_request(
            f"Invalid metadata: metadata can have up to {MAX_METADATA_KEYS} keys",
            param,
        )
    return result


def merge_metadata(current: dict[str, str], update: Any, param: str) -> dict:
    """Apply a metadata update: set keys, drop keys sent empty, ``""`` clears all."""
    if update == "":
        return {}
    update = as_dict(update, param)
    merged = dict(current)
    for key, item in update.items():
        if item in (None, ""):
            merged.pop(str(key), None)
    merged.update(as_metadata(update, param))
    return as_metadata(merged, param)


def expand_list(params: dict) -> list[str]:
    """The ``expand`` parameter as a list of dotted paths."""
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [as_str(item, "expand") for item in as_list(value, "expand")]
