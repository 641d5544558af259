"""Detecting card numbers (PANs) in any written form, so that none ever enters the platform.

This module is the one rule. The API guard, the back-office form guard, the processor-webhook guard
and the logging filter all call it; none has its own pattern. PCI DSS v4 3.3.1 / 3.4.1.

How a text is read (``normalise``), then searched (``card_number_spans``):

1. **Decoded**: ``%XX`` percent escapes (UTF-8), ``\\uXXXX`` escapes (JSON, JavaScript, Python) and
   HTML character references (``&#52;``, ``&#x34;``, ``&nbsp;``), in rounds until a round changes
   nothing, at most ``DECODE_ROUNDS`` (4): an escape inside an escape (``%2534``, ``%5Cu0034``,
   ``&amp;#52;``) is decoded too.
2. **NFKC-normalised**, then every Unicode decimal digit (full-width ``４``, Arabic-Indic ``٤``,
   Devanagari ``४``, mathematical ``𝟒`` …) becomes its ASCII digit.
3. **Identifiers that are known not to be card numbers are set aside**: canonical UUIDs
   (8-4-4-4-12 hex), the platform's own ids (``pay_`` + a ULID, or a bare ULID: 26 Crockford base32
   characters starting with ``0``, a letter in the timestamp's first 10), hex digests and tokens of
   exactly 32, 40 or 64 characters holding at least one letter, and IBANs (of a SEPA country and of
   its length, or whose mod-97 check holds).
   A card number is never written in any of these shapes.
4. **Digit groups are joined across separators of any kind**: 1 to 3 characters of whitespace
   (NBSP and every Unicode space, but not a line break), zero-width and format characters, any dash,
   ``. _ / \\ , : ; | * + ~ ' ’ · •``. Letters are not separators: they end a group, so digits
   touching letters (``abc4242424242424242xyz``) are a group of their own.
5. **Luhn-checked**, and not starting with 0 (ISO/IEC 7812 gives no card brand a number starting
   with 0):

   - every span of 2 to 5 consecutive groups of 12 to 19 digits in total, shaped as cards are
     printed: the first and inner groups of 4 to 6 digits, the last of 3 to 6, or of up to 13 after
     a first group of 6 (4-4-4-4, 4-6-5, 4-4-4-4-3, 5-5-5-4, 6-13 …). A date and time
     (2026-11-24 10:00:00) or a phone number (+1 415 555 0100) is not read as one number;
   - every run of 12 to 19 digits in a row, as a whole;
   - in a run of more than 19 digits in a row, every 12-to-19-digit window (a card number glued to
     an expiry date, a CVV or zero padding); a run of more than 40 digits is read as holding one.

The false-positive rate of this rule on realistic input is measured by
``benchmarks/card_false_positives.py`` and written in docs/security.md ("Card numbers").
"""

import codecs
import html
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote

from core.iban import IBAN_LENGTHS

MIN_DIGITS = 12
MAX_DIGITS = 19
# How a card number is printed in groups: 4-4-4-4, 4-4-4-4-3, 4-6-5 (American Express), 4-6-4 (Diners),
# 6-13 (UnionPay, Maestro), 5-5-5-4 … A span of separated groups is read as one number only in these
# shapes: 2 to 5 groups, the first of 4 to 6 digits, the inner ones of 4 to 6, the last of 3 to 6 (or
# of up to 13 after a first group of 6: 6-13, 6-10).
FIRST_GROUP = (4, 6)
INNER_GROUP = (4, 6)
LAST_GROUP = (3, 13)
MAX_GROUPS = 5
# A run of more digits than this in a row is read as holding a card number without checking its windows
# one by one: a random run of 40 digits has 204 windows, so one passes Luhn but for about 1 in 10^8; and
# it bounds the work a body of digits costs (the guard runs before authentication).
MAX_WINDOWED_RUN = 40
# Escapes are decoded in rounds until the text stops changing, at most this many: a card number escaped up
# to four times over (``%25252534`` → ``%252534`` → ``%2534`` → ``%34`` → ``4``) is read. Each round is
# linear and never lengthens the text, so the bound keeps the cost linear.
DECODE_ROUNDS = 4

# --- 1. Decoding ---------------------------------------------------------------------------------

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_BACKSLASH_U = re.compile(r"\\u([0-9A-Fa-f]{4})")


def _decode_backslash_u(text: str) -> str:
    def one(match: re.Match) -> str:
        code = int(match.group(1), 16)
        return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate half is no digit

    return _BACKSLASH_U.sub(one, text)


