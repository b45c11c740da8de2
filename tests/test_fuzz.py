"""Property-based fuzzing (hypothesis) of the two pure helpers every payment
goes through: the ``Stripe-Signature`` verification of webhooks
(``tools/stripe_signature.py``) and the conversion of amounts to and from
Stripe's minor units (``tools/stripe_amounts.py``).

Both modules import nothing from Odoo: they are loaded by path, alone, so that
this suite runs in the same pytest process as the others without an Odoo
registry. The runs are derandomized (the same examples every time) and
bounded.
"""

import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from testkit import stripe_events

signature = stripe_events.signature
amounts = stripe_events.load_addon_tool("stripe_amounts")
SignatureVerificationError = signature.SignatureVerificationError
verify_signature = signature.verify_signature
to_minor_units = amounts.to_minor_units
from_minor_units = amounts.from_minor_units

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = 1_800_000_000  # a fixed "now": the runs do not depend on the clock
TOLERANCE = signature.TOLERANCE_SECONDS

# --------------------------------------------------------------- signatures
# Secrets as they may be configured: any text (the environment, odoo.conf or
# a settings field), mostly whsec_-shaped.
secrets_ = st.one_of(
    st.builds(lambda s: f"whsec_{s}", st.text(st.characters(codec="ascii"))),
    st.text(min_size=1, max_size=80),
)
# Header values as an HTTP server hands them over: WSGI decodes the raw bytes
# as latin-1, so every latin-1 character may appear (superscript digits,
# no-break spaces...); any other text too, for callers of the function.
header_chars = st.one_of(
    st.characters(codec="latin-1"),
    st.characters(),
)
header_items = st.tuples(
    st.one_of(
        st.sampled_from(["t", "v1", "v0", "T", " t", "v1 ", "", "t=", "v2"]),
        st.text(header_chars, max_size=5),
    ),
    st.sampled_from(["=", "", "=="]),
    st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12).map(str),
        st.just(str(NOW)),
        st.text("0123456789abcdef", max_size=70),
        st.text(header_chars, max_size=20),
    ),
)
structured_headers = st.lists(header_items, max_size=6).map(
    lambda items: ",".join(f"{key}{sep}{value}" for key, sep, value in items)
)
headers = st.one_of(structured_headers, st.text(header_chars, max_size=200))


def _signed(payload, secret, timestamp):
    return signature.signature_header(payload, secret, timestamp=timestamp)


@FUZZ
@given(
    payload=st.binary(max_size=512),
    header=headers,
    secrets=st.lists(secrets_, max_size=3),
    now=st.one_of(st.just(NOW), st.floats(0, 4e9, allow_nan=False)),
)
@example(payload=b"{}", header="t=\xb2,v1=00", secrets=["whsec_a"], now=NOW)
@example(payload=b"{}", header="t=\xb9\xb3", secrets=["whsec_a"], now=NOW)
@example(payload=b"{}", header="t=\u0661\u0662,v1=00", secrets=["whsec_a"], now=NOW)
@example(payload=b"{}", header="t=1,v1=\xff\u20ac", secrets=["whsec_a"], now=1)
@example(payload=b"{}", header="x" * 5000, secrets=["whsec_a"], now=NOW)
@example(payload=b"{}", header="", secrets=[], now=NOW)
def test_verify_signature_raises_nothing_but_its_own_error(
    payload, header, secrets, now
):
    """Garbage in, SignatureVerificationError out: whatever the header, body
    and secrets, nothing else escapes (the controller only catches that one,
    anything else would be a 500 before the signature is even checked)."""
    try:
        timestamp = verify_signature(payload, header, secrets, now=now)
    except SignatureVerificationError as error:
        # The reason is logged: it never carries a secret.
        message = str(error)
        assert not any(s in message for s in secrets if s.startswith("whsec_"))
        return
    # It verified: then the header held a genuine signature of the body.
    assert any(
        signature.compute_signature(payload, timestamp, secret) in header
        for secret in secrets
    )


