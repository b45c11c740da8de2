"""Amounts in Stripe's minor units, per Stripe's currency rules (DESIGN §6).

One table and two functions: everything that sends an amount to Stripe or
reads one back (checkout line items, the §4 amount check, refunds) goes
through :func:`to_minor_units` and :func:`from_minor_units`.

Stripe's rules (https://docs.stripe.com/currencies):

- most currencies have two decimals: the amount is sent ×100;
- zero-decimal currencies (JPY, KRW, VND, CLP, ...) are sent in whole units;
- three-decimal currencies (BHD, JOD, KWD, OMR, TND) are sent ×1000 and must
  be a multiple of 10, so the last decimal is rounded away;
- ISK and UGX are zero-decimal for payments but are sent ×100, as a multiple
  of 100 (whole units).
"""

from decimal import ROUND_HALF_UP, Decimal

ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Sent with two decimals that must both be zero.
WHOLE_UNITS_TIMES_100_CURRENCIES = frozenset({"ISK", "UGX"})


def _currency_rule(currency_code):
    """Return ``(factor, step)`` for a currency: minor units per major unit, and
    the multiple the minor amount must be rounded to.

    :param str currency_code: ISO 4217 code, any case.
    :rtype: tuple[int, int]
    """
    code = (currency_code or "").upper()
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise ValueError(f"Not an ISO 4217 currency code: {currency_code!r}")
    if code in ZERO_DECIMAL_CURRENCIES:
        return 1, 1
    if code in THREE_DECIMAL_CURRENCIES:
        return 1000, 10
    if code in WHOLE_UNITS_TIMES_100_CURRENCIES:
        return 100, 100
    return 100, 1


def to_minor_units(amount, currency_code):
    """Convert an amount in major units to Stripe's integer minor units.

    Rounds half away from zero to the currency's smallest chargeable step, on
    the decimal value of ``amount`` (so 0.285 EUR is 29, not 28 as a float
    multiplication would give).

    :param amount: The amount (float, int, str or Decimal) in major units.
    :param str currency_code: ISO 4217 code.
    :return: The amount in minor units, a multiple of the currency's step.
    :rtype: int
    """
    factor, step = _currency_rule(currency_code)
    # repr() of a float is the shortest decimal that round-trips: 0.285 stays 0.285.
    value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    steps = (value * factor / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(steps) * step


def from_minor_units(minor_amount, currency_code):
    """Convert Stripe's integer minor units back to major units.

    :param int minor_amount: The amount as Stripe reports it.
    :param str currency_code: ISO 4217 code.
    :return: The amount in major units, exact.
    :rtype: Decimal
    """
    if isinstance(minor_amount, bool) or not isinstance(minor_amount, int):
        raise TypeError(f"Stripe amounts are integers, got {minor_amount!r}")
    factor, _step = _currency_rule(currency_code)
    return Decimal(minor_amount) / factor
