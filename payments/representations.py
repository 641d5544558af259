"""Payments, refunds and disputes as the API shows them (docs/api.md), built once, by plain functions.

The API answers with these dicts (its output serializers only describe them for the OpenAPI document) and
every event carries them as ``data.object``, so an event's object is byte for byte what a GET answers.
They read the row as it is in memory: called inside a service's transaction, right after a change, they
show the change.
"""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from payments.methods import payment_method_of
from payments.models import EVIDENCE_FIELDS, Dispute, Payment, PaymentStatus, Refund

# ``fx_rate`` is shown with exactly as many decimal places as its column keeps.
FX_RATE_PLACES = Decimal(1).scaleb(-Payment._meta.get_field("fx_rate").decimal_places)


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 in the current time zone (UTC), ``Z`` for UTC: how every time in the API is written."""
    if moment is None:
        return None
    written = timezone.localtime(moment).isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def _fx_rate(rate: Decimal | None) -> str | None:
    return None if rate is None else f"{Decimal(rate).quantize(FX_RATE_PLACES):f}"


def payment_representation(payment: Payment) -> dict:
    """The API's ``payment`` object."""
    return {
        "id": payment.id,
        "object": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": str(payment.status),
        "processor": payment.processor,
        "capture_method": str(payment.capture_method),
        "amount_capturable": payment.amount_capturable,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "payment_method": payment_method_representation(payment),
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "decline_code": payment.decline_code,
        "cancellation_reason": payment.cancellation_reason,
        "next_action": _next_action(payment),
        "disputed": payment.disputed,
        "amount_returned": payment.amount_returned,
        "returned": payment.returned,
        "return_code": payment.return_code,
        "settlement_currency": payment.settlement_currency,
        "settlement_amount": payment.settlement_amount,
        "fx_rate": _fx_rate(payment.fx_rate),
        "description": payment.description,
        "metadata": payment.metadata,
        "customer_email": payment.customer_email,
        "customer_name": payment.customer_name,
        "created": timestamp(payment.created),
    }


def payment_method_representation(payment: Payment) -> dict:
    """``{"type": <type>, <type>: <what the method shows of itself>}``: the method's own module says what."""
    method = payment_method_of(payment)
    return {"type": method.type, method.type: method.details(payment)}


def _next_action(payment: Payment) -> dict | None:
    """Where to send the customer while the payment is ``requires_action``; null otherwise."""
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url:
        return {"type": "redirect", "url": payment.next_action_url}
    return None


def refund_representation(refund: Refund) -> dict:
    """The API's ``refund`` object."""
    return {
        "id": refund.id,
        "object": "refund",
        "payment": refund.payment_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": str(refund.status),
        "reason": refund.reason,
        "failure_reason": refund.failure_reason,
        "created": timestamp(refund.created),
    }


def dispute_representation(dispute: Dispute) -> dict:
    """The API's ``dispute`` object; every evidence field is present, empty when not submitted."""
    return {
        "id": dispute.id,
        "object": "dispute",
        "payment": dispute.payment_id,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "status": str(dispute.status),
        "reason": dispute.reason,
        "fee": dispute.fee,
        "evidence": {field: dispute.evidence.get(field, "") for field in EVIDENCE_FIELDS},
        "evidence_due_by": timestamp(dispute.evidence_due_by),
        "created": timestamp(dispute.created),
    }
