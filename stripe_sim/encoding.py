"""The one decoder of Stripe's form encoding into nested dicts and lists.

Stripe (and its SDK) send nested parameters as bracketed keys::

    line_items[0][price_data][currency]=eur   -> {"line_items": [{"price_data": ...}]}
    metadata[payment_id]=abc                  -> {"metadata": {"payment_id": "abc"}}
    expand[]=payment_intent                   -> {"expand": ["payment_intent"]}
    expand[0]=payment_intent                  -> {"expand": ["payment_intent"]}

All leaf values stay strings; the endpoints coerce them.
"""

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")

#: Parameters that are free-form hashes: their digit keys never become list indexes.
HASH_PARAMS = frozenset({"metadata"})


class ParamDecodeError(ValueError):
    """A parameter name or structure that cannot be decoded."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def parse_query(query: str | bytes) -> dict:
    """Decode a URL query string (or form body) into nested params."""
    if isinstance(query, bytes):
        query = query.decode("utf-8", errors="replace")
    return decode_pairs(parse_qsl(query, keep_blank_values=True))


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict:
    """Decode ordered ``(key, value)`` pairs into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        _insert(root, _split_key(key), value, key)
    return _finalize(root, hash_like=False)


def _split_key(key: str) -> list[str]:
    """``"a[b][0][]"`` -> ``["a", "b", "0", ""]``."""
    match = _KEY.match(key)
    if not match:
        raise ParamDecodeError(f"Invalid parameter name: {key}", key)
    return [match.group(1), *_SUBKEY.findall(match.group(2))]


def _insert(container: dict, tokens: list[str], value: str, key: str) -> None:
    """Store ``value`` at the path ``tokens`` below ``container``."""
    head, rest = tokens[0], tokens[1:]
    if not rest:
        if isinstance(container.get(head), (dict, list)):
            raise ParamDecodeError(f"Invalid value for {key}: conflicting types", key)
        container[head] = value
        return
    if rest[0] == "":
        _insert_appended(container, head, rest[1:], value, key)
        return
    child = container.setdefault(head, {})
    if not isinstance(child, dict):
        raise ParamDecodeError(f"Invalid value for {key}: conflicting types", key)
    _insert(child, rest, value, key)


def _insert_appended(
    container: dict, head: str, rest: list[str], value: str, key: str
) -> None:
    """Handle ``head[]...``: append a scalar, or fill/start an object element."""
    items = container.setdefault(head, [])
    if not isinstance(items, list):
        raise ParamDecodeError(f"Invalid value for {key}: conflicting types", key)
    if not rest:
        items.append(value)
        return
    last = items[-1] if items else None
    if not isinstance(last, dict) or rest[0] in last:
        last = {}
        items.append(last)
    _insert(last, rest, value, key)


def _finalize(node, hash_like: bool):
    """Turn dicts whose keys are all integers into lists (except hash params)."""
    if isinstance(node, list):
        return [_finalize(item, False) for item in node]
    if not isinstance(node, dict):
        return node
    result = {k: _finalize(v, k in HASH_PARAMS) for k, v in node.items()}
    if result and not hash_like and all(k.isdigit() for k in result):
        return [result[k] for k in sorted(result, key=int)]
    return result