@FUZZ
@given(
    payload=st.binary(max_size=2048),
    secret=secrets_,
    skew=st.integers(-TOLERANCE, TOLERANCE),
    decoys=st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=3),
    others=st.lists(secrets_, max_size=3),
    position=st.integers(0, 3),
    decoy_first=st.booleans(),
)
def test_a_correctly_signed_body_always_verifies(
    payload, secret, skew, decoys, others, position, decoy_first
):
    """Any body signed with any active secret, within the tolerance, verifies,
    among other v1 signatures (Stripe's rotation) and other secrets."""
    timestamp = NOW + skew
    header = _signed(payload, secret, timestamp)
    extra = ",".join(f"v1={decoy}" for decoy in decoys)
    if extra:
        header = f"{header},{extra}" if not decoy_first else f"{extra},{header}"
    header += ",v0=" + "0" * 64
    active = [s for s in others if s != secret]
    active.insert(min(position, len(active)), secret)
    assert verify_signature(payload, header, active, now=NOW) == timestamp


@FUZZ
@given(
    payload=st.binary(min_size=1, max_size=1024),
    secret=secrets_,
    index=st.integers(min_value=0),
    delta=st.integers(1, 255),
)
def test_any_single_byte_change_of_the_body_fails(payload, secret, index, delta):
    header = _signed(payload, secret, NOW)
    assert verify_signature(payload, header, [secret], now=NOW) == NOW
    changed = bytearray(payload)
    index %= len(changed)
    changed[index] = (changed[index] + delta) % 256
    with pytest.raises(SignatureVerificationError):
        verify_signature(bytes(changed), header, [secret], now=NOW)


@FUZZ
@given(
    payload=st.binary(max_size=1024),
    secret=secrets_,
    index=st.integers(min_value=0),
    delta=st.integers(1, 255),
)
def test_any_single_byte_change_of_the_header_fails(payload, secret, index, delta):
    """A byte changed anywhere in the header (timestamp, signature, names)
    never yields a valid signature: the signature or the signed timestamp no
    longer match, or the header no longer parses."""
    header = _signed(payload, secret, NOW).encode("ascii")
    changed = bytearray(header)
    index %= len(changed)
    changed[index] = (changed[index] + delta) % 256
    forged = bytes(changed).decode("latin-1")
    # A change that only cases a hex digit of the signature: still the same
    # hex number, but compared as text, so refused too.
    with pytest.raises(SignatureVerificationError):
        verify_signature(payload, forged, [secret], now=NOW + 1)


@FUZZ
@given(
    payload=st.binary(max_size=256),
    secret=secrets_,
    other=secrets_,
    outside=st.integers(TOLERANCE + 1, 10**9),
    sign=st.sampled_from([-1, 1]),
)
def test_wrong_secret_or_stale_timestamp_fails(payload, secret, other, outside, sign):
    assume(other != secret)
    with pytest.raises(SignatureVerificationError):
        verify_signature(payload, _signed(payload, secret, NOW), [other], now=NOW)
    stale = NOW + sign * outside  # a captured delivery replayed later
    with pytest.raises(SignatureVerificationError):
        verify_signature(payload, _signed(payload, secret, stale), [secret], now=NOW)


def test_default_now_is_the_clock():
    """Without ``now``, the real clock decides (the controller's call)."""
    header = signature.signature_header(b"{}", "whsec_x")
    assert abs(verify_signature(b"{}", header, ["whsec_x"]) - time.time()) < 5


# ------------------------------------------------------------------ amounts
# (factor, step) of each of Stripe's rules, with the currencies that follow it.
RULES = {
    "two decimals": (100, 1, ["EUR", "USD", "GBP", "CHF", "eur"]),
    "zero decimal": (1, 1, sorted(amounts.ZERO_DECIMAL_CURRENCIES)),
    "three decimals": (1000, 10, sorted(amounts.THREE_DECIMAL_CURRENCIES)),
    "whole units x100": (100, 100, sorted(amounts.WHOLE_UNITS_TIMES_100_CURRENCIES)),
}
ALL_CODES = sorted({code for *_rule, codes in RULES.values() for code in codes})
currencies = st.one_of(
    st.sampled_from(ALL_CODES),
    st.sampled_from(ALL_CODES).map(str.lower),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
)


