"""Checking bank account details on our side before the processor sees them (ABA routing and IBAN mod-97).

Pure functions, no I/O. The processor checks them again; checking here answers a typo with a 400 that
names the field, without a network call.
"""

import re

from core.iban import IBAN_LENGTHS

ACH_COUNTRIES = ("US",)


def aba_routing_valid(routing_number: str) -> bool:
    """Nine digits with 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) a multiple of 10."""
    if not re.fullmatch(r"\d{9}", routing_number):
        return False
    d = [int(c) for c in routing_number]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def normalize_iban(iban: str) -> str:
    return re.sub(r"\s+", "", iban).upper()


def iban_valid(iban: str, *, country: str) -> bool:
    """An IBAN of ``country``, of its length, whose ISO 13616 mod-97 check gives 1 (spaces, lower case fine)."""
    value = normalize_iban(iban)
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", value) or value[:2] != country:
        return False
    if IBAN_LENGTHS.get(country) != len(value):
        return False
    rearranged = value[4:] + value[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


def bank_account_error(account: dict) -> tuple[str, str] | None:
    """``(param, message)`` for the first problem in ``account`` (keys as the API takes them), else None."""
    country = account.get("country") or ""
    if country in ACH_COUNTRIES:
        if account.get("iban"):
            return "iban", "A US bank account has a routing_number and an account_number, not an iban."
        routing, number = account.get("routing_number") or "", account.get("account_number") or ""
        if not aba_routing_valid(routing):
            return "routing_number", "routing_number must be nine digits with a valid ABA checksum."
        if not re.fullmatch(r"\d{4,17}", number):
            return "account_number", "account_number must be 4 to 17 digits."
        return None
    if country in IBAN_LENGTHS:
        if account.get("routing_number") or account.get("account_number"):
            param = "routing_number" if account.get("routing_number") else "account_number"
            return param, "A SEPA bank account is given by its iban."
        if not iban_valid(account.get("iban") or "", country=country):
            return "iban", f"iban is not a valid IBAN of {country} (length or check digits)."
        return None
    return "country", "Bank transfers are available for US (ACH) and SEPA countries."
