"""Processors' webhooks, applied by payments: verify, store under the event id, then dispatch by kind.

``DISPATCH`` maps the kind of object an event is about (a charge, a refund, a dispute) to the service that
brings our record in line with it. An event is applied only to our objects that belong to the processor that
sent it (its payment names that processor): one acquirer's webhook can never move another's payment.

A duplicate delivery finds the stored row and changes nothing (unless the first delivery failed to apply, when
it is applied again). Out-of-order deliveries are harmless because every service applied is itself idempotent
and only moves a record forward.
"""

import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gateways.base import ProcessorEvent
from gateways.models import ProcessorWebhookEvent
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Payment, Refund
from payments.refund_services import refund_apply_processor_refund
from payments.services import payment_apply_charge

logger = logging.getLogger(__name__)

Status = ProcessorWebhookEvent.Status


def _apply_charge(processor: str, event: ProcessorEvent, actor: str) -> bool:
    charge = event.charge
    if not Payment.objects.filter(pk=charge.reference, processor=processor).exists():
        return False
    payment_apply_charge(payment_id=charge.reference, charge=charge, actor=actor)
    return True


def _apply_refund(processor: str, event: ProcessorEvent, actor: str) -> bool:
    answer = event.refund
    if not Refund.objects.filter(pk=answer.reference, payment__processor=processor).exists():
        return False
    refund_apply_processor_refund(refund_id=answer.reference, answer=answer, actor=actor)
    return True


def _apply_dispute(processor: str, event: ProcessorEvent, actor: str) -> bool:
    answer = event.dispute
    if not Payment.objects.filter(pk=answer.payment_reference, processor=processor).exists():
        return False
    return dispute_apply_processor_dispute(answer=answer, actor=actor) is not None


# What an event is about (the ProcessorEvent field that holds it) -> the service that applies it. An event about
# nothing we know (another kind, or an object of ours this processor does not hold) is stored as ignored.
# ``payout`` is added by the payouts app when it loads (payouts.apps): it sits above payments.
DISPATCH: dict[str, Callable[[str, ProcessorEvent, str], bool]] = {
    "charge": _apply_charge,
    "refund": _apply_refund,
    "dispute": _apply_dispute,
}


def processor_event_receive(*, processor: str, event: ProcessorEvent) -> ProcessorWebhookEvent:
    """Store a verified event of ``processor`` once, then apply it. Returns the stored row."""
    try:
        with transaction.atomic():
            stored = ProcessorWebhookEvent.objects.create(
                processor=processor, event_id=event.event_id, type=event.type, payload=event.payload
            )
    except IntegrityError:
        ProcessorWebhookEvent.objects.filter(processor=processor, event_id=event.event_id).update(
            deliveries=F("deliveries") + 1
        )
        stored = ProcessorWebhookEvent.objects.get(processor=processor, event_id=event.event_id)
        if stored.status in (Status.PROCESSED, Status.IGNORED):
            return stored
    return processor_event_apply(stored=stored, event=event)


def processor_event_apply(*, stored: ProcessorWebhookEvent, event: ProcessorEvent) -> ProcessorWebhookEvent:
    """Apply a stored event (``DISPATCH``) and mark it processed, ignored or failed."""
    actor = f"processor:{stored.processor}:webhook:{event.event_id}"
    status, error = Status.IGNORED, ""
    try:
        for kind, apply in DISPATCH.items():
            if getattr(event, kind) is not None and apply(stored.processor, event, actor):
                status = Status.PROCESSED
    except Exception as exc:
        logger.exception("processor event %s:%s could not be applied", stored.processor, event.event_id)
        status, error = Status.FAILED, f"{type(exc).__name__}"
        ProcessorWebhookEvent.objects.filter(pk=stored.pk).update(status=status, last_error=error)
        raise
    ProcessorWebhookEvent.objects.filter(pk=stored.pk).update(
        status=status, last_error=error, processed_at=timezone.now()
    )
    stored.refresh_from_db()
    return stored
