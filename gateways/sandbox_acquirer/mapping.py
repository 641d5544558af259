"""The sandbox's JSON objects as the boundary's dataclasses (``gateways.base``).

Every function raises KeyError, TypeError or ValueError on an object it cannot read (an unknown status
included); the client turns that into ProcessorUnavailable, since an unreadable success may still have
moved money.
"""

import decimal
from collections.abc import Mapping
from typing import Any

from gateways.base import (
    BankAccountDetails,
    CardDetails,
    Charge,
    ChargeStatus,
    Dispute,
    DisputeStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)


def card_from_json(data: Mapping[str, Any] | None) -> CardDetails | None:
    if not data:
        return None
    return CardDetails(
        brand=data["brand"], last4=data["last4"], exp_month=int(data["exp_month"]), exp_year=int(data["exp_year"])
    )


def charge_from_json(data: Mapping[str, Any]) -> Charge:
    """A ``Charge`` from the sandbox's charge object."""
    return Charge(
        processor_id=data["id"],
        reference=data.get("reference") or "",
        status=ChargeStatus(data["status"]),
        amount=int(data["amount"]),
        amount_captured=int(data.get("amount_captured") or 0),
        currency=data["currency"],
        decline_code=data.get("decline_code"),
        failure_message=data.get("failure_message"),
        card=card_from_json(data.get("card")),
        amount_refunded=int(data.get("amount_refunded") or 0),
        disputed=bool(data.get("disputed")),
        next_action_url=data.get("next_action_url"),
        return_code=data.get("return_code"),
    )


def bank_account_from_json(data: Mapping[str, Any]) -> BankAccountDetails:
    """A ``BankAccountDetails`` from the sandbox's bank account object."""
    if not str(data["id"]).startswith("ba_"):
        raise ValueError("not a bank account token")
    return BankAccountDetails(
        processor_id=data["id"],
        country=data["country"],
        last4=data["last4"],
        fingerprint=data["fingerprint"],
        bank_name=data.get("bank_name"),
    )


def fx_rates_from_json(data: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``(base, rates)`` from the sandbox's fx_rates object; every rate must be a positive decimal string."""
    base, rates = data["base"], data["rates"]
    if not isinstance(base, str) or not isinstance(rates, dict):
        raise TypeError("fx_rates without a base or rates")
    for currency, rate in rates.items():
        if not isinstance(currency, str) or not isinstance(rate, str):
            raise TypeError("a rate is not a decimal string")
        value = decimal.Decimal(rate)  # decimal.InvalidOperation is a ValueError
        if not value.is_finite() or value <= 0:
            raise ValueError(f"the rate of {currency} is not a positive number")
    return base, dict(rates)


def refund_from_json(data: Mapping[str, Any]) -> Refund:
    """A ``Refund`` from the sandbox's refund object."""
    return Refund(
        processor_id=data["id"],
        charge_id=data["charge"],
        reference=data.get("reference") or "",
        amount=int(data["amount"]),
        currency=data["currency"],
        status=RefundStatus(data["status"]),
        failure_reason=data.get("failure_reason"),
    )


def dispute_from_json(data: Mapping[str, Any]) -> Dispute:
    """A ``Dispute`` from the sandbox's dispute object."""
    evidence = data.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise TypeError("evidence is not an object")
    return Dispute(
        processor_id=data["id"],
        charge_id=data["charge"],
        payment_reference=data.get("reference") or "",
        amount=int(data["amount"]),
        currency=data["currency"],
        reason=data["reason"],
        status=DisputeStatus(data["status"]),
        evidence_due_by=int(data["evidence_due_by"]),
        evidence=dict(evidence),
    )


def payout_from_json(data: Mapping[str, Any]) -> Payout:
    """A ``Payout`` from the sandbox's payout object."""
    return Payout(
        processor_id=data["id"],
        reference=data.get("reference") or "",
        amount=int(data["amount"]),
        currency=data["currency"],
        destination=data["destination"],
        status=PayoutStatus(data["status"]),
        arrival_date=int(data["arrival_date"]),
        failure_code=data.get("failure_code"),
        failure_message=data.get("failure_message"),
    )
