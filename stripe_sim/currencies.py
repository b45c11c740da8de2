"""Stripe's currency rules, kept in one place.

Amounts on Stripe's API are integers in the currency's *API minor unit*:

* zero-decimal currencies (JPY, KRW, VND, ...) are sent as whole units;
* three-decimal currencies (BHD, JOD, KWD, OMR, TND) are sent in thousandths and
  must be a multiple of 10 when charged;
* ISK and UGX are zero-decimal for people but sent x100 on the API and must be
  a multiple of 100 (no fractions can be charged);
* every other currency has two decimals.
"""


def words(text: str) -> frozenset[str]:
    """The set of whitespace-separated words of ``text``."""
    return frozenset(text.split())


ZERO_DECIMAL = words("bif clp djf gnf jpy kmf krw mga pyg rwf vnd vuv xaf xof xpf")
THREE_DECIMAL = words("bhd jod kwd omr tnd")
#: Sent x100 on the API but only whole units can be charged.
WHOLE_UNITS_X100 = words("isk ugx")

SUPPORTED = words("""
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob
    brl bsd bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb
    eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod
    jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt
    mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln
    pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs tnd
    top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """)

#: Stripe's largest amount for one charge (8 digits).
MAX_AMOUNT = 99_999_999


def api_exponent(currency: str) -> int:
    """Number of decimals of the API amount (``1234`` EUR means ``12.34``)."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def display_exponent(currency: str) -> int:
    """Number of decimals a person sees (ISK/UGX show whole units)."""
    code = currency.lower()
    return 0 if code in WHOLE_UNITS_X100 else api_exponent(code)


def format_amount(amount: int, currency: str) -> str:
    """Format an API amount for people, e.g. ``format_amount(1234, "eur")`` ->
    ``"12.34 EUR"``, ``format_amount(500, "jpy")`` -> ``"500 JPY"``."""
    value = amount / (10 ** api_exponent(currency))
    return f"{value:,.{display_exponent(currency)}f} {currency.upper()}"


def amount_granularity_error(amount: int, currency: str) -> str | None:
    """Return why ``amount`` cannot be charged in ``currency``, or ``None``."""
    code = currency.lower()
    if code in THREE_DECIMAL and amount % 10:
        return (
            f"Amounts in {code.upper()} must be a multiple of 10 (the last digit "
            f"of a three-decimal amount must be 0); got {amount}."
        )
    if code in WHOLE_UNITS_X100 and amount % 100:
        return (
            f"Amounts in {code.upper()} are sent x100 and must be a multiple of 100 "
            f"(whole units only); got {amount}."
        )
    return None


#: Symbols shown before amounts on the hosted checkout page; other currencies
#: show their ISO code (``KWD 12.345``).
SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "cny": "CN¥",
    "krw": "₩",
    "inr": "₹",
    "ils": "₪",
    "vnd": "₫",
    "php": "₱",
    "thb": "฿",
    "try": "₺",
    "ngn": "₦",
    "uah": "₴",
    "cad": "CA$",
    "aud": "A$",
    "nzd": "NZ$",
    "hkd": "HK$",
    "mxn": "MX$",
    "brl": "R$",
    "twd": "NT$",
}


def format_money(amount: int, currency: str) -> str:
    """Format an API amount like a checkout page: ``format_money(13470, "eur")``
    -> ``"€134.70"``, ``format_money(12400, "jpy")`` -> ``"¥12,400"``,
    ``format_money(12340, "kwd")`` -> ``"KWD 12.340"``; negative amounts get a
    leading minus sign."""
    code = currency.lower()
    value = abs(amount) / (10 ** api_exponent(code))
    number = f"{value:,.{display_exponent(code)}f}"
    symbol = SYMBOLS.get(code)
    text = f"{symbol}{number}" if symbol else f"{code.upper()} {number}"
    return f"-{text}" if amount < 0 else text