def _rule(code):
    for factor, step, codes in RULES.values():
        if code.upper() in {c.upper() for c in codes}:
            return factor, step
    return 100, 1  # every other currency has two decimals


# Amounts in major units, up to a trillion, with up to 6 decimals.
decimals = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    allow_nan=False,
    allow_infinity=False,
    places=6,
)
amounts_any = st.one_of(
    decimals,
    decimals.map(str),
    st.integers(-(10**12), 10**12),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)


@pytest.mark.parametrize("rule", sorted(RULES))
@FUZZ
@given(data=st.data())
def test_minor_units_round_trip_for_each_rule(rule, data):
    """Every chargeable minor amount (a multiple of the step) survives
    from_minor_units then to_minor_units, and back, exactly."""
    factor, step, codes = RULES[rule]
    code = data.draw(st.sampled_from(codes), label="currency")
    minor = data.draw(st.integers(-(10**14), 10**14), label="steps") * step
    major = from_minor_units(minor, code)
    assert isinstance(major, Decimal)
    assert major * factor == minor
    assert to_minor_units(major, code) == minor
    assert to_minor_units(str(major), code) == minor
    assert from_minor_units(to_minor_units(major, code), code) == major


@FUZZ
@given(amount=amounts_any, currency=currencies)
def test_to_minor_units_gives_an_int_multiple_of_the_step_nearest(amount, currency):
    factor, step = _rule(currency)
    minor = to_minor_units(amount, currency)
    assert type(minor) is int
    assert minor % step == 0
    exact = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    # Rounded to the nearest step, half away from zero.
    error = exact * factor - minor
    assert abs(error) <= Decimal(step) / 2
    if abs(error) == Decimal(step) / 2:
        assert abs(minor) > abs(exact * factor)
    assert to_minor_units(-exact, currency) == -minor  # symmetric
    assert to_minor_units(exact, currency.lower()) == minor  # any case


@FUZZ
@given(a=amounts_any, b=amounts_any, currency=currencies)
def test_to_minor_units_is_monotonic(a, b, currency):
    def value(x):
        return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)

    if value(a) > value(b):
        a, b = b, a
    assert to_minor_units(a, currency) <= to_minor_units(b, currency)


@FUZZ
@given(
    amount=st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    currency=currencies,
)
def test_floats_convert_by_their_shortest_decimal(amount, currency):
    """A float converts as the decimal it prints as (0.285 EUR is 29), never
    as its binary value."""
    assert to_minor_units(amount, currency) == to_minor_units(repr(amount), currency)


@FUZZ
@given(minor=st.integers(-(10**15), 10**15), a=st.integers(0, 10**6), c=currencies)
def test_from_minor_units_is_exact_and_monotonic(minor, a, c):
    factor, _step = _rule(c)
    assert from_minor_units(minor, c) == Decimal(minor) / factor
    assert from_minor_units(minor, c) <= from_minor_units(minor + a, c)


@FUZZ
@given(
    value=st.one_of(
        st.booleans(),
        st.floats(allow_nan=False),
        st.decimals(allow_nan=False),
        st.text(max_size=10),
        st.none(),
    )
)
def test_from_minor_units_takes_only_integers(value):
    with pytest.raises(TypeError):
        from_minor_units(value, "EUR")


@FUZZ
@given(
    code=st.one_of(
        # (as upper-cased: "ßa" reads as "SSA", a code of the right shape)
        st.text(max_size=6).filter(
            lambda s: not (len(s.upper()) == 3 and s.isascii() and s.isalpha())
        ),
        st.none(),
    ),
    amount=st.integers(0, 1000),
)
def test_a_malformed_currency_code_is_a_value_error(code, amount):
    with pytest.raises(ValueError):
        to_minor_units(amount, code)
    with pytest.raises(ValueError):
        from_minor_units(amount, code)
