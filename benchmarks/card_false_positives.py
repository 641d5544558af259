"""How often the card-number guard (core.cards) refuses input that holds no card number.

    .venv/bin/python -m benchmarks.card_false_positives [--n 100000] [--seed 12]

Each corpus is realistic input the platform receives, generated with a fixed seed; the figure is the
share of its strings that ``contains_card_number`` flags. The results and the method are in
docs/security.md ("Card numbers"); tests/core/test_card_false_positives.py holds the guarantees
(0 in 100 000 UUID keys and ids). No Django needed.
"""

import argparse
import random
import string
import time
import uuid
from collections.abc import Callable

# --- Identifiers and keys -----------------------------------------------------------------------


def uuid4_keys(rng: random.Random, n: int) -> list[str]:
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def uuid4_hex_keys(rng: random.Random, n: int) -> list[str]:
    return [uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(n)]


def uuid4_upper_keys(rng: random.Random, n: int) -> list[str]:
    return [key.upper() for key in uuid4_keys(rng, n)]


def platform_ids(rng: random.Random, n: int) -> list[str]:
    """Ids as core.ids makes them, over timestamps from 2020 to 2040 (ids made now share one timestamp)."""
    from core.ids import _encode

    prefixes = ["pay", "re", "dp", "rr", "adj", "txn", "mch", "evt", "we", "ba", "po"]
    start, end = 1_577_836_800_000, 2_208_988_800_000  # 2020-01-01 .. 2040-01-01, in ms
    return [
        f"{rng.choice(prefixes)}_{_encode(rng.randrange(start, end), 10)}{_encode(rng.getrandbits(79), 16)}"
        for _ in range(n)
    ]


def platform_ids_now(rng: random.Random, n: int) -> list[str]:
    from core.ids import new_id

    return [new_id(rng.choice(["pay", "re", "evt"])) for _ in range(n)]


def hex_tokens(rng: random.Random, n: int, length: int) -> list[str]:
    return ["".join(rng.choice("0123456789abcdef") for _ in range(length)) for _ in range(n)]


def base62_tokens(rng: random.Random, n: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    return ["ch_" + "".join(rng.choice(alphabet) for _ in range(24)) for _ in range(n)]


# --- Numbers written in text --------------------------------------------------------------------

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _date(rng):
    y, m, d = rng.randint(1990, 2035), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
            f"{m}/{d}/{y}",
            f"{d}.{m}.{y}",
            f"{MONTHS[m - 1]} {d}, {y}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{y}{m:02d}{d:02d}",
        ]
    )


def _time(rng):
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    return rng.choice(
        [
            f"{h:02d}:{mi:02d}",
            f"{h:02d}:{mi:02d}:{s:02d}",
            f"{h}:{mi:02d} pm",
            f"{h:02d}:{mi:02d}:{s:02d}.{rng.randint(0, 999999):06d}",
        ]
    )


def iso_timestamp(rng):
    y, m, d = rng.randint(1990, 2035), rng.randint(1, 12), rng.randint(1, 28)
    h, mi, s, us = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999999)
    sep = rng.choice(["T", " "])
    fraction = rng.choice(["", f".{us // 1000:03d}", f".{us:06d}"])
    zone = rng.choice(["Z", "+00:00", f"{rng.choice('+-')}{rng.randint(0, 14):02d}:{rng.choice([0, 30, 45]):02d}", ""])
    return f"{y}-{m:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{fraction}{zone}"


def iso_timestamps(rng, n):
    return [iso_timestamp(rng) for _ in range(n)]


