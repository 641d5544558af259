"""The card-number rule (core.cards): every written form is found, realistic ids and text are not (issue 12)."""

import random
import uuid
from urllib.parse import quote

import pytest

from benchmarks import card_false_positives as corpora
from core.cards import WITHHELD, contains_card_number, contains_card_number_in, mask_card_numbers, normalise
from core.ids import new_id

PAN = "4242424242424242"

FOUND = {
    "plain": PAN,
    "spaces": "4242 4242 4242 4242",
    "dashes": "4242-4242-4242-4242",
    "dots": "4242.4242.4242.4242",
    "slashes": "4242/4242/4242/4242",
    "backslashes": "4242\\4242\\4242\\4242",
    "underscores": "4242_4242_4242_4242",
    "commas": "4242,4242,4242,4242",
    "mixed separators": "4242 4242-4242.4242",
    "double separators": "4242  4242--4242 4242",
    "space-dash-space": "4242 - 4242 - 4242 - 4242",
    "nbsp": "4242\u00a04242\u00a04242\u00a04242",
    "narrow nbsp and thin space": "4242\u202f4242\u20094242\u202f4242",
    "ideographic space": "4242\u30004242\u30004242\u30004242",
    "zero-width space": "4242\u200b4242\u200b4242\u200b4242",
    "soft hyphen": "4242\u00ad4242\u00ad4242\u00ad4242",
    "en dash and minus sign": "4242\u20134242\u22124242\u20134242",
    "bullets": "4242•4242•4242•4242",
    "tab": "4242\t4242\t4242\t4242",
    "full-width digits": "４２４２４２４２４２４２４２４２",
    "full-width digits and hyphens": "４２４２－４２４２－４２４２－４２４２",
    "arabic-indic digits": "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",
    "devanagari digits": "४२४२४२४२४२४२४२४२",
    "mathematical bold digits": "𝟒𝟐𝟒𝟐𝟒𝟐𝟒𝟐𝟒𝟐𝟒𝟐𝟒𝟐𝟒𝟐",
    "letters touching": f"abc{PAN}xyz",
    "letters touching, hex ones": f"abc{PAN}def",
    "in a word": f"card{PAN}exp1230",
    "glued to an expiry": f"{PAN}1230",
    "glued to zero padding": f"0000{PAN}",
    "track data": f";{PAN}=30121010000000000000?",
    "json \\u escapes": "".join(f"\\u{ord(c):04x}" for c in PAN),
    "html references": "".join(f"&#{ord(c)};" for c in PAN),
    "percent escapes": "".join(f"%{ord(c):02X}" for c in PAN),
    "percent escapes, twice": "".join(f"%25{ord(c):02X}" for c in PAN),
    "percent escapes, three times": "".join(f"%2525{ord(c):02X}" for c in PAN),
    "percent escapes, four times": "".join(f"%252525{ord(c):02X}" for c in PAN),
    "percent-encoded utf-8 nbsp": "%C2%A0".join(["4242"] * 4),
    "percent-encoded full-width digits": "".join(f"%EF%BC%{0x90 + int(c):02X}" for c in PAN),
    "percent-encoded \\u escapes": "".join(f"%5Cu{ord(c):04x}" for c in PAN),
    "percent-encoded html references": "".join(f"%26%23{ord(c)}%3B" for c in PAN),
    "escaped html references": "".join(f"&amp;#{ord(c)};" for c in PAN),
    "\\u-escaped html references": "".join(f"\\u0026#{ord(c)};" for c in PAN),
    "amex 4-6-5": "3782 822463 10005",
    "amex plain": "378282246310005",
    "diners 4-6-4": "3056 930902 5904",
    "19 digits 4-4-4-4-3": "6234 5678 9012 3456 780",
    "19 digits 6-13": "623456 7890123456780",
    "maestro 12 digits": "501800000009",
    "after words and before expiry": "card 4242 4242 4242 4242 exp 12/30",
    "in a url": f"https://example.com/hooks/{PAN}?x=1",
    "in an email": f"{PAN}@example.com",
}


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
def test_every_written_form_is_found(text):
    assert contains_card_number(text)
    assert contains_card_number_in({"a": [{"b": text}]}) and contains_card_number_in({text: 1})


NOT_FOUND = {
    "not luhn-valid": "4242424242424241",
    "11-digit amount": "99999999999",
    "uuid": "12345678-1234-1234-1234-123456789012",
    "our id": "pay_01K9ZQ4242424242424242ABCD",
    "iso timestamp": "2026-11-24T10:00:00.123456+00:00",
    "python datetime": "2026-11-24 10:00:00.123456+00:00",
    "us phone": "+1 (415) 555-0100",
    "uk phone": "+44 20 7946 0958",
    "amount with separators": "$1,234,567,890.12",
    "iban compact": "DE89370400440532013000",
    "iban grouped": "DE89 3704 0044 0532 0130 00",
    "iban lower case": "fr14 2004 1010 0505 0001 3m02 606",
    "routing and account": "routing 110000000 account 000123456789",
    "sha-256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "date list": "2026-11-24, 2026-11-25 and 2026-11-26",
    "digits split by a line break": "4242 4242\n4242 4242",
    "leading zero (no card brand starts with 0)": "000123456789",
    "zero padding": "0000000000000000000000",
}


