"""Every write to a refund. The same three steps as a confirmation, so a refund is never sent twice:

1. under the payment's row lock, check every refund rule (``refund_check``: the payment
   succeeded, is not disputed, was not returned, and enough is left), create the refund
   ``pending`` and count its amount in ``amount_refunded`` (commit);
2. send it to the processor with an idempotency key derived from the refund id,
   holding nothing;
3. record the outcome in a new transaction.

A lost answer leaves the refund ``pending``; ``refunds_resolve_pending`` asks the
processor by the same key and settles it, or sends it again with that key.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.audit import audit_record
from core.errors import InvalidRequestError
from core.money import MAX_AMOUNT
from gateways.base import ProcessorRequestRejected, ProcessorUnavailable
from gateways.base import Refund as ProcessorRefund
from gateways.base import RefundStatus as ProcessorRefundStatus
from gateways.registry import processor_outside_transaction
from ledger import posting_rules
from merchants.models import Merchant
from payments.errors import PaymentUnexpectedState
from payments.fx_services import payment_fx
from payments.locks import payment_lock, refund_lock
from payments.models import Dispute, DisputeStatus, Payment, PaymentStatus, Refund, RefundStatus
from payments.transitions import REFUNDS, transition

logger = logging.getLogger(__name__)


def refund_key(refund: Refund) -> str:
    return f"{refund.id}:refund"


# The disputes that stop a refund. An open one (``needs_response``, ``under_review``): the money is held
# for the chargeback and the processor refuses to refund a charge under dispute (Stripe: ``charge_disputed``;
# the sandbox too), so a refund could only fail, and a refund racing the dispute's outcome could return the
# money twice. A lost one: the cardholder already got the money back through the chargeback; a refund would
# return it a second time, and the processor still refuses it (the charge stays disputed). A won dispute gave
# the money back to the merchant: the processor makes the charge refundable again, and so do we.
# ``Payment.disputed`` is no guide: it stays true once a payment was ever disputed, even after a win.
REFUND_BLOCKING_DISPUTE_STATUSES = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW, DisputeStatus.LOST)


def refund_check(payment: Payment, amount: int | None) -> int:
    """Every rule a refund must pass, in one place. Returns the amount to refund (``None``: all that is left).

    ``refund_reserve`` calls it with the payment's row locked, before anything is written or sent: that
    is the decision, and nothing can change between it and the reservation (disputes are opened and bank
    returns applied under the same lock). Called on an unlocked payment (``refund_refusal``) it only
    predicts the decision, for instance to hide the admin's Refund button. Each refusal is a 400
    (``invalid_request_error``) and nothing is written:

    - ``amount_invalid``: not a positive integer of at most ``MAX_AMOUNT``;
    - ``payment_unexpected_state``: the payment did not succeed;
    - ``payment_returned``: a bank transfer its bank returned (the money went back already);
    - ``payment_disputed``: an open or lost dispute (``REFUND_BLOCKING_DISPUTE_STATUSES``);
    - ``refund_exceeds_captured``: more than what is left of ``amount_captured`` after other refunds.
    """
    if amount is not None and (type(amount) is not int or amount <= 0 or amount > MAX_AMOUNT):
        raise InvalidRequestError(
            "The amount must be a positive integer in minor units.", code="amount_invalid", param="amount"
        )
    if payment.status != PaymentStatus.SUCCEEDED:
        raise PaymentUnexpectedState(
            f"This payment's status is {payment.status}; only a succeeded payment can be refunded."
        )
    if payment.returned_at is not None:
        code = f" ({payment.return_code})" if payment.return_code else ""
        raise InvalidRequestError(
            f"This bank transfer was returned by the customer's bank{code}: the money already went back to the "
            "customer, so it cannot be refunded.",
            code="payment_returned",
        )
    dispute = (
        Dispute.objects.filter(payment_id=payment.pk, status__in=REFUND_BLOCKING_DISPUTE_STATUSES)
        .only("id", "status")
        .order_by("id")
        .first()
    )
    if dispute is not None:
        why = (
            "the cardholder already got the money back through the chargeback"
            if dispute.status == DisputeStatus.LOST
            else "respond to the dispute instead"
        )
        raise InvalidRequestError(
            f"This payment is disputed (dispute {dispute.id} is {dispute.status}) and cannot be refunded: {why}.",
            code="payment_disputed",
        )
    remaining = payment.amount_refundable
    amount = remaining if amount is None else amount
    if remaining <= 0 or amount > remaining:
        raise InvalidRequestError(
            f"Refunds of this payment may add up to at most {payment.amount_captured}; {remaining} is left to refund.",
            code="refund_exceeds_captured",
            param="amount",
        )
    return amount


def refund_refusal(payment: Payment) -> InvalidRequestError | None:
    """Why ``payment`` cannot be refunded at all right now (``refund_check``'s refusal), or None if it can.

    Reads without a lock: a prediction for pages and buttons, never the decision.
    """
    try:
        refund_check(payment, None)
    except InvalidRequestError as refusal:
        return refusal
    return None


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

    Guarantees: every rule of ``refund_check`` is decided under the payment's row lock before
    anything is written or sent, so a refused refund writes nothing and never reaches the
    processor; the refunds of a payment never add up to more than ``amount_captured``; at most
    one refund per (merchant, idempotency key); the processor call holds no lock or transaction.
    Raises ``refund_check``'s 400s.
    """
    refund = refund_reserve(
        merchant=merchant, payment=payment, amount=amount, reason=reason, actor=actor, idempotency_key=idempotency_key
    )
    return refund_send(refund, actor=actor)


def refund_reserve(
    *,
    merchant: Merchant,
    payment: Payment,
    amount: int | None,
    reason: str | None,
    actor: str,
    idempotency_key: str | None = None,
    divert: Callable[[Payment, int], Any] | None = None,
    checkpoint: Callable[[Refund], None] | None = None,
) -> Any:
    """Step 1: decide under the payment's row lock and, if allowed, reserve a ``pending`` refund (commit).

    Returns the refund (``refund_send`` sends it), or the refund an earlier call made with
    ``idempotency_key``. ``divert`` lets a caller add a decision of its own under the same lock:
    it is called inside the locked transaction once every rule of ``refund_check`` passed, with
    the locked payment and the amount; returning None lets the refund be made, anything else is
    returned instead and no refund is made (the back office turns a staff refund above its
    approval threshold into a request for approval there, so concurrent staff cannot both stay
    under it). What ``divert`` writes commits with the decision or not at all. ``checkpoint`` is
    called in the same transaction with the refund it made (an idempotency key's recovery point).
    """
    if idempotency_key is not None:
        existing = Refund.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing  # a re-executed request finds the refund it already made
    try:
        with transaction.atomic():
            locked = payment_lock(payment.pk)
            if idempotency_key is not None:
                # Again under the lock: a concurrent twin may have made it since, and ``divert`` must not
                # decide a second time about a refund that exists.
                existing = Refund.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
                if existing is not None:
                    return existing
            amount = refund_check(locked, amount)
            if divert is not None:
                diverted = divert(locked, amount)
                if diverted is not None:
                    return diverted
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
                refund_id=refund.id,
                payment_id=locked.id,
                merchant=merchant,
                amount=amount,
                currency=locked.currency,
                **payment_fx(locked),
            )
            audit_record(
                actor=actor,
                action="refund.create",
                obj=refund,
                after={"status": refund.status, "amount": amount, "payment": locked.id},
                reason=reason or "",
            )
            if checkpoint is not None:
                checkpoint(refund)
            return refund
    except IntegrityError:
        existing = (
            Refund.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
            if idempotency_key is not None
            else None
        )
        if existing is None:
            raise
        return existing


