"""Parsing and validating request bodies. A request rejected here executes nothing and stores nothing."""

import json
import re
from datetime import date

from django.http import HttpRequest

from sandbox import banks
from sandbox.banks import BankAccount, BankAccountInvalid
from sandbox.cards import Card, card_from_number, luhn_valid
from sandbox.config import sandbox_config
from sandbox.errors import InvalidRequest
from sandbox.fx import MAX_DRIFT_BPS

MAX_AMOUNT = 99_999_999_999
MAX_EVIDENCE_LENGTH = 20_000
MAX_EVIDENCE_DUE_IN_SECONDS = 366 * 24 * 3600
SOURCE_PREFIXES = ("tok_", "ba_", "wallet_")
MAX_WALLET_EXPIRY_SECONDS = 7 * 24 * 3600
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DIGITS = re.compile(r"^\d+$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LINE_TYPE = re.compile(r"^[a-z][a-z_]{0,31}$")


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object; an empty body is ``{}``."""
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequest("The request body is not valid JSON.", code="body_invalid") from error
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="body_invalid")
    return data


def _only(data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown parameter: {unknown[0]}.", code="parameter_unknown", param=unknown[0])


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def amount_param(value, *, param: str = "amount") -> int:
    if not _is_int(value) or not 0 < value <= MAX_AMOUNT:
        raise InvalidRequest(
            f"{param} must be a positive integer in minor units, at most {MAX_AMOUNT}.",
            code="amount_invalid",
            param=param,
        )
    return value


def card_params(data: dict) -> Card:
    """The storable facts of the card in a POST /v1/tokens body; the number itself goes no further."""
    _only(data, {"number", "exp_month", "exp_year", "cvc"})
    number = data.get("number")
    if isinstance(number, str):
        number = number.replace(" ", "").replace("-", "")
    if not (isinstance(number, str) and _DIGITS.match(number) and 12 <= len(number) <= 19 and luhn_valid(number)):
        raise InvalidRequest("The card number is not a valid card number.", code="card_number_invalid", param="number")
    exp_month, exp_year = data.get("exp_month"), data.get("exp_year")
    if not _is_int(exp_month) or not 1 <= exp_month <= 12:
        raise InvalidRequest("exp_month must be an integer from 1 to 12.", code="expiry_invalid", param="exp_month")
    today = date.today()
    if not _is_int(exp_year) or not 1000 <= exp_year <= 9999 or (exp_year, exp_month) < (today.year, today.month):
        raise InvalidRequest(
            "The card has expired or its expiry year is invalid.", code="expiry_invalid", param="exp_year"
        )
    cvc = data.get("cvc")
    if not isinstance(cvc, str) or not _DIGITS.match(cvc) or not 3 <= len(cvc) <= 4:
        raise InvalidRequest("cvc must be 3 or 4 digits.", code="cvc_invalid", param="cvc")
    return card_from_number(number, exp_month, exp_year)


def bank_account_params(data: dict, *, fingerprint_key: str) -> BankAccount:
    """The storable facts of the account in a POST /v1/bank_accounts body; the account number or IBAN goes no
    further. US: ``routing_number`` and ``account_number``; a SEPA country: ``iban``. Every refusal is 400
    ``bank_account_invalid`` with the ``param`` at fault."""

    def invalid(message: str, param: str) -> InvalidRequest:
        return InvalidRequest(message, code="bank_account_invalid", param=param)

    unknown = sorted(set(data) - {"country", "holder_name", "account_number", "routing_number", "iban"})
    if unknown:
        raise invalid(f"Unknown parameter: {unknown[0]}.", unknown[0])
    country = data.get("country")
    if not isinstance(country, str) or (country != "US" and country not in banks.SEPA_IBAN_LENGTHS):
        raise invalid("country must be US or a SEPA country (ISO 3166 alpha-2, upper case).", "country")
    holder_name = data.get("holder_name")
    if not isinstance(holder_name, str) or not holder_name.strip() or len(holder_name) > 255:
        raise invalid("holder_name must be a name of 1 to 255 characters.", "holder_name")
    for name in ("account_number", "routing_number", "iban"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise invalid(f"{name} must be a string.", name)
    try:
        if country == "US":
            if data.get("iban") is not None:
                raise invalid("A US account has a routing_number and an account_number, not an IBAN.", "iban")
            for name in ("routing_number", "account_number"):
                if not data.get(name):
                    raise invalid(f"{name} is required for a US account.", name)
            return banks.us_bank_account(
                routing_number=data["routing_number"],
                account_number=data["account_number"],
                fingerprint_key=fingerprint_key,
            )
        for name in ("routing_number", "account_number"):
            if data.get(name) is not None:
                raise invalid(f"An account in {country} has an IBAN, not a {name}.", name)
        if not data.get("iban"):
            raise invalid(f"iban is required for an account in {country}.", "iban")
        return banks.sepa_bank_account(country=country, iban=data["iban"], fingerprint_key=fingerprint_key)
    except BankAccountInvalid as refused:
        raise invalid(refused.message, refused.param) from None


def charge_params(data: dict) -> dict:
    """The parameters of POST /v1/charges: amount, currency, source (``tok_…``, ``ba_…`` or ``wallet_…``),
    capture, reference."""
    _only(data, {"amount", "currency", "source", "capture", "reference"})
    amount = amount_param(data.get("amount"))
    currency = _accepted_currency(data.get("currency"))
    source = data.get("source")
    if not isinstance(source, str) or not source.startswith(SOURCE_PREFIXES) or len(source) > 40:
        raise InvalidRequest(
            "source must be a card token (tok_…), a bank account (ba_…) or a wallet (wallet_…).",
            code="token_invalid",
            param="source",
        )
    capture = data.get("capture", True)
    if not isinstance(capture, bool):
        raise InvalidRequest("capture must be true or false.", code="capture_invalid", param="capture")
    reference = data.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 255):
        raise InvalidRequest("reference must be a string of at most 255 characters.", param="reference")
    return {"amount": amount, "currency": currency, "token": source, "capture": capture, "reference": reference}


def capture_params(data: dict) -> dict:
    _only(data, {"amount"})
    amount = data.get("amount")
    return {"amount": None if amount is None else amount_param(amount)}


def void_params(data: dict) -> dict:
    _only(data, set())
    return {}


def _currency(value) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise InvalidRequest(
            "currency must be an upper-case ISO 4217 code such as USD.", code="currency_invalid", param="currency"
        )
    return value


def _accepted_currency(value) -> str:
    """A currency this acquirer takes (SANDBOX_CURRENCIES), else 400 ``currency_not_supported``."""
    currency = _currency(value)
    accepted = sandbox_config().currencies
    if accepted and currency not in accepted:
        raise InvalidRequest(
            f"This acquirer does not charge in {currency} (it takes {', '.join(sorted(accepted))}).",
            code="currency_not_supported",
            param="currency",
        )
    return currency


def _text(data: dict, name: str, *, required: bool, max_length: int = 255) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidRequest(
            f"{name} must be a string of 1 to {max_length} characters.",
            code="parameter_missing" if value is None else "parameter_invalid",
            param=name,
        )
    return value


def day_param(value) -> date:
    """A UTC calendar day written YYYY-MM-DD, else 400 ``date_invalid``."""
    try:
        if not isinstance(value, str) or not _DAY.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidRequest("The date must be a real day written YYYY-MM-DD.", code="date_invalid") from error


def refund_params(data: dict) -> dict:
    """The parameters of POST /v1/refunds: charge, amount (> 0), reference (our refund id)."""
    _only(data, {"charge", "amount", "reference"})
    charge = _text(data, "charge", required=True, max_length=40)
    amount = amount_param(data.get("amount"))
    reference = _text(data, "reference", required=False)
    return {"charge_id": charge, "amount": amount, "reference": reference}


def payout_params(data: dict) -> dict:
    """The parameters of POST /v1/payouts: amount (> 0), currency (one this acquirer takes), destination (a bank
    account token ``ba_…``), reference (our payout id) and description, both optional."""
    _only(data, {"amount", "currency", "destination", "reference", "description"})
    amount = amount_param(data.get("amount"))
    currency = _accepted_currency(data.get("currency"))
    destination = data.get("destination")
    if not isinstance(destination, str) or not destination.startswith("ba_") or len(destination) > 40:
        raise InvalidRequest(
            "destination must be a bank account token (ba_…).",
            code="parameter_missing" if destination is None else "token_invalid",
            param="destination",
        )
    return {
        "amount": amount,
        "currency": currency,
        "destination_id": destination,
        "reference": _text(data, "reference", required=False),
        "description": _text(data, "description", required=False),
    }


def evidence_params(data: dict, *, fields: tuple[str, ...]) -> dict[str, str]:
    """A dispute's evidence: only the known text ``fields``, each a string of at most 20 000 characters."""
    _only(data, set(fields))
    for name, value in data.items():
        if not isinstance(value, str) or len(value) > MAX_EVIDENCE_LENGTH:
            raise InvalidRequest(
                f"{name} must be a string of at most {MAX_EVIDENCE_LENGTH} characters.",
                code="parameter_invalid",
                param=name,
            )
    return dict(data)


def dispute_open_params(data: dict, *, reasons: tuple[str, ...]) -> dict:
    """POST /v1/control/disputes: ``charge`` or ``reference`` (one of them), optional reason, amount and
    evidence_due_in_seconds."""
    _only(data, {"charge", "reference", "reason", "amount", "evidence_due_in_seconds"})
    charge = _text(data, "charge", required=False, max_length=40)
    reference = _text(data, "reference", required=False)
    if (charge is None) == (reference is None):
        raise InvalidRequest("Give either charge or reference.", code="parameter_missing", param="charge")
    reason = data.get("reason", "general")
    if reason not in reasons:
        raise InvalidRequest(f"reason must be one of {', '.join(reasons)}.", code="parameter_invalid", param="reason")
    amount = data.get("amount")
    due_in = data.get("evidence_due_in_seconds")
    is_number = isinstance(due_in, int | float) and not isinstance(due_in, bool)
    if due_in is not None and not (is_number and 0 <= due_in <= MAX_EVIDENCE_DUE_IN_SECONDS):
        raise InvalidRequest(
            "evidence_due_in_seconds must be a number of seconds from 0 to a year.",
            code="parameter_invalid",
            param="evidence_due_in_seconds",
        )
    return {
        "charge_id": charge,
        "reference": reference,
        "reason": reason,
        "amount": None if amount is None else amount_param(amount),
        "evidence_due_in_seconds": None if due_in is None else float(due_in),
    }


def settlement_inject_params(data: dict) -> dict:
    """POST /v1/control/settlements/inject: date, type, processor_id, reference, currency, amount (signed,
    any integer), fee (integer, default 0)."""
    _only(data, {"date", "type", "processor_id", "reference", "currency", "amount", "fee"})
    if "date" not in data:
        raise InvalidRequest("date is required.", code="parameter_missing", param="date")
    day = day_param(data["date"])
    line_type = data.get("type")
    if not isinstance(line_type, str) or not _LINE_TYPE.match(line_type):
        raise InvalidRequest(
            "type must be a lower-case word such as charge or refund.", code="parameter_invalid", param="type"
        )
    processor_id = _text(data, "processor_id", required=True, max_length=64)
    reference = data.get("reference", "")
    if not isinstance(reference, str) or len(reference) > 255:
        raise InvalidRequest("reference must be a string of at most 255 characters.", param="reference")
    numbers = {}
    for name in ("amount", "fee"):
        value = data.get(name, 0 if name == "fee" else None)
        if not _is_int(value) or abs(value) > MAX_AMOUNT:
            raise InvalidRequest(
                f"{name} must be an integer in minor units.",
                code="parameter_missing" if value is None else "amount_invalid",
                param=name,
            )
        numbers[name] = value
    return {
        "day": day,
        "line_type": line_type,
        "processor_id": processor_id,
        "reference": reference,
        "currency": _currency(data.get("currency")),
        **numbers,
    }


_FAULT_TYPES = {
    "latency_ms": "int",
    "error_rate": "rate",
    "seed": "int",
    "duplicate_webhooks": "bool",
    "shuffle_webhooks": "bool",
    "timeout_delay_seconds": "seconds",
    "refund_delay_seconds": "seconds",
    "dispute_delay_seconds": "seconds",
    "dispute_decision_seconds": "seconds",
    "bank_settlement_seconds": "seconds",
    "bank_return_seconds": "seconds",
    "wallet_expiry_seconds": "expiry",
    "fx_drift_bps": "bps",
    "payout_seconds": "seconds",
}


def fault_params(data: dict) -> dict:
    """The faults to change: latency_ms ≥ 0, 0 ≤ error_rate ≤ 1, seed, two booleans, delays in seconds
    (timeout, refund, dispute, dispute decision, bank settlement, bank return, payout) from 0 to 3600, the wallet
    expiry from 0 to a week, and fx_drift_bps, an integer from −5000 to 5000."""
    _only(data, set(_FAULT_TYPES))
    for name, value in data.items():
        kind = _FAULT_TYPES[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        valid = {
            "int": _is_int(value) and (name == "seed" or value >= 0),
            "rate": number and 0 <= value <= 1,
            "bool": isinstance(value, bool),
            "seconds": number and 0 <= value <= 3600,
            "expiry": number and 0 <= value <= MAX_WALLET_EXPIRY_SECONDS,
            "bps": _is_int(value) and -MAX_DRIFT_BPS <= value <= MAX_DRIFT_BPS,
        }[kind]
        if not valid:
            raise InvalidRequest(f"{name} has an invalid value.", code="parameter_invalid", param=name)
    return {
        name: float(value) if _FAULT_TYPES[name] in {"rate", "seconds", "expiry"} else value
        for name, value in data.items()
    }