@pytest.mark.parametrize("text", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_other_numbers_are_not_card_numbers(text):
    assert not contains_card_number(text)


def test_normalise_decodes_escapes_and_unicode_digits():
    assert normalise("\\u0034\\u0032 &#52;&#x32; %34%32 ４２ ٤٢") == "42 42 42 42 42"
    assert normalise("4242\u00a04242") == "4242 4242"


def test_escapes_are_decoded_in_rounds_until_nothing_changes_at_most_four():
    assert normalise("%2534 %252534 %25252534 &amp;#52; %5Cu0034 %26%2352%3B") == "4 4 4 4 4 4"
    assert normalise("%2525252534") == "%34"  # escaped five times: four rounds leave one escape
    assert normalise("100%25 of %2") == "100% of %2" and normalise("a &amp;amp; b") == "a & b"


def test_masking_keeps_the_last_four_in_every_form():
    assert mask_card_numbers(f"card {PAN} ok") == "card ************4242 ok"
    assert mask_card_numbers("4242.4242.4242.4242") == "****.****.****.4242"
    assert mask_card_numbers("４２４２４２４２４２４２４２４２") == "************４２４２"
    assert mask_card_numbers("no card 4242424242424241") == "no card 4242424242424241"
    masked = mask_card_numbers("".join(f"\\u{ord(c):04x}" for c in PAN))
    assert not contains_card_number(masked) and masked.startswith("*" * 12)
    assert mask_card_numbers("x " + "%2534%2532" * 8) == "x " + "*" * 12 + "%2534%2532%2534%2532"
    assert mask_card_numbers("4242%C2%A04242%C2%A04242%C2%A04242") == "****%C2%A0****%C2%A0****%C2%A04242"


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
@pytest.mark.parametrize("encoded", [0, 1, 2], ids=["as written", "percent-encoded", "percent-encoded twice"])
def test_every_written_form_is_masked(text, encoded):
    for _ in range(encoded):
        text = quote(text, safe="")
    masked = mask_card_numbers(f"GET /v1/tokens/{text} HTTP/1.1")
    assert not contains_card_number(masked) and masked != WITHHELD and masked.endswith(" HTTP/1.1")


# --- False positives (the figures in docs/security.md come from benchmarks/card_false_positives.py) ---


def test_no_false_positive_on_100_000_uuid4_keys():
    rng = random.Random(12)
    for keys in (
        corpora.uuid4_keys(rng, 100_000),
        corpora.uuid4_upper_keys(rng, 20_000),
        corpora.uuid4_hex_keys(rng, 20_000),
        [str(uuid.uuid4()) for _ in range(20_000)],
    ):
        assert corpora.false_positives(keys) == []


def test_no_false_positive_on_100_000_of_our_ids():
    rng = random.Random(12)
    assert corpora.false_positives(corpora.platform_ids(rng, 100_000)) == []
    assert corpora.false_positives([new_id(prefix) for prefix in ("pay", "re", "evt") for _ in range(10_000)]) == []


def test_no_false_positive_on_timestamps_ibans_digests_and_processor_ids():
    rng = random.Random(12)
    for corpus in (
        corpora.iso_timestamps(rng, 20_000),
        corpora.ibans(rng, 20_000),
        corpora.hex_tokens(rng, 20_000, 64),
        corpora.base62_tokens(rng, 20_000),
    ):
        assert corpora.false_positives(corpus) == []


def test_false_positives_on_english_text_with_numbers_are_rare():
    texts = corpora.english_texts(random.Random(12), 5_000)
    assert len(corpora.false_positives(texts)) / len(texts) < 0.01


def test_a_bank_account_number_is_not_read_as_a_card_number_only_where_the_api_takes_one():
    luhn_valid_account = "4111111111111111"
    assert not contains_card_number_in({"bank_account": {"account_number": luhn_valid_account}})
    assert not contains_card_number_in([("account_number", luhn_valid_account)])  # JSON read as pairs
    assert contains_card_number_in({"bank_account": {"account_number": "4111 1111 1111 1111"}})
    assert contains_card_number_in({"bank_account": {"account_number": "4111111111111111x"}})
    assert contains_card_number_in({"description": luhn_valid_account})
    assert contains_card_number_in({"account_number": {"nested": luhn_valid_account}})