def refund_send(refund: Refund, *, actor: str) -> Refund:
    """Steps 2 and 3 for a reserved refund; a refund no longer ``pending`` is returned as it is."""
    if refund.status != RefundStatus.PENDING:
        return refund
    return _refund_send(refund, actor=actor)


def _refund_send(refund: Refund, *, actor: str) -> Refund:
    """Step 2 and 3: send with the refund's own key, then record what the processor said."""
    payment = refund.payment
    processor = processor_outside_transaction(payment.processor)
    Refund.objects.filter(pk=refund.pk).update(processor_attempts=F("processor_attempts") + 1)
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
        return refund_apply_failure(
            refund_id=refund.id, failure_reason=rejected.code or "processor_rejected", actor=actor
        )
    return refund_apply_processor_refund(refund_id=refund.id, answer=answer, actor=actor)


def refund_apply_processor_refund(*, refund_id: str, answer: ProcessorRefund, actor: str) -> Refund:
    """Bring a refund in line with the processor's record. Idempotent, safe in any order."""
    if answer.status == ProcessorRefundStatus.FAILED:
        return refund_apply_failure(
            refund_id=refund_id,
            failure_reason=answer.failure_reason or "failed",
            actor=actor,
            processor_refund_id=answer.processor_id,
        )
    with transaction.atomic():
        refund = refund_lock(refund_id)
        if answer.status == ProcessorRefundStatus.SUCCEEDED and refund.status == RefundStatus.PENDING:
            transition(refund, "succeed", trail=REFUNDS, actor=actor, processor_refund_id=answer.processor_id)
            posting_rules.refund_succeeded(refund_id=refund.id)
        elif answer.status == ProcessorRefundStatus.PENDING and not refund.processor_refund_id:
            Refund.objects.filter(pk=refund.pk).update(processor_refund_id=answer.processor_id)
            refund.processor_refund_id = answer.processor_id
        return refund


