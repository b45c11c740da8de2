"""The one generator of Stripe-looking identifiers used by the simulator."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

#: Length of the random part per prefix; anything else gets ``DEFAULT_LENGTH``.
_LENGTHS = {"cs_test": 58, "req": 14, "whsec": 32}
DEFAULT_LENGTH = 24


def new_id(prefix: str, length: int | None = None) -> str:
    """Return ``prefix`` + ``_`` + random alphanumerics, e.g. ``pi_3Nx...``."""
    size = length or _LENGTHS.get(prefix, DEFAULT_LENGTH)
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(size))
