"""Receiving the processor's webhooks: verify, store under the event id, then apply.

A duplicate delivery finds the stored row and changes nothing (unless the first
delivery failed to apply, when it is applied again). Out-of-order deliveries are
harmless because applying is itself idempotent and only moves a payment forward.
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gateways.base import ProcessorEvent
from gateways.models import ProcessorWebhookEvent

logger = logging.getLogger(__name__)

CHARGE_EVENTS = {
    "charge.succeeded",
    "charge.authorized",
    "charge.captured",
    "charge.declined",
    "charge.voided",
    "charge.failed",
    "charge.returned",
    "charge.expired",
}


def processor_event_receive(*, processor: str, event: ProcessorEvent) -> ProcessorWebhookEvent:
    """Store a verified event once, then apply it. Returns the stored row."""
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
        if stored.status in (ProcessorWebhookEvent.Status.PROCESSED, ProcessorWebhookEvent.Status.IGNORED):
            return stored
    return processor_event_apply(stored=stored, event=event)


def processor_event_apply(*, stored: ProcessorWebhookEvent, event: ProcessorEvent) -> ProcessorWebhookEvent:
    """Apply a stored event to our records and mark it processed, ignored or failed."""
    from payments.dispute_services import dispute_apply_processor_dispute
    from payments.models import Payment, Refund
    from payments.refund_services import refund_apply_processor_refund
    from payments.services import payment_apply_charge

    actor = f"processor:webhook:{event.event_id}"
    status, error = ProcessorWebhookEvent.Status.IGNORED, ""
    try:
        if event.type in CHARGE_EVENTS and event.charge is not None:
            if Payment.objects.filter(pk=event.charge.reference).exists():
                payment_apply_charge(payment_id=event.charge.reference, charge=event.charge, actor=actor)
                status = ProcessorWebhookEvent.Status.PROCESSED
        elif event.type.startswith("refund.") and event.refund is not None:
            if Refund.objects.filter(pk=event.refund.reference).exists():
                refund_apply_processor_refund(refund_id=event.refund.reference, answer=event.refund, actor=actor)
                status = ProcessorWebhookEvent.Status.PROCESSED
        elif event.type.startswith("dispute.") and event.dispute is not None:
            if dispute_apply_processor_dispute(answer=event.dispute, actor=actor) is not None:
                status = ProcessorWebhookEvent.Status.PROCESSED
    except Exception as exc:
        logger.exception("processor event %s could not be applied", event.event_id)
        status, error = ProcessorWebhookEvent.Status.FAILED, f"{type(exc).__name__}"
        ProcessorWebhookEvent.objects.filter(pk=stored.pk).update(status=status, last_error=error)
        raise
    ProcessorWebhookEvent.objects.filter(pk=stored.pk).update(
        status=status, last_error=error, processed_at=timezone.now()
    )
    stored.refresh_from_db()
    return stored
