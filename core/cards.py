"""Detecting card numbers (PANs) so that none ever enters the platform."""

import re

# What a card number looks like when people type it: 13 to 19 digits in a row, or
# the printed groupings with one consistent separator (space or dash): 4-4-4-4
# with an optional tail of 1 to 3, and American Express / Diners 4-6-5 and 4-6-4.
# Not part of a longer run of letters, digits or groups, so UUIDs (8-4-4-4-12) never match.
_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9][ -])(?:"
    r"\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}"
    r")(?![0-9A-Za-z])(?![ -][0-9])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds anything that looks like a card number (Luhn-valid, 13–19 digits)."""
    for match in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False