def _phone(rng):
    digits = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    return rng.choice(
        [
            f"+1 ({rng.randint(201, 989)}) {digits(3)}-{digits(4)}",
            f"{rng.randint(201, 989)}-{digits(3)}-{digits(4)}",
            f"+1 {rng.randint(201, 989)} {digits(3)} {digits(4)}",
            f"+44 20 {digits(4)} {digits(4)}",
            f"+44 7{digits(3)} {digits(6)}",
            f"+49 30 {digits(8)}",
            f"+49 (0) 30 {digits(4)} {digits(4)}",
            f"+33 {rng.randint(1, 9)} {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
            f"+91 {digits(5)} {digits(5)}",
            f"+81-3-{digits(4)}-{digits(4)}",
            f"0{digits(3)} {digits(7)}",
            f"+1.{digits(3)}.{digits(3)}.{digits(4)}",
        ]
    )


def _amount(rng):
    value = rng.choice([rng.randint(1, 999), rng.randint(1000, 999_999), rng.randint(1_000_000, 999_999_999)])
    cents = rng.randint(0, 99)
    return rng.choice(
        [
            f"${value:,}.{cents:02d}",
            f"{value:,}.{cents:02d} USD",
            f"EUR {value:,}".replace(",", ".") + f",{cents:02d}",
            f"{value} JPY",
            f"{value * 100 + cents}",
            f"£{value:,}",
        ]
    )


def _reference(rng):
    digits = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    shipper = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))
    return rng.choice(
        [
            f"order #{rng.randint(1000, 99_999_999)}",
            f"invoice INV-{rng.randint(2020, 2035)}-{digits(5)}",
            f"PO {digits(6)}",
            f"ticket {rng.randint(1, 999_999)}",
            f"SKU {digits(3)}-{digits(4)}",
            f"zip {digits(5)}-{digits(4)}",
            f"tracking 1Z{shipper}{digits(10)}",
            f"{rng.randint(1, 99)}%",
            f"qty {rng.randint(1, 500)} x {rng.randint(1, 99)}.{digits(2)}",
            f"v{rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
            f"ext. {digits(4)}",
            f"room {rng.randint(100, 999)}",
            f"batch {digits(8)}",
        ]
    )


WORDS = (
    "the customer said that order was delivered late and asked for a refund we sent a replacement "
    "on with tracking please call back at about our policy allows returns within days of receipt "
    "invoice paid amount total due balance shipped from warehouse to address signed by received "
    "item damaged box contents missing agent note follow up escalated to finance approved"
).split()


def english_texts(rng, n):
    """Support notes, descriptions and evidence: words with dates, times, phones, amounts and references."""
    makers = [_date, _time, iso_timestamp, _phone, _amount, _reference]
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(8, 40)):
            parts.append(rng.choice(makers)(rng) if rng.random() < 0.3 else rng.choice(WORDS))
        texts.append(" ".join(parts).capitalize() + ".")
    return texts


def numbers_lists(rng, n):
    """Numbers next to each other: CSV rows, amounts and quantities, version strings."""
    out = []
    for _ in range(n):
        k = rng.randint(3, 12)
        values = [
            str(rng.choice([rng.randint(0, 99), rng.randint(100, 9999), rng.randint(10_000, 999_999)]))
            for _ in range(k)
        ]
        out.append(rng.choice([",", ", ", ";", " ", " | "]).join(values))
    return out


# --- Bank details -------------------------------------------------------------------------------

IBAN_FORMATS = {
    "DE": (18, "n"),
    "FR": (23, "f"),
    "NL": (14, "nl"),
    "GB": (18, "gb"),
    "ES": (20, "n"),
    "IT": (23, "it"),
    "BE": (12, "n"),
    "AT": (16, "n"),
    "CH": (17, "n"),
    "PL": (24, "n"),
}


def _iban(rng, country):
    length, kind = IBAN_FORMATS[country]
    digits = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    letters = lambda k: "".join(rng.choice(string.ascii_uppercase) for _ in range(k))  # noqa: E731
    if kind == "nl":
        bban = letters(4) + digits(10)
    elif kind == "gb":
        bban = letters(4) + digits(14)
    elif kind == "it":
        bban = letters(1) + digits(22)
    elif kind == "f":
        bban = digits(21) + digits(2)
    else:
        bban = digits(length)
    rearranged = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
    return f"{country}{check:02d}{bban}"


