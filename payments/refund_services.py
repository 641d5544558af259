"""Every write to a refund. The same three steps as a confirmation, so a refund is never sent twice:

1. under the payment's row lock, check what is left to refund, create the refund
   ``pending`` and count its amount in ``amount_refunded`` (commit);
2. send it to the processor with an idempotency key derived from the refund id,
   holding nothing;
3. record the outcome in a new transaction.

A lost answer leaves the refund ``pending``; ``refunds_resolve_pending`` asks the
processor by the same key and settles it, or sends it again with that key.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.audit import audit_record
from core.errors import InvalidRequestError
from gateways.base import ProcessorRequestRejected, ProcessorUnavailable
from gateways.base import Refund as ProcessorRefund
from gateways.registry import processor_outside_transaction
from ledger import posting_rules
from merchants.models import Merchant
from payments.errors import PaymentUnexpectedState
from payments.fx_services import payment_fx
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)


def refund_key(refund: Refund) -> str:
    return f"{refund.id}:refund"


def _record_event(refund: Refund) -> None:
    from events.services import event_record
    from payments.api.serializers import RefundSerializer

    event_record(merchant=refund.merchant_id, type=f"refund.{refund.status}", data_object=RefundSerializer(refund).data)


def _transition(refund: Refund, name: str, *, actor: str, reason: str = "", **kwargs) -> None:
    """Run a refund transition, save, and record it in the audit trail and the event log."""
    before = refund.status
    getattr(refund, name)(**kwargs)
    refund.save()
    audit_record(actor=actor, action=f"refund.{name}", obj=refund, before={"status": before},
                 after={"status": refund.status}, reason=reason)  # fmt: skip
    _record_event(refund)


def refund_create(
    *,
    merchant: Merchant,
    payment: Payment,
    amount: int | None,
    reason: str | None,
    actor: str,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund ``amount`` (default: all that is left) of a succeeded payment and send it to the processor.

    Guarantees: the refunds of a payment never add up to more than ``amount_captured``
    (checked and reserved under the payment's row lock); at most one refund per
    (merchant, idempotency key); the processor call holds no lock or transaction.
    Raises ``refund_exceeds_captured`` or ``payment_unexpected_state`` (400).
    """
    refund = _refund_reserve(
        merchant=merchant, payment=payment, amount=amount, reason=reason, actor=actor, idempotency_key=idempotency_key
    )
    if refund.status != RefundStatus.PENDING:
        return refund
    return _refund_send(refund, actor=actor)


def _refund_reserve(*, merchant, payment, amount, reason, actor, idempotency_key) -> Refund:
    if idempotency_key is not None:
        existing = Refund.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing  # a re-executed request finds the refund it already made
    try:
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            if locked.status != PaymentStatus.SUCCEEDED:
                raise PaymentUnexpectedState(
                    f"This payment's status is {locked.status}; only a succeeded payment can be refunded."
                )
            remaining = locked.amount_captured - locked.amount_refunded
            amount = remaining if amount is None else amount
            if remaining <= 0 or amount > remaining:
                raise InvalidRequestError(
                    f"Refunds of this payment may add up to at most {locked.amount_captured}; "
                    f"{remaining} is left to refund.",
                    code="refund_exceeds_captured",
                    param="amount",
                )
            refund = Refund.objects.create(
                payment=locked,
                merchant=merchant,
                amount=amount,
                currency=locked.currency,
                reason=reason,
                requested_by=actor,
                creation_idempotency_key=idempotency_key,
            )
            Payment.objects.filter(pk=locked.pk).update(amount_refunded=F("amount_refunded") + amount)
            posting_rules.refund_created(
                refund_id=refund.id, payment_id=locked.id, merchant=merchant, amount=amount, currency=locked.currency,
                **payment_fx(locked),
            )
            audit_record(actor=actor, action="refund.create", obj=refund, after={"status": refund.status,
                         "amount": amount, "payment": locked.id}, reason=reason or "")  # fmt: skip
            return refund
    except IntegrityError:
        existing = Refund.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


