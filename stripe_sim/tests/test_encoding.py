"""The form decoder and the currency table."""

import pytest

from stripe_sim import currencies
from stripe_sim.encoding import ParamDecodeError, decode_pairs, parse_query


def test_nested_line_items_and_metadata():
    params = parse_query(
        "mode=payment&line_items[0][price_data][currency]=eur"
        "&line_items[0][price_data][product_data][name]=Mochi"
        "&line_items[0][quantity]=2&line_items[1][quantity]=1"
        "&metadata[payment_id]=p1&metadata[0]=zero"
    )
    assert params == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {"currency": "eur", "product_data": {"name": "Mochi"}},
                "quantity": "2",
            },
            {"quantity": "1"},
        ],
        "metadata": {"payment_id": "p1", "0": "zero"},
    }


@pytest.mark.parametrize(
    "query",
    ["expand[]=payment_intent&expand[]=x", "expand[0]=payment_intent&expand[1]=x"],
)
def test_expand_both_array_styles(query):
    assert parse_query(query) == {"expand": ["payment_intent", "x"]}


def test_bracket_append_of_objects_and_blank_values():
    params = decode_pairs(
        [("a[][x]", "1"), ("a[][y]", "2"), ("a[][x]", "3"), ("b", "")]
    )
    assert params == {"a": [{"x": "1", "y": "2"}, {"x": "3"}], "b": ""}


def test_percent_encoded_brackets():
    assert parse_query("metadata%5Bk%5D=v%20w") == {"metadata": {"k": "v w"}}


@pytest.mark.parametrize("query", ["a=1&a[b]=2", "a[b]=2&a=1", "a[b=1"])
def test_conflicts_and_bad_names_are_refused(query):
    with pytest.raises(ParamDecodeError):
        parse_query(query)


def test_currency_table():
    assert currencies.api_exponent("JPY") == 0
    assert currencies.api_exponent("kwd") == 3
    assert currencies.api_exponent("isk") == 2
    assert currencies.display_exponent("isk") == 0
    assert currencies.format_amount(123456, "eur") == "1,234.56 EUR"
    assert currencies.format_amount(500, "jpy") == "500 JPY"
    assert currencies.format_amount(1500, "kwd") == "1.500 KWD"
    assert currencies.format_amount(50000, "isk") == "500 ISK"
    assert currencies.amount_granularity_error(1505, "kwd")
    assert currencies.amount_granularity_error(1510, "kwd") is None
    assert currencies.amount_granularity_error(50050, "ugx")
    assert currencies.amount_granularity_error(50000, "ugx") is None
