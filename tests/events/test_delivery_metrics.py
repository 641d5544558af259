"""Webhook delivery results in /metrics (``platform_webhook_delivery_attempts_total{outcome}``), counted as each
attempt's outcome is recorded."""

import pytest
from prometheus_client import REGISTRY

from events import services
from events.models import WebhookDelivery
from tests.events.conftest import record
from tests.events.receiver import Answer

pytestmark = pytest.mark.django_db


def attempts(outcome: str) -> float:
    return REGISTRY.get_sample_value("platform_webhook_delivery_attempts_total", {"outcome": outcome}) or 0.0


def send_one(merchant) -> WebhookDelivery:
    event = record(merchant)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get(event=event)
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    return delivery


def test_each_outcome_is_counted(merchant, receiver, endpoint):
    before = {outcome: attempts(outcome) for outcome in ("succeeded", "retry", "failed", "canceled")}

    assert send_one(merchant).status == "succeeded"
    receiver.answer = Answer(500, b"down")
    assert send_one(merchant).status == "pending"  # retried later
    receiver.answer = Answer(410, b"gone")
    assert send_one(merchant).status == "failed"  # for good; the endpoint is disabled
    # Queued before the endpoint was disabled, then sent: canceled unsent
    event = record(merchant)
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=event.created)
    queued = WebhookDelivery.objects.get(event=event)
    services.deliveries_send(delivery_ids=[queued.pk])
    queued.refresh_from_db()
    assert queued.status == "canceled"

    moved = {outcome: attempts(outcome) - count for outcome, count in before.items()}
    assert moved == {"succeeded": 1, "retry": 1, "failed": 1, "canceled": 1}