def refund_apply_failure(*, refund_id: str, failure_reason: str, actor: str, processor_refund_id=None) -> Refund:
    """The refund failed: it releases its amount on the payment and in the ledger."""
    payment_id = Refund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    with transaction.atomic():
        payment_lock(payment_id)  # the payment before its refund (payments.locks)
        refund = refund_lock(refund_id)
        if refund.status == RefundStatus.FAILED:
            return refund
        Payment.objects.filter(pk=payment_id).update(amount_refunded=F("amount_refunded") - refund.amount)
        transition(
            refund,
            "fail",
            trail=REFUNDS,
            actor=actor,
            reason=failure_reason,
            failure_reason=failure_reason,
            processor_refund_id=processor_refund_id,
        )
        posting_rules.refund_failed(refund_id=refund.id)
        return refund


def refund_resolve(*, refund_id: str, actor: str = "system:resolver") -> Refund:
    """Settle a pending refund by asking the processor for the outcome of its key, or sending it again."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    try:
        answer = processor_outside_transaction(refund.payment.processor).lookup_refund(
            idempotency_key=refund_key(refund)
        )
    except ProcessorUnavailable:
        return refund
    if answer is not None:
        if answer.status == ProcessorRefundStatus.PENDING:
            return refund  # the processor has it and will tell us by webhook
        return refund_apply_processor_refund(refund_id=refund.id, answer=answer, actor=actor)
    if refund.processor_attempts >= settings.PAYMENT_MAX_PROCESSOR_ATTEMPTS:
        return refund_apply_failure(refund_id=refund.id, failure_reason="processing_error", actor=actor)
    return _refund_send(refund, actor=actor)


def refunds_resolve_pending(*, limit: int = 500) -> int:
    """Resolve refunds pending for longer than the grace period. Returns how many were settled."""
    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_RESOLVE_AFTER_SECONDS)
    ids = list(
        Refund.objects.filter(status=RefundStatus.PENDING, created__lt=cutoff)
        .order_by("created")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(refund_resolve(refund_id=refund_id).status != RefundStatus.PENDING for refund_id in ids)
