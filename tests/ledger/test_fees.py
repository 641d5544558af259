"""The fee and its rounding: integer arithmetic, half to even."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.fees import platform_fee, round_half_even


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 2),
        (7, 2, 4),
        (-5, 2, -2),
        (-7, 2, -4),
        (1, 3, 0),
        (2, 3, 1),
        (-2, 3, -1),
        (25, 10, 2),
        (35, 10, 4),
        (26, 10, 3),
        (24, 10, 2),
        (0, 7, 0),
        (5, -2, -2),
        (-5, -2, 2),
        (10**30 + 5, 10, 10**29),
        (10**30 + 15, 10, 10**29 + 2),
    ],
)
def test_round_half_even_examples(numerator, denominator, expected):
    assert round_half_even(numerator, denominator) == expected


@given(st.integers(-(10**15), 10**15), st.integers(-(10**6), 10**6).filter(bool))
def test_round_half_even_matches_exact_rational_rounding(numerator, denominator):
    # Python's round() of a Fraction rounds half to even, exactly.
    assert round_half_even(numerator, denominator) == round(Fraction(numerator, denominator))


def test_round_half_even_refuses_non_integers():
    with pytest.raises(TypeError):
        round_half_even(2.5, 1)
    with pytest.raises(TypeError):
        round_half_even(True, 1)
    with pytest.raises(ZeroDivisionError):
        round_half_even(1, 0)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (10_000, "USD", 290 + 30),  # 2.9 % of 100.00 plus 0.30
        (1_999, "USD", 58 + 30),  # 57.971 -> 58
        (50, "USD", 1 + 30),  # 1.45 -> 1
        (150, "USD", 4 + 30),  # 4.35 -> 4
        (250, "USD", 7 + 30),  # 7.25 -> 7
        (10_000, "EUR", 290 + 25),
        (10_000, "GBP", 290 + 20),
        (1_000, "JPY", 29 + 30),
        (10_000, "CHF", 290),  # no fixed fee listed: 0
        (20, "USD", 20),  # never more than the amount
        (1, "USD", 1),
    ],
)
def test_platform_fee_defaults(amount, currency, expected):
    assert platform_fee(amount=amount, currency=currency) == expected


def test_platform_fee_reads_settings(settings):
    settings.LEDGER_FEE_PERCENT_BPS = 150
    settings.LEDGER_FEE_FIXED = {"USD": 10}
    assert platform_fee(amount=10_000, currency="USD") == 160
    assert platform_fee(amount=10_000, currency="EUR") == 150
    settings.LEDGER_FEE_PERCENT_BPS = 0
    settings.LEDGER_FEE_FIXED = {}
    assert platform_fee(amount=10_000, currency="USD") == 0


@given(st.integers(1, 99_999_999_999))
def test_platform_fee_is_between_zero_and_the_amount(amount):
    assert 0 <= platform_fee(amount=amount, currency="USD") <= amount
