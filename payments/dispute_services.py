"""Every write to a dispute. Disputes are opened and decided by the processor; we learn of them by webhook.

``dispute_apply_processor_dispute`` is the one place a processor's view of a
dispute is applied: it creates the dispute the first time (taking the amount and
the dispute fee from the merchant's balance) and only ever moves it forward, so
duplicate and out-of-order webhooks are harmless.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import InvalidRequestError
from events.services import event_record
from gateways.base import Dispute as ProcessorDispute
from gateways.base import ProcessorRequestRejected, ProcessorUnavailable
from gateways.registry import processor_outside_transaction
from ledger import posting_rules
from payments.errors import ProcessorUnavailableError
from payments.fx_services import payment_fx
from payments.locks import dispute_lock, payment_lock
from payments.models import Dispute, DisputeStatus, Payment
from payments.representations import dispute_representation
from payments.transitions import DISPUTES, transition

logger = logging.getLogger(__name__)


def dispute_fee(currency: str) -> int:
    return settings.DISPUTE_FEE.get(currency, settings.DISPUTE_FEE_DEFAULT)


def _transition(dispute: Dispute, name: str, *, actor: str, reason: str = "", **kwargs) -> None:
    """Run a dispute's transition and record it (``payments.transitions``); a dispute it closes is settled in
    the ledger in the same transaction: a win gives the disputed amount back to the merchant, a loss keeps it."""
    transition(dispute, name, trail=DISPUTES, actor=actor, reason=reason, **kwargs)
    if dispute.status == DisputeStatus.WON:
        posting_rules.dispute_won(dispute_id=dispute.id, **payment_fx(dispute.payment))
    elif dispute.status == DisputeStatus.LOST:
        posting_rules.dispute_lost(dispute_id=dispute.id)


def _open(answer: ProcessorDispute, *, actor: str) -> Dispute | None:
    """Create our dispute from the processor's, once: amount and fee leave the merchant's balance."""
    payment = Payment.objects.filter(pk=answer.payment_reference).first()
    if payment is None:
        logger.warning("dispute %s is about %s, which we do not know", answer.processor_id, answer.payment_reference)
        return None
    try:
        with transaction.atomic():
            locked = payment_lock(payment.pk)
            dispute = Dispute.objects.create(
                payment=locked,
                merchant_id=locked.merchant_id,
                processor_dispute_id=answer.processor_id,
                amount=answer.amount,
                currency=answer.currency,
                fee=dispute_fee(answer.currency),
                reason=answer.reason,
                evidence_due_by=datetime.fromtimestamp(answer.evidence_due_by, tz=UTC),
            )
            if not locked.disputed:
                Payment.objects.filter(pk=locked.pk).update(disputed=True)
            posting_rules.dispute_opened(
                dispute_id=dispute.id,
                payment_id=locked.id,
                merchant=locked.merchant_id,
                amount=dispute.amount,
                fee=dispute.fee,
                currency=dispute.currency,
                **payment_fx(locked),
            )
            audit_record(
                actor=actor,
                action="dispute.open",
                obj=dispute,
                after={"status": dispute.status, "amount": dispute.amount, "fee": dispute.fee},
            )
            event_record(
                merchant=dispute.merchant_id, type="dispute.created", data_object=dispute_representation(dispute)
            )
            return dispute
    except IntegrityError:
        return Dispute.objects.get(processor_dispute_id=answer.processor_id)


def dispute_apply_processor_dispute(*, answer: ProcessorDispute, actor: str) -> Dispute | None:
    """Apply the processor's view of a dispute: create it if new, then move it forward to its status."""
    dispute = Dispute.objects.filter(processor_dispute_id=answer.processor_id).first() or _open(answer, actor=actor)
    if dispute is None:
        return None
    with transaction.atomic():
        dispute = dispute_lock(dispute.pk)
        now = timezone.now()
        if answer.status == DisputeStatus.UNDER_REVIEW and dispute.status == DisputeStatus.NEEDS_RESPONSE:
            _transition(dispute, "submit_evidence", actor=actor, evidence=answer.evidence or dispute.evidence, now=now)
        elif answer.status == DisputeStatus.WON and dispute.is_open:
            _transition(dispute, "win", actor=actor, now=now)
        elif answer.status == DisputeStatus.LOST and dispute.is_open:
            _transition(dispute, "lose", actor=actor, now=now)
        return dispute


def _call_processor(operation: str, dispute: Dispute, **kwargs) -> ProcessorDispute:
    """Run the processor's ``operation`` on the dispute (no transaction open), translating its refusals."""
    processor = processor_outside_transaction()
    try:
        return getattr(processor, operation)(processor_dispute_id=dispute.processor_dispute_id, **kwargs)
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor did not answer. Retry; it is safe.") from exc
    except ProcessorRequestRejected as rejected:
        # Our record may be behind the processor's (a lost webhook): catch up, then explain.
        try:
            dispute_apply_processor_dispute(
                answer=processor.retrieve_dispute(processor_dispute_id=dispute.processor_dispute_id),
                actor="system:dispute_sync",
            )
        except ProcessorUnavailable:
            pass
        raise InvalidRequestError(
            f"The processor refused this ({rejected.code}).", code="dispute_unexpected_state"
        ) from None


def dispute_submit_evidence(*, dispute: Dispute, evidence: dict, actor: str) -> Dispute:
    """Send the merchant's evidence to the processor; the dispute moves to ``under_review``."""
    if dispute.status != DisputeStatus.NEEDS_RESPONSE:
        raise InvalidRequestError(
            f"This dispute's status is {dispute.status}; evidence can only be submitted while it needs a response.",
            code="dispute_unexpected_state",
        )
    answer = _call_processor(
        "submit_dispute_evidence", dispute, evidence=evidence, idempotency_key=f"{dispute.id}:evidence"
    )
    with transaction.atomic():
        locked = dispute_lock(dispute.pk)
        if locked.status == DisputeStatus.NEEDS_RESPONSE:
            _transition(locked, "submit_evidence", actor=actor, evidence=evidence, now=timezone.now())
    return dispute_apply_processor_dispute(answer=answer, actor=actor)


def dispute_accept(*, dispute: Dispute, actor: str, reason: str = "accepted") -> Dispute:
    """Accept the dispute: it is lost; the amount and the fee stay with the customer and the platform."""
    if dispute.status != DisputeStatus.NEEDS_RESPONSE:
        raise InvalidRequestError(
            f"This dispute's status is {dispute.status}; only a dispute that needs a response can be accepted.",
            code="dispute_unexpected_state",
        )
    answer = _call_processor("accept_dispute", dispute, idempotency_key=f"{dispute.id}:accept")
    with transaction.atomic():
        locked = dispute_lock(dispute.pk)
        if locked.is_open:
            _transition(locked, "lose", actor=actor, reason=reason, now=timezone.now())
    return dispute_apply_processor_dispute(answer=answer, actor=actor)


def disputes_close_overdue(*, limit: int = 500) -> int:
    """Disputes whose ``evidence_due_by`` passed without evidence are lost (accepted at the processor)."""
    overdue = Dispute.objects.filter(status=DisputeStatus.NEEDS_RESPONSE, evidence_due_by__lt=timezone.now())
    closed = 0
    for dispute in overdue.order_by("evidence_due_by")[:limit]:
        try:
            dispute_accept(dispute=dispute, actor="system:evidence_deadline", reason="no evidence before the deadline")
            closed += 1
        except (ProcessorUnavailableError, InvalidRequestError):
            logger.warning("could not close overdue dispute %s now; will retry", dispute.id)
    return closed
