"""Sending webhooks: Standard Webhooks signatures, every attempt recorded, retries, 410, leases, the sweep."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from events import services
from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.events.conftest import record
from tests.events.receiver import Answer

pytestmark = pytest.mark.django_db


def drained(merchant, type="payment.succeeded") -> WebhookDelivery:
    event = record(merchant, type)
    services.outbox_drain()
    return WebhookDelivery.objects.get(event=event)


def send(*deliveries: WebhookDelivery):
    summary = services.deliveries_send(delivery_ids=[d.pk for d in deliveries])
    for delivery in deliveries:
        delivery.refresh_from_db()
    return summary


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))


def test_a_delivery_is_signed_as_standard_webhooks_expects(merchant, receiver):
    created = services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    delivery = drained(merchant)
    assert send(delivery).succeeded == 1

    [request] = receiver.received
    verified = Webhook(created.secret).verify(request.body, request.headers)
    assert verified == json.loads(delivery.event.payload)
    assert request.headers["webhook-id"] == delivery.event_id
    assert abs(int(request.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 5
    assert request.headers["content-type"] == "application/json"
    assert request.body == delivery.event.payload.encode()

    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.locked_until is None and delivery.completed_at is not None
    [attempt] = delivery.attempts.all()
    assert (attempt.number, attempt.status_code, attempt.succeeded, attempt.response_body) == (1, 200, True, "ok")


def test_the_secret_is_whsec_and_base64_of_at_least_24_random_bytes(merchant, receiver):
    secrets = {services.webhook_endpoint_create(merchant=merchant, url=receiver.url).secret for _ in range(3)}
    assert len(secrets) == 3
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def test_a_wrong_secret_does_not_verify(merchant, receiver, endpoint):
    send(drained(merchant))
    [request] = receiver.received
    other = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).secret
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(request.body, request.headers)


def test_a_retry_carries_the_same_webhook_id_and_a_fresh_signature(merchant, receiver):
    secret = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).secret
    receiver.answer = lambda request: Answer(500) if len(receiver.received) == 1 else Answer()
    delivery = drained(merchant)
    send(delivery)
    make_due(delivery)
    send(delivery)
    first, second = receiver.received
    assert first.event_id == second.event_id == delivery.event_id
    assert first.body == second.body
    Webhook(secret).verify(second.body, second.headers)
    assert delivery.status == "succeeded" and delivery.attempt_count == 2


def test_a_failure_is_retried_with_backoff_and_jitter(merchant, receiver, endpoint, queued):
    receiver.answer = Answer(503, b"x" * 5000)
    delivery = drained(merchant)
    before = timezone.now()
    summary = send(delivery)

    assert (summary.claimed, summary.failed) == (1, 1)
    assert (delivery.status, delivery.attempt_count, delivery.retry_step) == ("pending", 1, 1)
    assert timedelta(seconds=4) <= delivery.next_attempt_at - before <= timedelta(seconds=6.5)
    assert delivery.last_status_code == 503 and delivery.locked_until is None
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (503, False, "HTTP 503")
    assert len(attempt.response_body) == 1024 and attempt.latency_ms >= 0
    # The first retry is queued with a countdown: due within 10 seconds, not left to the sweep.
    [(ids, countdown)] = queued.deliveries[-1:]
    assert ids == [delivery.pk] and 4 <= countdown <= 7


def test_a_delivery_is_not_sent_before_it_is_due(merchant, receiver, endpoint):
    receiver.answer = Answer(500)
    delivery = drained(merchant)
    send(delivery)
    assert send(delivery).claimed == 0
    assert len(receiver.received) == 1


def test_the_schedule_spans_about_three_days():
    base = sum(services.RETRY_SCHEDULE)
    assert 2.9 * 86400 <= base <= 3.3 * 86400
    assert services.RETRY_SCHEDULE[0] <= 10 and list(services.RETRY_SCHEDULE) == sorted(services.RETRY_SCHEDULE)
    delays = [services.retry_delay(0).total_seconds() for _ in range(200)]
    assert 4 <= min(delays) < max(delays) <= 6 and len(set(delays)) > 100  # jitter
    assert services.retry_delay(len(services.RETRY_SCHEDULE)) is None


def test_after_the_last_retry_the_delivery_fails(merchant, receiver, endpoint):
    receiver.answer = Answer(500)
    delivery = drained(merchant)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(retry_step=len(services.RETRY_SCHEDULE), attempt_count=12)
    send(delivery)
    assert (delivery.status, delivery.attempt_count) == ("failed", 13)
    assert delivery.completed_at is not None
    assert delivery.attempts.get().number == 13


def test_410_gone_disables_the_endpoint(merchant, receiver, endpoint):
    receiver.answer = Answer(410, b"gone")
    first, second = drained(merchant), drained(merchant)
    send(first)
    endpoint.refresh_from_db()
    assert first.status == "failed" and first.last_status_code == 410
    assert endpoint.status == "disabled" and "410" in endpoint.disabled_reason

    # What was already queued for it is canceled, unsent; nothing new is created for it.
    send(second)
    assert second.status == "canceled" and not second.attempts.exists()
    record(merchant)
    assert services.outbox_drain().deliveries == 0
    assert len(receiver.received) == 1


def test_a_timeout_is_a_failed_attempt(merchant, receiver, endpoint, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.answer = Answer(200, delay=1.0)
    delivery = drained(merchant)
    send(delivery)
    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error.startswith("timeout")
    assert 250 <= attempt.latency_ms < 1000
    assert delivery.status == "pending" and delivery.retry_step == 1


def test_a_connection_error_is_a_failed_attempt(merchant, receiver):
    from tests.processes import free_port

    services.webhook_endpoint_create(merchant=merchant, url=f"http://127.0.0.1:{free_port()}/nothing-listens")
    delivery = drained(merchant)
    send(delivery)
    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error.startswith("connection error")
    assert delivery.status == "pending"


def test_redirects_are_not_followed(merchant, receiver, endpoint):
    receiver.answer = Answer(302, headers={"Location": receiver.url + "/elsewhere"})
    delivery = drained(merchant)
    send(delivery)
    assert [request.path for request in receiver.received] == ["/hooks"]
    assert delivery.status == "pending" and "redirect" in delivery.attempts.get().error


def test_a_duplicate_task_message_does_not_send_again(merchant, receiver, endpoint):
    delivery = drained(merchant)
    send(delivery)
    assert send(delivery).claimed == 0
    assert len(receiver.received) == 1


def test_a_leased_delivery_is_not_sent_by_another_worker(merchant, receiver, endpoint):
    delivery = drained(merchant)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + timedelta(seconds=30), lease_token="someone-else"
    )
    assert send(delivery).claimed == 0
    assert services.deliveries_sweep() == 0
    # The lease expires: its worker died. The sweep queues it and it is sent.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1), next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.deliveries_sweep() == 1
    assert send(delivery).succeeded == 1


def test_the_sweep_queues_due_retries_only(merchant, receiver, endpoint, queued):
    receiver.answer = Answer(500)
    retry, fresh = drained(merchant), drained(merchant)
    send(retry)
    queued.deliveries.clear()
    assert services.deliveries_sweep() == 0  # the retry is not due; the fresh one was just queued
    make_due(retry)
    WebhookDelivery.objects.filter(pk=fresh.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    assert services.deliveries_sweep() == 2
    assert sorted(queued.delivery_ids) == sorted([retry.pk, fresh.pk])


def test_a_deleted_endpoint_receives_nothing_more(merchant, receiver, endpoint):
    delivery = drained(merchant)
    services.webhook_endpoint_delete(endpoint=endpoint)
    send(delivery)
    assert delivery.status == "canceled" and "deleted" in delivery.last_error
    assert receiver.received == [] and WebhookEndpoint.objects.get(pk=endpoint.pk).secret == ""


def test_resend_sends_again_with_a_fresh_schedule(
    merchant, receiver, endpoint, queued, django_capture_on_commit_callbacks
):
    delivery = drained(merchant)
    send(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.webhook_delivery_resend(delivery=delivery)
    assert queued.delivery_ids[-1] == delivery.pk
    send(delivery)
    assert len(receiver.received) == 2 and delivery.attempt_count == 2 and delivery.status == "succeeded"
    assert [a.number for a in delivery.attempts.all()] == [1, 2]


def test_many_deliveries_go_out_in_one_batch(merchant, receiver, endpoint):
    for _ in range(20):
        record(merchant)
    services.outbox_drain()
    summary = services.deliveries_send(delivery_ids=list(WebhookDelivery.objects.values_list("pk", flat=True)))
    assert (summary.claimed, summary.succeeded) == (20, 20)
    assert sorted(receiver.event_ids()) == sorted(Event.objects.values_list("pk", flat=True))
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 20


# Leases while sending (renewed, released, lost): tests/events/test_delivery_recording.py.
