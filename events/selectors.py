"""Reads of events and webhook endpoints, shared by the API, the admin and the services."""

from datetime import datetime

from django.db.models import Count, Min, Prefetch, QuerySet

from events.errors import EventNotFound, WebhookEndpointNotFound
from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from merchants.models import Merchant


def events_of(*, merchant: Merchant) -> QuerySet[Event]:
    return Event.objects.filter(merchant=merchant)


def event_get(*, merchant: Merchant, event_id: str) -> Event:
    """The merchant's event; another merchant's is answered exactly like a missing one."""
    event = Event.objects.filter(merchant=merchant, pk=event_id).first()
    if event is None:
        raise EventNotFound(f"No such event: '{event_id}'.", param="id")
    return event


def webhook_endpoints_of(*, merchant: Merchant) -> QuerySet[WebhookEndpoint]:
    """The merchant's endpoints, deleted ones excluded."""
    return WebhookEndpoint.objects.filter(merchant=merchant, deleted_at__isnull=True)


def webhook_endpoint_get(*, merchant: Merchant, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoints_of(merchant=merchant).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No such webhook endpoint: '{endpoint_id}'.", param="id")
    return endpoint


def webhook_deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries with their events and attempts (oldest attempt first): a page costs three
    queries whatever its size."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("number", "id")))
    )


# --- /metrics: aggregates computed at scrape time (events/metrics.py) -----------------------------------------


def outbox_backlog() -> tuple[int, datetime | None]:
    """``(unpublished events, when the oldest was recorded)``: both from the partial index event_unpublished
    (the unpublished events only; ids sort in creation order, so the first by id is the oldest)."""
    unpublished = Event.objects.filter(published_at__isnull=True)
    oldest = unpublished.order_by("id").values_list("created", flat=True).first()
    return unpublished.order_by().count(), oldest


def webhook_deliveries_pending() -> tuple[int, datetime | None]:
    """``(pending deliveries, the earliest next attempt among them)``: the partial index delivery_due."""
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).aggregate(
        count=Count("pk"), earliest=Min("next_attempt_at")
    )
    return pending["count"], pending["earliest"]