def _refund_send(refund: Refund, *, actor: str) -> Refund:
    """Step 2 and 3: send with the refund's own key, then record what the processor said."""
    processor = processor_outside_transaction()
    Refund.objects.filter(pk=refund.pk).update(processor_attempts=F("processor_attempts") + 1)
    payment = refund.payment
    try:
        answer = processor.refund(
            processor_charge_id=payment.processor_charge_id,
            amount=refund.amount,
            reference=refund.id,
            idempotency_key=refund_key(refund),
        )
    except ProcessorUnavailable:
        logger.warning("refund %s: outcome unknown, left pending", refund.id)
        return Refund.objects.get(pk=refund.pk)
    except ProcessorRequestRejected as rejected:
        return refund_apply_failure(refund_id=refund.id, failure_reason=rejected.code or "processor_rejected",
                                    actor=actor)  # fmt: skip
    return refund_apply_processor_refund(refund_id=refund.id, answer=answer, actor=actor)


def refund_apply_processor_refund(*, refund_id: str, answer: ProcessorRefund, actor: str) -> Refund:
    """Bring a refund in line with the processor's record. Idempotent, safe in any order."""
    if answer.status == "failed":
        return refund_apply_failure(refund_id=refund_id, failure_reason=answer.failure_reason or "failed",
                                    actor=actor, processor_refund_id=answer.processor_id)  # fmt: skip
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if answer.status == "succeeded" and refund.status == RefundStatus.PENDING:
            _transition(refund, "succeed", actor=actor, processor_refund_id=answer.processor_id)
            posting_rules.refund_succeeded(refund_id=refund.id)
        elif answer.status == "pending" and not refund.processor_refund_id:
            Refund.objects.filter(pk=refund.pk).update(processor_refund_id=answer.processor_id)
            refund.processor_refund_id = answer.processor_id
        return refund


def refund_apply_failure(*, refund_id: str, failure_reason: str, actor: str, processor_refund_id=None) -> Refund:
    """The refund failed: it releases its amount on the payment and in the ledger."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status == RefundStatus.FAILED:
            return refund
        Payment.objects.select_for_update().filter(pk=refund.payment_id).update(
            amount_refunded=F("amount_refunded") - refund.amount
        )
        _transition(refund, "fail", actor=actor, reason=failure_reason, failure_reason=failure_reason,
                    processor_refund_id=processor_refund_id)  # fmt: skip
        posting_rules.refund_failed(refund_id=refund.id)
        return refund


def refund_resolve(*, refund_id: str, actor: str = "system:resolver") -> Refund:
    """Settle a pending refund by asking the processor for the outcome of its key, or sending it again."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    try:
        answer = processor_outside_transaction().lookup_refund(idempotency_key=refund_key(refund))
    except ProcessorUnavailable:
        return refund
    if answer is not None:
        if answer.status == "pending":
            return refund  # the processor has it and will tell us by webhook
        return refund_apply_processor_refund(refund_id=refund.id, answer=answer, actor=actor)
    if refund.processor_attempts >= settings.PAYMENT_MAX_PROCESSOR_ATTEMPTS:
        return refund_apply_failure(refund_id=refund.id, failure_reason="processing_error", actor=actor)
    return _refund_send(refund, actor=actor)


def refunds_resolve_pending(*, limit: int = 500) -> int:
    """Resolve refunds pending for longer than the grace period. Returns how many were settled."""
    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_RESOLVE_AFTER_SECONDS)
    ids = list(
        Refund.objects.filter(status=RefundStatus.PENDING, created__lt=cutoff).order_by("created")
        .values_list("pk", flat=True)[:limit]
    )  # fmt: skip
    return sum(refund_resolve(refund_id=refund_id).status != RefundStatus.PENDING for refund_id in ids)
