"""Fixtures for the events tests: a local receiver, queued tasks recorded instead of sent, endpoints and events."""

import pytest
from django.core.cache import cache
from django.db import transaction

from events import services
from events.models import Event, WebhookEndpoint
from tests.events.receiver import Receiver


def pytest_configure(config):
    config.addinivalue_line("markers", "real_broker: let tasks reach the configured Celery broker")


class Queued:
    """What would have been sent to the broker."""

    def __init__(self):
        self.deliveries: list[tuple[list[str], float | None]] = []
        self.drains = 0

    @property
    def delivery_ids(self) -> list[str]:
        return [delivery_id for ids, _ in self.deliveries for delivery_id in ids]


@pytest.fixture(autouse=True)
def queued(request, monkeypatch, settings):
    """Tasks are recorded here instead of reaching a broker, unless the test is marked ``real_broker``."""
    recorder = Queued()
    if request.node.get_closest_marker("real_broker") is None:
        monkeypatch.setattr(
            services,
            "deliveries_enqueue",
            lambda ids, countdown=None: recorder.deliveries.append((list(ids), countdown)),
        )
        monkeypatch.setattr(services, "_enqueue_drain", lambda: setattr(recorder, "drains", recorder.drains + 1))
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    cache.delete(services.KICK_KEY)  # a drain "already queued" by an earlier test
    return recorder


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(merchant, receiver) -> WebhookEndpoint:
    return services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint


def record(merchant, type: str = "payment.succeeded", **fields) -> Event:
    with transaction.atomic():
        return services.event_record(
            merchant=merchant, type=type, data_object={"id": "pay_x", "object": "payment", **fields}
        )
