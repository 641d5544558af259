"""``core.money.convert``: the one function that converts money, exact and half-even in the target's minor unit."""

from decimal import Decimal

import pytest

from core.money import convert


def test_usd_to_jpy_has_no_minor_unit():
    assert convert(1999, "USD", "JPY", Decimal("151.23")) == 3023  # 19.99 × 151.23 = 3023.0877
    assert convert(100, "USD", "JPY", Decimal("150.5")) == 150  # 150.5: a tie, to even
    assert convert(100, "USD", "JPY", Decimal("151.5")) == 152  # 151.5: a tie, to even


def test_jpy_to_usd():
    assert convert(2500, "JPY", "USD", Decimal("0.0066")) == 1650  # 16.50 USD
    assert convert(1, "JPY", "USD", Decimal("0.005")) == 0  # 0.5 cent: a tie, to even (0)
    assert convert(3, "JPY", "USD", Decimal("0.005")) == 2  # 1.5 cents: to even (2)


def test_kwd_has_three_decimals():
    assert convert(1000, "USD", "KWD", Decimal("0.3074")) == 3074  # 10.00 USD = 3.074 KWD
    assert convert(1, "USD", "KWD", Decimal("0.3074")) == 3  # 0.003074 KWD
    assert convert(2500, "KWD", "USD", Decimal("3.253090")) == 813  # 2.500 KWD = 8.132725 USD
    assert convert(5, "KWD", "JPY", Decimal("100")) == 0  # 0.005 × 100 = 0.5 yen: to even (0)
    assert convert(15, "KWD", "JPY", Decimal("100")) == 2  # 1.5 yen: to even (2)


def test_exact_for_large_amounts_and_long_rates():
    assert convert(99_999_999_999, "USD", "EUR", Decimal("0.9213000001")) == 92_130_000_009
    assert convert(10**11, "EUR", "USD", Decimal("1.0745696190")) == 107_456_961_900


@pytest.mark.parametrize("rate", [1.5, "1.5", Decimal("0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")])
def test_refuses_floats_strings_and_non_positive_rates(rate):
    with pytest.raises((TypeError, ValueError)):
        convert(100, "USD", "EUR", rate)


def test_refuses_non_integer_amounts():
    with pytest.raises(TypeError):
        convert(1.0, "USD", "EUR", Decimal("1"))
