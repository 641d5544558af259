"""Many workers at once: concurrent drains never duplicate a delivery, concurrent sends never double-send.

On PostgreSQL the drains share the outbox through SKIP LOCKED and the sends race on
the conditional UPDATE of the lease; on SQLite, IMMEDIATE transactions serialise both.
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from events import services
from events.models import Event, WebhookDelivery
from merchants.services import merchant_create
from tests.events.receiver import Answer

pytestmark = [pytest.mark.django_db(transaction=True)]

WORKERS = 8


def run_together(work, count: int = WORKERS) -> list:
    """``work(i)`` in ``count`` threads, each on its own connection, started at the same moment."""
    start = threading.Barrier(count)

    def run(i: int):
        try:
            start.wait(timeout=30)
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def record_many(merchant, count: int) -> None:
    with transaction.atomic():
        for _ in range(count):
            services.event_record(merchant=merchant, type="payment.succeeded", data_object={"id": "pay_x"})


def test_concurrent_drains_create_each_delivery_once(merchant, receiver):
    other = merchant_create(name="Other")
    for owner in (merchant, merchant, other):
        services.webhook_endpoint_create(merchant=owner, url=receiver.url)
    record_many(merchant, 150)
    record_many(other, 60)

    results = run_together(lambda i: services.outbox_drain(batch_size=7))

    assert sum(result.events for result in results) == 210  # every event claimed by exactly one drain
    assert sum(result.deliveries for result in results) == 150 * 2 + 60
    assert WebhookDelivery.objects.count() == 360
    assert not Event.objects.filter(published_at__isnull=True).exists()
    per_event = Counter(WebhookDelivery.objects.values_list("event__merchant_id", flat=True))
    assert per_event == {merchant.pk: 300, other.pk: 60}
    assert sum(1 for result in results if result.events) > 1  # the work really was shared


def test_concurrent_senders_never_post_a_delivery_twice(merchant, receiver):
    services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    record_many(merchant, 40)
    services.outbox_drain()
    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    receiver.answer = Answer(200, delay=0.05)

    # Every worker is handed every delivery (duplicate task messages, a sweep racing the drain…).
    summaries = run_together(lambda i: services.deliveries_send(delivery_ids=ids[i % 2 :] + ids[: i % 2]))

    assert sum(summary.claimed for summary in summaries) == 40
    assert Counter(receiver.event_ids()) == Counter(WebhookDelivery.objects.values_list("event_id", flat=True))
    assert len(receiver.received) == 40
    assert set(WebhookDelivery.objects.values_list("status", "attempt_count")) == {("succeeded", 1)}


def test_drains_and_senders_and_sweeps_together(merchant, receiver):
    services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    record_many(merchant, 60)

    def work(i: int):
        if i % 3 == 0:
            services.outbox_drain(batch_size=5)
        elif i % 3 == 1:
            services.deliveries_sweep()
        ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
        services.deliveries_send(delivery_ids=ids)

    run_together(work, count=9)
    services.outbox_drain()
    services.deliveries_send(
        delivery_ids=list(WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True))
    )
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 60
    assert sorted(receiver.event_ids()) == sorted(Event.objects.values_list("pk", flat=True))
