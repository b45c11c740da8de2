from decimal import Decimal

from odoo.tests import TransactionCase, tagged

from ..tools.stripe_amounts import (
    THREE_DECIMAL_CURRENCIES,
    WHOLE_UNITS_TIMES_100_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    from_minor_units,
    to_minor_units,
)


@tagged("post_install", "-at_install")
class TestStripeAmounts(TransactionCase):
    """Stripe's currency rules (DESIGN §6, https://docs.stripe.com/currencies)."""

    def assertMinorUnits(self, cases):
        """Check ``to_minor_units(amount, currency) == expected`` for each case,
        and that the result is a plain ``int``."""
        for amount, currency, expected in cases:
            with self.subTest(amount=amount, currency=currency):
                result = to_minor_units(amount, currency)
                self.assertEqual(result, expected)
                self.assertIs(type(result), int)

    def test_currency_tables(self):
        self.assertEqual(
            ZERO_DECIMAL_CURRENCIES,
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
            },
        )
        self.assertEqual(THREE_DECIMAL_CURRENCIES, {"BHD", "JOD", "KWD", "OMR", "TND"})
        self.assertEqual(WHOLE_UNITS_TIMES_100_CURRENCIES, {"ISK", "UGX"})

    def test_two_decimal_currencies(self):
        self.assertMinorUnits(
            [
                (19.99, "EUR", 1999),
                ("19.99", "EUR", 1999),
                (Decimal("19.99"), "EUR", 1999),
                (0.01, "EUR", 1),
                (0.004, "EUR", 0),
                (0.005, "EUR", 1),
                (0, "EUR", 0),
                (10, "EUR", 1000),
                (134.7, "EUR", 13470),
                (51.0, "EUR", 5100),
                # Half up on the decimal value: a float product gives 28.499...
                (0.285, "USD", 29),
                (0.284, "USD", 28),
                (1.005, "USD", 101),
                (2.675, "USD", 268),
                (1.015, "USD", 102),
                (8.325, "USD", 833),
                (-0.285, "USD", -29),
                (1234567.89, "EUR", 123456789),
                (99999999.99, "USD", 9999999999),
                ("12345678901234.56", "USD", 1234567890123456),
                (0.1 + 0.2, "USD", 30),
                (1, "GBP", 100),
                (7.5, "CHF", 750),
                (12.34, "MXN", 1234),
            ]
        )

    def test_zero_decimal_currencies(self):
        for currency in sorted(ZERO_DECIMAL_CURRENCIES):
            self.assertMinorUnits(
                [
                    (12400, currency, 12400),
                    (12400.0, currency, 12400),
                    ("1500", currency, 1500),
                    (1500.4, currency, 1500),
                    (1500.5, currency, 1501),
                    (0.5, currency, 1),
                    (1, currency, 1),
                    (0, currency, 0),
                    (987654321, currency, 987654321),
                ]
            )

    def test_three_decimal_currencies(self):
        for currency in sorted(THREE_DECIMAL_CURRENCIES):
            cases = [
                (1.234, currency, 1230),
                (1.235, currency, 1240),
                ("1.235", currency, 1240),
                (Decimal("1.2349"), currency, 1230),
                (1.23, currency, 1230),
                (0.005, currency, 10),
                (0.004, currency, 0),
                (12.345, currency, 12350),
                (0.495, currency, 500),
                (0.99, currency, 990),
                (100, currency, 100000),
                (0.001, currency, 0),
            ]
            self.assertMinorUnits(cases)
            for amount, _currency, _expected in cases:
                self.assertEqual(to_minor_units(amount, currency) % 10, 0)

    def test_whole_units_times_100_currencies(self):
        for currency in ("ISK", "UGX"):
            cases = [
                (1500, currency, 150000),
                (1500.0, currency, 150000),
                (1500.49, currency, 150000),
                (1500.5, currency, 150100),
                (0.5, currency, 100),
                (0.49, currency, 0),
                (1, currency, 100),
                (0, currency, 0),
            ]
            self.assertMinorUnits(cases)
            for amount, _currency, _expected in cases:
                self.assertEqual(to_minor_units(amount, currency) % 100, 0)

    def test_currency_code_is_case_insensitive(self):
        self.assertMinorUnits(
            [
                (19.99, "eur", 1999),
                (19.99, "Eur", 1999),
                (12400, "jpy", 12400),
                (12400, "Jpy", 12400),
                (1.235, "kwd", 1240),
                (1.235, "bHd", 1240),
                (1500, "isk", 150000),
                (1500, "ugx", 150000),
            ]
        )
        for code in ("eur", "jpy", "kwd", "isk"):
            with self.subTest(code=code):
                self.assertEqual(
                    from_minor_units(1240, code), from_minor_units(1240, code.upper())
                )

    def test_invalid_currency_codes(self):
        for code in (
            None,
            "",
            "EU",
            "EURO",
            "E1R",
            "123",
            " EUR",
            "EUR ",
            "E R",
            "€€€",
            "ÄBC",
            "ＥＵＲ",
        ):
            with self.subTest(code=code):
                with self.assertRaises(ValueError):
                    to_minor_units(10, code)
                with self.assertRaises(ValueError):
                    from_minor_units(1000, code)

    def test_from_minor_units(self):
        cases = [
            (1999, "EUR", Decimal("19.99")),
            (29, "USD", Decimal("0.29")),
            (1, "EUR", Decimal("0.01")),
            (0, "EUR", Decimal(0)),
            (13470, "EUR", Decimal("134.7")),
            (9999999999, "USD", Decimal("99999999.99")),
            (12400, "JPY", Decimal(12400)),
            (1, "KRW", Decimal(1)),
            (1230, "KWD", Decimal("1.23")),
            (1240, "BHD", Decimal("1.24")),
            (10, "TND", Decimal("0.01")),
            (150000, "ISK", Decimal(1500)),
            (100, "UGX", Decimal(1)),
            (-29, "USD", Decimal("-0.29")),
        ]
        for minor, currency, expected in cases:
            with self.subTest(minor=minor, currency=currency):
                result = from_minor_units(minor, currency)
                self.assertIsInstance(result, Decimal)
                self.assertEqual(result, expected)

    def test_round_trips(self):
        decimals_by_currency = {
            "EUR": 2,
            "USD": 2,
            "GBP": 2,
            "JPY": 0,
            "KRW": 0,
            "VND": 0,
            "CLP": 0,
            "XOF": 0,
            "BHD": 2,  # three-decimal currencies are charged in multiples of 10
            "KWD": 2,
            "JOD": 2,
            "OMR": 2,
            "TND": 2,
            "ISK": 0,
            "UGX": 0,
        }
        for currency, decimals in decimals_by_currency.items():
            for units in (0, 1, 7, 99, 100, 1234, 50000, 99999999, 123456789012):
                amount = Decimal(units).scaleb(-decimals)
                with self.subTest(currency=currency, amount=str(amount)):
                    minor = to_minor_units(amount, currency)
                    self.assertEqual(from_minor_units(minor, currency), amount)
                    self.assertEqual(to_minor_units(str(amount), currency), minor)
                    # And back again: the minor amount is a fixed point.
                    self.assertEqual(
                        to_minor_units(from_minor_units(minor, currency), currency),
                        minor,
                    )

    def test_from_minor_units_needs_an_int(self):
        for value in (19.99, 1999.0, "1999", Decimal(1999), True, False, None):
            with self.subTest(value=value), self.assertRaises(TypeError):
                from_minor_units(value, "EUR")
