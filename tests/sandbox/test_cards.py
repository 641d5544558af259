"""The sandbox's test cards as pure functions: brands, behaviours, and that only safe facts are kept."""

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from sandbox.cards import FIXED_TOKENS, TEST_CARD_BEHAVIOURS, brand_for, card_from_number, luhn_valid


def with_check_digit(partial: str) -> str:
    """``partial`` completed with the digit that makes it Luhn-valid."""
    return next(partial + digit for digit in "0123456789" if luhn_valid(partial + digit))


def test_every_test_card_is_luhn_valid_and_matches_its_fixed_token():
    for number, behaviour in TEST_CARD_BEHAVIOURS.items():
        assert luhn_valid(number)
        card = card_from_number(number, 12, 2030)
        assert card.behaviour == behaviour
        assert any(
            fixed.last4 == card.last4 and fixed.brand == card.brand and fixed.behaviour == behaviour
            for fixed in FIXED_TOKENS.values()
        )


@given(st.from_regex(r"\A[0-9]{11,18}\Z"), st.integers(1, 12), st.integers(2030, 2099))
def test_a_card_keeps_only_brand_last4_expiry_and_behaviour(partial, month, year):
    number = with_check_digit(partial)

    card = card_from_number(number, month, year)

    assert card.last4 == number[-4:]
    assert (card.exp_month, card.exp_year) == (month, year)
    assert card.brand == brand_for(number)
    assert card.behaviour == TEST_CARD_BEHAVIOURS.get(number, "approve")
    assert all(number not in str(value) for value in dataclasses.asdict(card).values())


@given(st.from_regex(r"\A[0-9]{12,19}\Z"))
def test_brands_follow_the_prefix(number):
    brand = brand_for(number)

    if number[0] == "4":
        assert brand == "visa"
    elif 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        assert brand == "mastercard"
    elif number[:2] in ("34", "37"):
        assert brand == "amex"
    else:
        assert brand == "unknown"
