import re

from core.cards import contains_card_number, luhn_valid
from core.ids import id_pattern, new_id
from core.money import format_amount, is_known_currency


def test_ids_are_prefixed_and_time_ordered():
    first, second = new_id("pay"), new_id("pay")
    assert id_pattern("pay").match(first)
    assert re.match(r"^pay_[0-9A-Z]{26}$", second)
    ids = [new_id("pay") for _ in range(50)]
    assert [value[:14] for value in ids] == sorted(value[:14] for value in ids)


def test_currency_exponents_and_display():
    assert format_amount(1999, "USD") == "19.99 USD"
    assert format_amount(500, "JPY") == "500 JPY"
    assert format_amount(1234, "KWD") == "1.234 KWD"
    assert is_known_currency("EUR") and not is_known_currency("XXX") and not is_known_currency("usd")


def test_luhn():
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")


def test_card_numbers_are_found_with_or_without_separators():
    assert contains_card_number('{"number": "4242424242424242"}')
    assert contains_card_number('{"note": "card 4242 4242 4242 4242 please"}')
    assert contains_card_number('{"note": "4000-0000-0000-0002"}')
    assert contains_card_number('{"n": 4242424242424242}')


def test_other_numbers_are_not_card_numbers():
    assert not contains_card_number('{"amount": 99999999999}')
    assert not contains_card_number('{"ref": "4242424242424241"}')  # not Luhn-valid
    assert not contains_card_number('{"ts": "2026-11-24T10:00:00Z"}')
    assert not contains_card_number('{"long": "00000000000000000000000"}')  # longer than 19 digits, no card in it


def test_uuids_and_grouped_non_cards_are_not_card_numbers():
    import uuid

    for _ in range(20000):
        assert not contains_card_number(str(uuid.uuid4()))
    assert not contains_card_number("12345678-1234-1234-1234-123456789012")
    assert not contains_card_number("call +1 415 555 0100 or +44 20 7946 0958")  # phone numbers are not cards


def test_printed_groupings_are_found():
    assert contains_card_number("4242-4242-4242-4242")
    assert contains_card_number("3782 822463 10005")  # American Express 4-6-5
    assert contains_card_number("x 4242424242424242 y")
    assert contains_card_number("4242 4242-4242 4242")  # mixed separators: still a card (issue 12)
