"""Parsing and validating request bodies. A request rejected here executes nothing and stores nothing."""

import json
import re
from datetime import date

from django.http import HttpRequest

from gateways.sandbox.cards import Card, card_from_number, luhn_valid
from gateways.sandbox.errors import InvalidRequest

MAX_AMOUNT = 99_999_999_999
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DIGITS = re.compile(r"^\d+$")


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


def charge_params(data: dict) -> dict:
    """The parameters of POST /v1/charges: amount, currency, source, capture, reference."""
    _only(data, {"amount", "currency", "source", "capture", "reference"})
    amount = amount_param(data.get("amount"))
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidRequest(
            "currency must be an upper-case ISO 4217 code such as USD.", code="currency_invalid", param="currency"
        )
    source = data.get("source")
    if not isinstance(source, str) or not source.startswith("tok_") or len(source) > 40:
        raise InvalidRequest("source must be a card token (tok_…).", code="token_invalid", param="source")
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


_FAULT_TYPES = {
    "latency_ms": "int",
    "error_rate": "rate",
    "seed": "int",
    "duplicate_webhooks": "bool",
    "shuffle_webhooks": "bool",
    "timeout_delay_seconds": "seconds",
}


def fault_params(data: dict) -> dict:
    """The faults to change: latency_ms ≥ 0, 0 ≤ error_rate ≤ 1, seed, two booleans, timeout_delay_seconds ≥ 0."""
    _only(data, set(_FAULT_TYPES))
    for name, value in data.items():
        kind = _FAULT_TYPES[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        valid = {
            "int": _is_int(value) and (name == "seed" or value >= 0),
            "rate": number and 0 <= value <= 1,
            "bool": isinstance(value, bool),
            "seconds": number and 0 <= value <= 3600,
        }[kind]
        if not valid:
            raise InvalidRequest(f"{name} has an invalid value.", code="parameter_invalid", param=name)
    return {name: float(value) if _FAULT_TYPES[name] in {"rate", "seconds"} else value for name, value in data.items()}
