"""The transactional outbox: events commit or roll back with their change; the drain publishes each once."""

import json

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from events import services
from events.models import Event, WebhookDelivery
from merchants.services import merchant_create
from tests.events.conftest import record

pytestmark = pytest.mark.django_db


def test_the_event_body_is_exactly_the_contract(merchant):
    event = record(merchant, "payment.succeeded", amount=1999)
    body = json.loads(event.payload)
    assert list(body) == ["id", "object", "type", "created", "data"]
    assert body["id"] == event.id and event.id.startswith("evt_")
    assert (body["object"], body["type"]) == ("event", "payment.succeeded")
    assert body["created"].endswith("Z")
    assert body["data"] == {"object": {"id": "pay_x", "object": "payment", "amount": 1999}}
    assert event.published_at is None


def test_recording_outside_a_transaction_is_refused(merchant):
    with pytest.raises(TransactionManagementError):
        services.event_record(merchant=merchant, type="payment.succeeded", data_object={})
    assert not Event.objects.exists()


def test_an_unknown_type_is_refused(merchant):
    with pytest.raises(ValueError), transaction.atomic():
        services.event_record(merchant=merchant, type="payment.teleported", data_object={})


def test_a_rolled_back_change_leaves_no_event(merchant):
    with pytest.raises(RuntimeError), transaction.atomic():
        record(merchant)
        raise RuntimeError("the state change failed after the event was written")
    assert not Event.objects.exists()


def test_the_drain_is_queued_once_the_transaction_commits(
    merchant, queued, settings, django_capture_on_commit_callbacks
):
    settings.EVENTS_DRAIN_ON_COMMIT = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record(merchant)
    assert queued.drains == 0  # nothing reaches the broker from inside the transaction
    for callback in callbacks:
        callback()
    assert queued.drains == len(callbacks) == 1


@pytest.fixture
def every_kick_publishes(monkeypatch, settings):
    """Each kick reaches the broker (no shared flag saying a drain is queued already): counts the kicks."""
    settings.EVENTS_DRAIN_ON_COMMIT = True
    monkeypatch.setattr(services, "_cache_is_shared", lambda: False)


@pytest.mark.django_db(transaction=True)
def test_a_block_that_commits_several_times_kicks_once_at_its_end(merchant, queued, every_kick_publishes):
    with services.outbox_kicks_once():
        with transaction.atomic():
            record(merchant)
        with transaction.atomic():
            record(merchant)
        assert queued.drains == 0  # held until the block (the request) ends
    assert queued.drains == 1


@pytest.mark.django_db(transaction=True)
def test_the_held_kick_is_made_even_when_the_block_fails_after_a_commit(merchant, queued, every_kick_publishes):
    with pytest.raises(RuntimeError), services.outbox_kicks_once():
        with transaction.atomic():
            record(merchant)
        raise RuntimeError("the request failed after its first commit")
    assert queued.drains == 1


@pytest.mark.django_db(transaction=True)
def test_a_block_that_committed_no_event_kicks_nothing(merchant, queued, every_kick_publishes):
    with pytest.raises(RuntimeError), services.outbox_kicks_once(), transaction.atomic():
        record(merchant)
        raise RuntimeError("rolled back: no event committed")
    assert queued.drains == 0


@pytest.mark.django_db(transaction=True)
def test_a_create_and_confirm_request_kicks_the_outbox_once(api_client, sandbox, queued, every_kick_publishes):
    response = api_client.post(
        "/api/v1/payments",
        {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="kick-once-1",
    )
    assert response.status_code == 201 and response.json()["status"] == "succeeded"
    assert Event.objects.filter(type__in=["payment.processing", "payment.succeeded"]).count() == 2  # two commits
    assert queued.drains == 1


def test_the_drain_creates_one_delivery_per_subscribed_enabled_endpoint(merchant, receiver, queued):
    everything = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint
    only_failed = services.webhook_endpoint_create(
        merchant=merchant, url=receiver.url, events=["payment.failed"]
    ).endpoint
    disabled = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint
    services.webhook_endpoint_disable(endpoint_id=disabled.pk, reason="test")
    deleted = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint
    services.webhook_endpoint_delete(endpoint=deleted)
    other = merchant_create(name="Other")
    services.webhook_endpoint_create(merchant=other, url=receiver.url)

    succeeded, failed = record(merchant, "payment.succeeded"), record(merchant, "payment.failed")
    result = services.outbox_drain()

    assert (result.events, result.deliveries, result.more) == (2, 3, False)
    pairs = set(WebhookDelivery.objects.values_list("event_id", "endpoint_id"))
    assert pairs == {(succeeded.pk, everything.pk), (failed.pk, everything.pk), (failed.pk, only_failed.pk)}
    assert not Event.objects.filter(published_at__isnull=True).exists()


def test_the_deliveries_are_queued_after_the_drain_commits(
    merchant, endpoint, queued, django_capture_on_commit_callbacks
):
    record(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        services.outbox_drain()
    assert queued.delivery_ids == list(WebhookDelivery.objects.values_list("pk", flat=True))


def test_draining_again_changes_nothing(merchant, endpoint):
    record(merchant)
    services.outbox_drain()
    assert services.outbox_drain().events == 0
    Event.objects.update(published_at=None)  # as if the drain had crashed after inserting
    assert services.outbox_drain().events == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_drain_that_dies_half_way_loses_nothing(merchant, endpoint, monkeypatch):
    record(merchant)
    real_update = Event.objects.filter

    def crash(*args, **kwargs):
        if "id__in" in kwargs:
            raise SystemExit("worker killed after creating deliveries, before marking the events published")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(Event.objects, "filter", crash)
    with pytest.raises(SystemExit):
        services.outbox_drain()
    monkeypatch.undo()
    assert not WebhookDelivery.objects.exists()
    assert Event.objects.get().published_at is None
    assert services.outbox_drain().deliveries == 1


def test_an_endpoint_does_not_receive_events_from_before_it_existed(merchant, receiver):
    record(merchant)
    services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    services.outbox_drain()
    assert not WebhookDelivery.objects.exists()


def test_a_long_outbox_is_drained_in_batches_and_continued(merchant, endpoint, queued):
    for _ in range(7):
        record(merchant)
    result = services.outbox_drain(batch_size=2, max_batches=2)
    assert (result.events, result.more) == (4, True)
    assert queued.drains == 1  # the rest is left to the next drain, queued right away
    assert services.outbox_drain(batch_size=2).events == 3


def test_with_a_shared_cache_one_drain_is_queued_until_it_starts(merchant, endpoint, queued, settings, monkeypatch):
    settings.EVENTS_DRAIN_ON_COMMIT = True
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": "redis://unused"}}
    flags = set()

    class SharedCache:
        def add(self, key, value, timeout=None):
            if key in flags:
                return False
            flags.add(key)
            return True

        def delete(self, key):
            flags.discard(key)

    monkeypatch.setattr(services, "cache", SharedCache())
    services.outbox_kick()
    services.outbox_kick()
    assert queued.drains == 1  # the second commit finds a drain already queued
    services.outbox_drain()  # the drain starts: later commits queue a new one
    services.outbox_kick()
    assert queued.drains == 2


def test_a_broker_that_is_down_does_not_fail_the_commit(merchant, monkeypatch, settings):
    def down():
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(services, "_enqueue_drain", down)
    services.outbox_kick()  # logged, not raised: the scheduled drain publishes the events