def _ascii_digits(text: str) -> str:
    """Every Unicode decimal digit as its ASCII digit (after NFKC, which already did the compatibility forms)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def _decode_once(text: str) -> str:
    """One round of decoding: ``%XX`` (as UTF-8), then ``\\uXXXX``, then HTML character references."""
    if "%" in text and _PERCENT.search(text):
        text = unquote(text, errors="replace")
    if "\\u" in text:
        text = _decode_backslash_u(text)
    if "&" in text:
        text = html.unescape(text)
    return text


def normalise(text: str) -> str:
    """``text`` as the detector reads it: escapes decoded, NFKC-normalised, digits in ASCII.

    Escapes are decoded in rounds until a round changes nothing, at most ``DECODE_ROUNDS`` rounds: a card
    number escaped up to that many times over (``%252534…``, ``%5Cu0034``, ``&amp;#52;``) is read. Each
    round is linear and never lengthens the text, so the bound keeps the cost linear.
    """
    for _ in range(DECODE_ROUNDS):
        decoded = _decode_once(text)
        if decoded == text:
            break
        text = decoded
    if not text.isascii():
        text = _ascii_digits(unicodedata.normalize("NFKC", text))
    return text


# --- 3. Identifiers that are not card numbers -----------------------------------------------------

_CROCKFORD = "0-9A-HJKMNP-TV-Z"
_EXEMPT = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    # A canonical UUID, in any case.
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    # The platform's ids (core.ids): a lower-case prefix and a ULID, or a bare ULID; a letter in it.
    rf"|(?:[a-z]{{1,12}}_)?0(?=[{_CROCKFORD}]{{0,8}}[A-Z])[{_CROCKFORD}]{{25}}"
    # A hex digest or random hex token (MD5 / UUID without dashes, SHA-1, SHA-256), with a letter in it.
    r"|(?=[0-9A-Fa-f]{0,63}[A-Fa-f])(?:[0-9A-Fa-f]{64}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{32})"
    r")(?![0-9A-Za-z])"
)
# An IBAN, compact or printed in groups of four; it is set aside only when its mod-97 check holds.
_IBAN = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z]{2}[0-9]{2}(?:[0-9A-Za-z]{11,30}|(?: [0-9A-Za-z]{4}){2,7}(?: [0-9A-Za-z]{1,3})?)"
    r"(?![0-9A-Za-z])"
)


def _iban_valid(candidate: str) -> bool:
    """An IBAN of a SEPA country and of its length (a mistyped one too: the bank-account check says what is
    wrong with it), or any IBAN whose mod-97 check holds."""
    compact = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) == len(compact):
        return True
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _set_aside_identifiers(text: str) -> str:
    """Replace every exempt identifier by line breaks of the same length (a line break joins no digits)."""
    text = _EXEMPT.sub(lambda m: "\n" * len(m.group()), text)
    if _IBAN.search(text):
        text = _IBAN.sub(lambda m: "\n" * len(m.group()) if _iban_valid(m.group()) else m.group(), text)
    return text


# --- 4. and 5. Groups, spans and the Luhn check ---------------------------------------------------

_SEPARATOR = (
    r"[ \t\u00a0\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff\u00ad"  # spaces, zero-width, soft hyphen
    r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"  # dashes and minus signs
    r"._/\\,:;|*+~'\u2019\u00b7\u2022\u2027\u30fb]"  # punctuation seen between digit groups
)
_SEQUENCE = re.compile(rf"[0-9]+(?:{_SEPARATOR}{{1,3}}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")


_DOUBLE_DIGIT = str.maketrans("0123456789", "0246813579")  # a digit doubled by the Luhn check, its digits summed


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of ASCII digits."""
    backwards = digits[::-1]
    total = sum(backwards[0::2].encode()) + sum(backwards[1::2].translate(_DOUBLE_DIGIT).encode())
    return (total - 48 * len(digits)) % 10 == 0


def _is_card_number(digits: str) -> bool:
    """12 to 19 digits, not starting with 0 (ISO/IEC 7812: no payment card's number does), Luhn-valid."""
    return digits[0] != "0" and luhn_valid(digits)


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled by the Luhn check, its digits summed


def _card_windows(digits: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every 12-to-19-digit window of ``digits`` that is a card number, in O(1) per window.

    ``plain_even[k]`` sums the first ``k`` digits, each taken as is at an even index and doubled at an
    odd one (``plain_odd`` the other way round); a window's Luhn sum is the difference of the two
    prefix sums of the parity of its last digit.
    """
    values = [ord(c) - 48 for c in digits]
    plain_even, plain_odd = [0], [0]
    for index, value in enumerate(values):
        plain, doubled = value, _DOUBLED[value]
        plain_even.append(plain_even[-1] + (plain if index % 2 == 0 else doubled))
        plain_odd.append(plain_odd[-1] + (doubled if index % 2 == 0 else plain))
    for length in range(MIN_DIGITS, MAX_DIGITS + 1):
        for i in range(len(values) - length + 1):
            sums = plain_odd if (i + length - 1) % 2 else plain_even
            if values[i] and (sums[i + length] - sums[i]) % 10 == 0:
                yield i, i + length


def _card_spans_in_sequence(sequence: str, offset: int) -> Iterator[tuple[int, int]]:
    groups = [(m.start() + offset, m.end() + offset, m.group()) for m in _GROUP.finditer(sequence)]
    for start, end, digits in groups:
        if MIN_DIGITS <= len(digits) <= MAX_DIGITS:
            if _is_card_number(digits):
                yield start, end
        elif len(digits) > MAX_WINDOWED_RUN:
            yield start, end  # it all but surely holds one (see MAX_WINDOWED_RUN)
        elif len(digits) > MAX_DIGITS:
            for i, j in _card_windows(digits):
                yield start + i, start + j
    if len(groups) < 2:
        return
    for first in range(len(groups)):
        if not FIRST_GROUP[0] <= len(groups[first][2]) <= FIRST_GROUP[1]:
            continue
        digits = groups[first][2]
        for last in range(first + 1, min(first + MAX_GROUPS, len(groups))):
            size = len(groups[last][2])
            digits += groups[last][2]
            if len(digits) > MAX_DIGITS or size < LAST_GROUP[0]:
                break
            longest_last = LAST_GROUP[1] if (last == first + 1 and len(groups[first][2]) == 6) else INNER_GROUP[1]
            if len(digits) >= MIN_DIGITS and size <= longest_last and _is_card_number(digits):
                yield groups[first][0], groups[last][1]
            if not INNER_GROUP[0] <= size <= INNER_GROUP[1]:
                break  # a group of another size may only end a span


def card_number_spans(normalised: str) -> Iterator[tuple[int, int]]:
    """(start, end) in ``normalised`` (from ``normalise``) of everything that reads as a card number."""
    if sum(map(normalised.count, "0123456789")) < MIN_DIGITS:
        return
    text = _set_aside_identifiers(normalised)
    for match in _SEQUENCE.finditer(text):
        if match.end() - match.start() >= MIN_DIGITS:
            yield from _card_spans_in_sequence(match.group(), match.start())


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds a card number in any written form (see the module's docstring)."""
    return next(card_number_spans(normalise(text)), None) is not None


# A bank account number is not a card number, yet one of 12 to 17 digits passes the Luhn check one
# time in ten: refusing it would refuse one US bank transfer in thirty. Under the key the API takes it
# by, a value of 4 to 17 plain digits is not read as a card number. The platform never keeps it (the
# processor tokenises it; only the last four and a fingerprint are stored), and a card number with any
# separator, letter or escape in that field is still refused.
_ACCOUNT_NUMBER_KEY = "account_number"
_BANK_ACCOUNT_NUMBER = re.compile(r"[0-9]{4,17}")


def _is_bank_account_number(key, value) -> bool:
    return key == _ACCOUNT_NUMBER_KEY and isinstance(value, str) and _BANK_ACCOUNT_NUMBER.fullmatch(value) is not None


def contains_card_number_in(data) -> bool:
    """True when any string, key or number anywhere in ``data`` (parsed JSON, form data) holds a card number.

    Iterative, so the depth of the data does not matter. A bank account number under ``account_number``
    (plain digits) is not one (see above).
    """
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                stack.append(key)
                if not _is_bank_account_number(key, value):
                    stack.append(value)
        elif isinstance(item, tuple) and len(item) == 2 and _is_bank_account_number(*item):
            stack.append(item[0])  # a (key, value) pair of a JSON object read with its duplicate keys kept
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if contains_card_number(item):
                return True
        elif isinstance(item, int | float) and not isinstance(item, bool):
            if contains_card_number(str(item)):
                return True
    return False


# --- Masking (the logging filter) -----------------------------------------------------------------

# To mask, the text is read as ``normalise`` reads it, but each character of the result remembers the
# range of the original text it came from (an escape decoded in several rounds, ``%2534`` → ``%34`` →
# ``4``, comes from all of it; a character of multi-byte UTF-8, ``%EF%BC%94``, from all its bytes). A
# card number's digits are masked by replacing those ranges.

_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# html.unescape's own pattern (Lib/html/__init__.py): each match is replaced by html.unescape(match).
_HTML_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


class _Traced:
    """A text and, for each of its characters, the range ``[starts[i], ends[i])`` of the original it came from
    (``starts`` is None while the text is the original)."""

    def __init__(self, text: str):
        self.text = text
        self.starts: list[int] | None = None
        self.ends: list[int] | None = None

    def replace(self, matches: Iterator[tuple[int, int, list[tuple[int, int, str]]]]) -> None:
        """Replace parts of the text: for each ``(start, end, pieces)`` (in order, not overlapping), the
        characters ``start:end`` become the pieces, each ``(first, last, text)`` coming from the characters
        ``first:last`` (relative to ``start``)."""
        matches = list(matches)
        if not matches:
            return
        text = self.text
        if self.starts is None:
            self.starts, self.ends = list(range(len(text))), list(range(1, len(text) + 1))
        starts, ends = self.starts, self.ends
        out, out_starts, out_ends = [], [], []
        position = 0
        for start, end, pieces in matches:
            out.append(text[position:start])
            out_starts.extend(starts[position:start])
            out_ends.extend(ends[position:start])
            for first, last, piece in pieces:
                out.append(piece)
                out_starts.extend([starts[start + first]] * len(piece))
                out_ends.extend([ends[start + last - 1]] * len(piece))
            position = end
        out.append(text[position:])
        out_starts.extend(starts[position:])
        out_ends.extend(ends[position:])
        self.text, self.starts, self.ends = "".join(out), out_starts, out_ends


def _utf8_pieces(escapes: str) -> list[tuple[int, int, str]]:
    """A run of ``%XX`` escapes decoded as UTF-8 (as ``unquote`` does), each character with its escapes."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pieces, pending = [], 0  # pending: the first byte not yet decoded
    for index in range(0, len(escapes), 3):
        decoded = decoder.decode(bytes([int(escapes[index + 1 : index + 3], 16)]))
        if decoded:
            consumed = index // 3 + 1 - len(decoder.getstate()[0])  # the bytes the decoder still holds are not
            pieces.append((pending * 3, max(consumed, pending + 1) * 3, decoded))
            pending = max(consumed, pending + 1)
    decoded = decoder.decode(b"", final=True)
    if decoded:
        pieces.append((pending * 3, len(escapes), decoded))
    return pieces


def _trace_decode_once(traced: _Traced) -> None:
    """``_decode_once``, keeping where each character came from."""
    if "%" in traced.text:
        traced.replace((m.start(), m.end(), _utf8_pieces(m.group())) for m in _PERCENT_RUN.finditer(traced.text))
    if "\\u" in traced.text:
        traced.replace(
            (m.start(), m.end(), [(0, m.end() - m.start(), _decode_backslash_u(m.group()))])
            for m in _BACKSLASH_U.finditer(traced.text)
        )
    if "&" in traced.text:
        traced.replace(
            (m.start(), m.end(), [(0, m.end() - m.start(), html.unescape(m.group()))])
            for m in _HTML_REFERENCE.finditer(traced.text)
        )


def _trace_normalise(text: str) -> _Traced:
    """``normalise(text)``, keeping where each character came from (NFKC is applied character by character)."""
    traced = _Traced(text)
    for _ in range(DECODE_ROUNDS):
        before = traced.text
        _trace_decode_once(traced)
        if traced.text == before:
            break
    if not traced.text.isascii():
        traced.replace(
            (m.start(), m.end(), [(i, i + 1, unicodedata.normalize("NFKC", c)) for i, c in enumerate(m.group())])
            for m in _NON_ASCII.finditer(traced.text)
        )
        traced.text = _ascii_digits(traced.text)  # one character for one
    return traced


def _masked(text: str, keep: int | None) -> str:
    """``text`` with each card number's digits (``keep=None``: every digit) replaced by ``*``, but the last ``keep``."""
    traced = _trace_normalise(text)
    normalised, starts, ends = traced.text, traced.starts, traced.ends
    if keep is None:
        positions = [i for i, c in enumerate(normalised) if c.isdigit()]
    else:
        positions = []
        for start, end in card_number_spans(normalised):
            digits = [i for i in range(start, end) if normalised[i].isdigit()]
            if starts is not None:  # the digits of one escape are one digit of the original
                digits = list({starts[i]: i for i in digits}.values())
            positions.extend(digits[: max(0, len(digits) - keep)])
    # The ranges of the original that the characters come from are disjoint or the same: each is masked by one *.
    chars = list(text)
    for i in positions:
        start, end = (i, i + 1) if starts is None else (starts[i], ends[i])
        chars[start] = "*"
        chars[start + 1 : end] = [""] * (end - start - 1)
    return "".join(chars)


WITHHELD = "[withheld: holds a card number that could not be masked]"


def mask_card_numbers(text: str, keep: int = 4) -> str:
    """``text`` with every digit of each card number in it replaced by ``*``, but the last ``keep``.

    The spans are found by the same rule on the normalised text and mapped back onto ``text``, so a number
    written with escapes (percent-encoded UTF-8, escapes inside escapes) or other digits is masked too: each
    digit's escape becomes one ``*``. The result never holds a card number: should the last digits kept
    make one with what surrounds them, every digit of each card number is masked, then every digit of the
    text; should even that leave one, the text is replaced by ``WITHHELD``.
    """
    if not contains_card_number(text):
        return text
    for how in (keep, 0, None):
        masked = _masked(text, how)
        if not contains_card_number(masked):
            return masked
    return WITHHELD
