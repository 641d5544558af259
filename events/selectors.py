"""Reads of events and webhook endpoints, shared by the API, the admin and the services."""

from django.db.models import QuerySet

from events.errors import EventNotFound, WebhookEndpointNotFound
from events.models import Event, WebhookEndpoint
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