def ibans(rng, n):
    out = []
    for _ in range(n):
        iban = _iban(rng, rng.choice(list(IBAN_FORMATS)))
        grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        out.append(rng.choice([iban, grouped, grouped.lower(), f"IBAN: {grouped}"]))
    return out


def _aba(rng):
    while True:
        d = [rng.randint(0, 9) for _ in range(8)]
        for last in range(10):
            digits = d + [last]
            if (
                3 * (digits[0] + digits[3] + digits[6])
                + 7 * (digits[1] + digits[4] + digits[7])
                + (digits[2] + digits[5] + digits[8])
            ) % 10 == 0:
                return "".join(map(str, digits))


def us_bank_details(rng, n):
    """A routing number and an account number of 4 to 17 digits, written as people write them."""
    out = []
    for _ in range(n):
        routing = _aba(rng)
        account = "".join(rng.choice(string.digits) for _ in range(rng.randint(4, 17)))
        out.append(
            rng.choice(
                [
                    f"routing {routing} account {account}",
                    f"ABA {routing}, acct {account}",
                    f"{routing} {account}",
                    f"{routing}/{account}",
                ]
            )
        )
    return out


def us_account_numbers(rng, n):
    """The account number alone, 4 to 17 digits (as in ``bank_account.account_number``)."""
    return ["".join(rng.choice(string.digits) for _ in range(rng.randint(4, 17))) for _ in range(n)]


def epoch_millis(rng, n):
    return [str(rng.randrange(1_577_836_800_000, 2_208_988_800_000)) for _ in range(n)]


def random_16_digits(rng, n):
    return ["".join(rng.choice(string.digits) for _ in range(16)) for _ in range(n)]


CORPORA: dict[str, Callable] = {
    "UUID4 keys (canonical)": uuid4_keys,
    "UUID4 keys (upper case)": uuid4_upper_keys,
    "UUID4 keys (32 hex, no dashes)": uuid4_hex_keys,
    "platform ids (core.ids, 2020-2040)": platform_ids,
    "platform ids (core.ids.new_id, now)": platform_ids_now,
    "hex tokens, 32 chars (token_hex(16))": lambda rng, n: hex_tokens(rng, n, 32),
    "hex tokens, 64 chars (SHA-256)": lambda rng, n: hex_tokens(rng, n, 64),
    "hex tokens, 20 chars": lambda rng, n: hex_tokens(rng, n, 20),
    "processor ids (base62, ch_…)": base62_tokens,
    "ISO 8601 timestamps": iso_timestamps,
    "English text with dates, times, phones, amounts, refs": english_texts,
    "lists of numbers (CSV, amounts)": numbers_lists,
    "IBANs (10 countries, compact and grouped)": ibans,
    "US routing + account numbers in text": us_bank_details,
    "US account numbers alone (4-17 digits)": us_account_numbers,
    "epoch milliseconds (13 digits)": epoch_millis,
    "random 16-digit numbers": random_16_digits,
}


def false_positives(strings: list[str]) -> list[str]:
    from core.cards import contains_card_number

    return [text for text in strings if contains_card_number(text)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    print(f"| input ({args.n:,} each, seed {args.seed}) | flagged | rate |")
    print("| --- | ---: | ---: |")
    for name, make in CORPORA.items():
        strings = make(random.Random(f"{args.seed}:{name}"), args.n)
        started = time.perf_counter()
        flagged = false_positives(strings)
        elapsed = time.perf_counter() - started
        print(
            f"| {name} | {len(flagged):,} | {len(flagged) / args.n:.4%} |"
            f"  <!-- {elapsed * 1e6 / args.n:.1f} µs each; e.g. {flagged[:1]!r} -->"
        )


if __name__ == "__main__":
    main()
