"""Known gap in the logging filter's masking (core.cards.mask_card_numbers), pinned until it is fixed.

The rule finds a card number written with percent-encoded UTF-8 of more than one byte (a non-breaking space
``%C2%A0``, full-width digits ``%EF%BC%94``, other Unicode digits) or with percent-encoded escapes
(``%5Cu0034``, ``%26%2352%3B``): ``normalise`` decodes the whole text at once. The masking decodes each
``%XX`` on its own, so these spans cannot be mapped back and the text is left as it was. Found by
tests/security/test_no_card_number_is_kept.py with the guard taken out: the web process's DEBUG log of its
own requests to the processor (``GET /v1/tokens/4242%C2%A04242…``) kept them. With the guard on, no such
text reaches a log (the guard refuses the request first), so this is a gap in the second line only.
"""

import pytest

from core.cards import contains_card_number, mask_card_numbers

PERCENT_ENCODED = {
    "nbsp": "%C2%A0".join(["4242"] * 4),
    "full-width digits": "".join(f"%EF%BC%{0x90 + int(c):02X}" for c in "4242424242424242"),
    "arabic-indic digits": "".join(f"%D9%{0xA0 + int(c):02X}" for c in "4242424242424242"),
    "\\u escapes, percent-encoded": "".join(f"%5Cu003{c}" for c in "4242424242424242"),
    "html references, percent-encoded": "".join(f"%26%23{ord(c)}%3B" for c in "4242424242424242"),
}


@pytest.mark.parametrize("written", ["4242%204242%204242%204242", "%34%32" * 8], ids=["space", "ascii digits"])
def test_single_byte_percent_escapes_are_masked(written):
    masked = mask_card_numbers(f"GET /v1/tokens/{written}")
    assert not contains_card_number(masked) and masked.endswith(("4242", "%34%32"))


@pytest.mark.xfail(strict=True, reason="mask_card_numbers decodes %XX one at a time: multi-byte forms stay unmasked")
@pytest.mark.parametrize("written", PERCENT_ENCODED.values(), ids=PERCENT_ENCODED.keys())
def test_multi_byte_percent_escapes_are_masked(written):
    text = f"GET /v1/tokens/{written} HTTP/1.1"
    assert contains_card_number(text)
    assert not contains_card_number(mask_card_numbers(text))
