"""Test bank accounts: validating them, and what each one makes the sandbox do. Pure functions, no storage.

An account number or IBAN lives only in the request that carries it:
``us_bank_account`` and ``sepa_bank_account`` reduce it to country, last four
characters, a keyed fingerprint, the bank's name and a behaviour, which is all
the sandbox ever stores.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass

# What a bank transfer from the account does (chosen by how its account number or IBAN ends).
SETTLE = "settle"
# Settles, then the customer's bank sends it back: R01, insufficient funds.
RETURN_R01 = "return_r01"
# Refused at once by the customer's bank: R03, no account / unable to locate the account.
FAIL_R03 = "fail_r03"
BEHAVIOURS = (SETTLE, RETURN_R01, FAIL_R03)

# The last nine digits of an account number (US) or IBAN (SEPA) that select a behaviour; anything else settles.
BEHAVIOUR_SUFFIXES = {"111111116": RETURN_R01, "111111113": FAIL_R03}
RETURN_CODES = {RETURN_R01: "R01", FAIL_R03: "R03"}
RETURN_MESSAGES = {
    "R01": "The customer's bank returned the transfer: insufficient funds (R01).",
    "R03": "The customer's bank could not locate the account (R03).",
}
# The decline_code of a transfer refused at once, per return code.
DECLINE_CODES = {"R03": "no_account"}

# A payout to an account whose number (or IBAN) ends in these four characters fails, as to Stripe's test account
# 000111111116: the account is closed. (The return_r01 test account ends so too: money sent to it comes back.)
PAYOUT_FAILURE_LAST4 = "1116"
PAYOUT_ACCOUNT_CLOSED = "account_closed"
PAYOUT_FAILURE_MESSAGES = {PAYOUT_ACCOUNT_CLOSED: "The bank account has been closed."}

# IBAN lengths of the SEPA scheme's countries (ISO 13616 registry).
SEPA_IBAN_LENGTHS = {
    "AD": 24,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GI": 23,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "VA": 22,
}

# Banks the sandbox can name: US routing numbers, and the start of a SEPA country's BBAN (its bank code).
US_BANK_NAMES = {
    "110000000": "Sandbox Test Bank",
    "021000021": "JPMorgan Chase Bank",
    "026009593": "Bank of America",
    "121000248": "Wells Fargo Bank",
}
SEPA_BANK_NAMES = {
    ("DE", "37040044"): "Commerzbank",
    ("NL", "ABNA"): "ABN AMRO Bank",
    ("FR", "20041"): "La Banque Postale",
}

_DIGITS = re.compile(r"^\d+$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")


@dataclass(frozen=True)
class BankAccount:
    """The storable facts of a bank account: never its number."""

    country: str
    last4: str
    fingerprint: str
    bank_name: str | None
    behaviour: str


class BankAccountInvalid(ValueError):
    """The details are not a valid account; ``param`` names the field at fault."""

    def __init__(self, message: str, *, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


def aba_routing_valid(routing_number: str) -> bool:
    """Nine digits whose ABA checksum 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of 10."""
    if len(routing_number) != 9 or not _DIGITS.match(routing_number):
        return False
    d = [int(char) for char in routing_number]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def iban_normalised(iban: str) -> str:
    """The IBAN without spaces, in upper case (as printed it comes in groups of four)."""
    return iban.replace(" ", "").upper()


def iban_checksum_valid(iban: str) -> bool:
    """ISO 7064 mod 97-10: the country code and check digits moved to the end, letters as 10–35, mod 97 is 1."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def fingerprint(key: str, *parts: str) -> str:
    """The first 16 hex characters of HMAC-SHA256(key, parts joined by "|"): stable per account, and keyed,
    because account numbers are few enough that a plain hash of one is easily reversed."""
    return hmac.new(key.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()[:16]


def behaviour_for(identifier: str) -> str:
    """The test behaviour an account number or IBAN selects by its last nine characters."""
    return BEHAVIOUR_SUFFIXES.get(identifier[-9:], SETTLE)


def us_bank_account(*, routing_number: str, account_number: str, fingerprint_key: str) -> BankAccount:
    """A US (ACH) account: an ABA routing number with a valid checksum, an account number of 4–17 digits."""
    if not aba_routing_valid(routing_number):
        raise BankAccountInvalid("routing_number must be a nine-digit ABA routing number.", param="routing_number")
    if not (_DIGITS.match(account_number) and 4 <= len(account_number) <= 17):
        raise BankAccountInvalid("account_number must be 4 to 17 digits.", param="account_number")
    return BankAccount(
        country="US",
        last4=account_number[-4:],
        fingerprint=fingerprint(fingerprint_key, "US", routing_number, account_number),
        bank_name=US_BANK_NAMES.get(routing_number),
        behaviour=behaviour_for(account_number),
    )


def sepa_bank_account(*, country: str, iban: str, fingerprint_key: str) -> BankAccount:
    """A SEPA account: an IBAN of ``country``, of that country's length, whose mod-97 checksum holds."""
    iban = iban_normalised(iban)
    if not _IBAN.match(iban):
        raise BankAccountInvalid("iban is not an IBAN.", param="iban")
    if iban[:2] != country:
        raise BankAccountInvalid(f"The IBAN is not from {country}.", param="iban")
    if len(iban) != SEPA_IBAN_LENGTHS[country]:
        raise BankAccountInvalid(f"An IBAN from {country} has {SEPA_IBAN_LENGTHS[country]} characters.", param="iban")
    if not iban_checksum_valid(iban):
        raise BankAccountInvalid("The IBAN's check digits are wrong.", param="iban")
    bban = iban[4:]
    bank_name = next(
        (
            name
            for (code_country, code), name in SEPA_BANK_NAMES.items()
            if code_country == country and bban.startswith(code)
        ),
        None,
    )
    return BankAccount(
        country=country,
        last4=iban[-4:],
        fingerprint=fingerprint(fingerprint_key, country, iban),
        bank_name=bank_name,
        behaviour=behaviour_for(iban),
    )
