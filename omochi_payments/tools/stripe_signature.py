"""Verification of Stripe's ``Stripe-Signature`` webhook header (DESIGN §8).

Runs over the RAW request body, before anything parses it. The header is
``t=<unix time>,v1=<hex hmac>[,v1=...][,v0=...]``; the signature is the
HMAC-SHA256 of ``"<t>.<body>"`` keyed with the endpoint's signing secret
(https://docs.stripe.com/webhooks#verify-manually). Several ``v1`` entries
and several active secrets (rotation) are accepted; the timestamp must lie
within the tolerance on either side of now, so that a captured delivery
cannot be replayed later.
"""

import hashlib
import hmac
import time

try:
    from .. import const
except ImportError:
    # Loaded alone, from its file, by the end-to-end tests and tools that
    # play Stripe's part without Odoo: const.py has no dependency either.
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "omochi_payments_const", Path(__file__).resolve().parents[1] / "const.py"
    )
    const = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(const)

TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 4096


class SignatureVerificationError(Exception):
    """The webhook is not provably from Stripe; the message says why (no secret).

    ``reason`` is one of ``const.WEBHOOK_REFUSAL_REASONS`` (Health counts them).
    """

    def __init__(self, message, reason=const.WEBHOOK_REFUSAL_BAD_SIGNATURE):
        super().__init__(message)
        self.reason = reason


def _parse_header(header):
    """Return ``(timestamp, [v1 signatures])`` from a ``Stripe-Signature`` header.

    :raise SignatureVerificationError: when the header is missing or garbled.
    """
    if not header:
        raise SignatureVerificationError("missing Stripe-Signature header")
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureVerificationError("Stripe-Signature header too long")
    timestamp, signatures = None, []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            raise SignatureVerificationError("garbled Stripe-Signature header")
        if key == "t":
            # isascii: "²".isdigit() is true, but int("²") fails.
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                raise SignatureVerificationError("garbled Stripe-Signature timestamp")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureVerificationError("no timestamp in Stripe-Signature header")
    if not signatures:
        raise SignatureVerificationError("no v1 signature in Stripe-Signature header")
    return timestamp, signatures


def compute_signature(payload, timestamp, secret):
    """Return the hex ``v1`` signature of ``payload`` (bytes) at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload, secret, timestamp=None):
    """Return a ``Stripe-Signature`` header for ``payload``, as Stripe sends it.

    Used by tests and tools that play Stripe's part.
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute_signature(payload, timestamp, secret)}"


def verify_signature(payload, header, secrets, tolerance=TOLERANCE_SECONDS, now=None):
    """Check that ``payload`` was signed by Stripe with one of ``secrets``.

    :return: The verified timestamp (see :func:`find_signing_secret`).
    :rtype: int
    :raise SignatureVerificationError: on any failure.
    """
    return find_signing_secret(payload, header, secrets, tolerance, now)[0]


def find_signing_secret(
    payload, header, secrets, tolerance=TOLERANCE_SECONDS, now=None
):
    """Check that ``payload`` was signed by Stripe with one of ``secrets`` and
    tell which one (a secret belongs to a company, DESIGN §5).

    :param bytes payload: The raw request body, exactly as received.
    :param str header: The ``Stripe-Signature`` header value.
    :param secrets: The active signing secrets (``whsec_...``).
    :param int tolerance: Maximum age (and advance) of the timestamp, seconds.
    :param float now: The current Unix time (tests).
    :return: ``(verified timestamp, the secret that signed it)``.
    :rtype: tuple[int, str]
    :raise SignatureVerificationError: on any failure.
    """
    if not secrets:
        raise SignatureVerificationError(
            "no webhook signing secret is configured", const.WEBHOOK_REFUSAL_NO_SECRET
        )
    timestamp, signatures = _parse_header(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureVerificationError(
            "timestamp outside the tolerance", const.WEBHOOK_REFUSAL_STALE_TIMESTAMP
        )
    # Bytes: compare_digest refuses non-ASCII str, and a header may hold any.
    candidates = [signature.encode("utf-8", "replace") for signature in signatures]
    for secret in secrets:
        expected = compute_signature(payload, timestamp, secret).encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return timestamp, secret
    raise SignatureVerificationError(
        "no signature matches", const.WEBHOOK_REFUSAL_UNKNOWN_SECRET
    )
