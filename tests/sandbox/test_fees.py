"""The processor's fees as pure functions: basis points rounded half to even, in integers."""

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from sandbox.fees import basis_points_of, charge_fee


def test_half_cents_round_to_the_even_neighbour():
    assert basis_points_of(1_020, 250) == 26  # 25.5
    assert basis_points_of(1_060, 250) == 26  # 26.5
    assert basis_points_of(1_061, 250) == 27  # 26.525
    assert basis_points_of(20, 250) == 0  # 0.5
    assert basis_points_of(60, 250) == 2  # 1.5


def test_the_charge_fee_adds_the_fixed_part():
    assert charge_fee(10_000, bps=250, fixed=25) == 275
    assert charge_fee(0, bps=250, fixed=25) == 25


@given(st.integers(-(10**12), 10**12), st.integers(0, 10_000))
def test_basis_points_match_decimal_half_even(amount, bps):
    expected = (Decimal(amount) * bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)

    assert basis_points_of(amount, bps) == int(expected)
