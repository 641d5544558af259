"""Each attempt is recorded as soon as its answer arrives, and a batch keeps its short lease alive while it sends.

A batch used to be recorded in one transaction after its last request finished, under a
lease sized for the whole batch: a worker killed mid-batch sent again every delivery the
merchant had already answered, and its deliveries waited for that long lease (minutes)
before anyone could send them. These tests look at the database from another connection
while a batch is being sent (hence transactional tests and a sending thread).
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events import services
from events.models import WebhookAttempt, WebhookDelivery
from tests.conftest import requires_postgres
from tests.events.conftest import record
from tests.events.receiver import Answer

pytestmark = [pytest.mark.django_db(transaction=True)]


def drained(merchant, count: int) -> list[WebhookDelivery]:
    events = [record(merchant) for _ in range(count)]
    services.outbox_drain()
    by_event = {d.event_id: d for d in WebhookDelivery.objects.filter(event__in=events)}
    return [by_event[event.pk] for event in events]


class Sending:
    """``deliveries_send`` in a thread of its own (with its own database connection), as a worker runs it."""

    def __init__(self, ids: list[str]):
        self.summary = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(ids,), daemon=True)
        self.thread.start()

    def _run(self, ids):
        try:
            self.summary = services.deliveries_send(delivery_ids=ids)
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc
        finally:
            connection.close()

    def join(self, timeout: float = 30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "deliveries_send did not finish"
        if self.error:
            raise self.error
        return self.summary


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_an_answered_delivery_is_committed_while_a_later_one_is_still_in_flight(merchant, receiver, endpoint, settings):
    settings.WEBHOOK_SEND_CONCURRENCY = 4
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # the held request must not time out
    first, second = drained(merchant, 2)
    release = threading.Event()

    def answer(request):
        if request.event_id == second.event_id:
            release.wait(20)  # the merchant is slow to answer this one
        return Answer(200)

    receiver.answer = answer
    sending = Sending([first.pk, second.pk])
    try:
        assert receiver.wait_for(lambda r: {second.event_id, first.event_id} <= set(r.event_ids()), timeout=10)

        def first_recorded() -> bool:
            return WebhookDelivery.objects.filter(pk=first.pk, status="succeeded").exists()

        # While the second request is still waiting for its answer, the first one's outcome is committed.
        assert wait_until(first_recorded, timeout=5), "the first outcome waited for the rest of the batch"
        assert WebhookAttempt.objects.filter(delivery=first, succeeded=True).count() == 1
        first_row = WebhookDelivery.objects.get(pk=first.pk)
        assert (first_row.attempt_count, first_row.locked_until, first_row.lease_token) == (1, None, "")
        second_row = WebhookDelivery.objects.get(pk=second.pk)
        assert second_row.status == "pending" and second_row.locked_until > timezone.now()
        assert not WebhookAttempt.objects.filter(delivery=second).exists()
    finally:
        release.set()
    summary = sending.join()
    assert (summary.claimed, summary.succeeded) == (2, 2)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert receiver.deliveries_per_event() == {first.event_id: 1, second.event_id: 1}


def test_a_failed_attempt_is_committed_while_a_later_one_is_still_in_flight(merchant, receiver, endpoint, settings):
    settings.WEBHOOK_SEND_CONCURRENCY = 4
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # the held request must not time out
    first, second = drained(merchant, 2)
    release = threading.Event()

    def answer(request):
        if request.event_id == second.event_id:
            release.wait(20)
            return Answer(200)
        return Answer(503, b"busy")

    receiver.answer = answer

    def first_retry_scheduled() -> bool:
        row = WebhookDelivery.objects.get(pk=first.pk)
        return row.attempt_count == 1 and row.retry_step == 1 and row.locked_until is None

    sending = Sending([first.pk, second.pk])
    try:
        assert wait_until(first_retry_scheduled, timeout=10), "the failed attempt waited for the rest of the batch"
        assert WebhookAttempt.objects.get(delivery=first).status_code == 503
    finally:
        release.set()
    summary = sending.join()
    assert (summary.succeeded, summary.failed) == (1, 1)


def test_a_batch_slower_than_its_lease_renews_it_and_is_never_sent_twice(merchant, receiver, endpoint, settings):
    """The lease is short (a dead worker's deliveries are taken over within seconds); a live worker renews it."""
    settings.WEBHOOK_LEASE_SECONDS = 1.5
    settings.WEBHOOK_SEND_CONCURRENCY = 2
    settings.WEBHOOK_TIMEOUT_SECONDS = 10
    deliveries = drained(merchant, 4)
    ids = [d.pk for d in deliveries]
    receiver.answer = Answer(200, delay=2.0)  # each request alone outlives the lease; the batch does twice over
    sending = Sending(ids)
    assert receiver.wait_for(lambda r: len(r.received) >= 1, timeout=10)
    rivals = []
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        # Another worker, or the sweep, tries to take them: a lease still held is never taken.
        rivals.append(services.deliveries_send(delivery_ids=ids).claimed)
        now = timezone.now()
        for row in WebhookDelivery.objects.filter(pk__in=ids, status="pending"):
            assert row.locked_until > now, "a delivery of a live batch lost its lease"
        time.sleep(0.1)
    summary = sending.join()
    assert set(rivals) == {0}
    assert summary.succeeded == 4
    assert receiver.deliveries_per_event() == {d.event_id: 1 for d in deliveries}


def in_sending_thread(query):
    """Run ``query`` from a sending thread (a database connection of its own), then close that connection."""
    try:
        return query()
    finally:
        connection.close()


def test_the_lease_is_taken_before_sending_is_short_and_released_after(
    merchant, receiver, endpoint, settings, monkeypatch
):
    settings.WEBHOOK_LEASE_SECONDS = 10
    settings.WEBHOOK_TIMEOUT_SECONDS = 10
    deliveries = drained(merchant, 30)
    seen = []
    real_post = services._post

    def spy(delivery):
        seen.append(in_sending_thread(lambda: WebhookDelivery.objects.get(pk=delivery.pk).locked_until))
        return real_post(delivery)

    monkeypatch.setattr(services, "_post", spy)
    began = timezone.now()
    services.deliveries_send(delivery_ids=[d.pk for d in deliveries])
    # Held while sent; 10 s whatever the batch size (it used to grow with the batch: minutes for 100).
    assert all(began < locked_until <= timezone.now() + timedelta(seconds=10) for locked_until in seen)
    assert len(seen) == 30
    for delivery in WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]):
        assert (delivery.status, delivery.locked_until, delivery.lease_token) == ("succeeded", None, "")


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_owner(merchant, receiver, endpoint, monkeypatch):
    [delivery] = drained(merchant, 1)
    real_post = services._post

    def slow_post(d):
        # Taken over meanwhile (this worker was presumed dead).
        in_sending_thread(lambda: WebhookDelivery.objects.filter(pk=d.pk).update(lease_token="new-owner"))
        return real_post(d)

    monkeypatch.setattr(services, "_post", slow_post)
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.lease_token == "new-owner"
    assert delivery.attempts.count() == 1  # the attempt happened, and is on record


def test_a_worker_that_cannot_renew_its_lease_stops_starting_requests(
    merchant, receiver, endpoint, settings, monkeypatch
):
    settings.WEBHOOK_LEASE_SECONDS = 1.2
    settings.WEBHOOK_SEND_CONCURRENCY = 1
    deliveries = drained(merchant, 6)
    receiver.answer = Answer(200, delay=0.4)
    monkeypatch.setattr(services, "_lease_renew", lambda ids, *, token, lease: None)  # the database is away
    summary = services.deliveries_send(delivery_ids=[d.pk for d in deliveries])
    # The lease may have expired after ~0.6 s: no request starts after that (another worker may own them).
    assert 1 <= len(receiver.received) <= 3
    assert summary.succeeded == len(receiver.received)
    left = WebhookDelivery.objects.filter(status="pending")
    assert left.count() == 6 - summary.succeeded
    assert not WebhookAttempt.objects.filter(delivery__in=left).exists()


@requires_postgres
def test_answers_recorded_in_one_statement_move_each_delivery_on(merchant, receiver, endpoint, queued, monkeypatch):
    """On PostgreSQL a success, a retry and a last failure are recorded by the single statement, as the ORM would."""

    def not_expected(changes, *, token):
        raise AssertionError("recorded with the ORM")

    monkeypatch.setattr(services, "_record_in_a_transaction", not_expected)
    ok, retried, last = drained(merchant, 3)
    WebhookDelivery.objects.filter(pk=last.pk).update(retry_step=len(services.RETRY_SCHEDULE), attempt_count=12)
    answers = {
        ok.event_id: Answer(200, b"fine"),
        retried.event_id: Answer(503, b"busy"),
        last.event_id: Answer(500, b"\xff broken"),
    }
    receiver.answer = lambda request: answers[request.event_id]
    before = timezone.now()
    summary = services.deliveries_send(delivery_ids=[ok.pk, retried.pk, last.pk])

    assert (summary.claimed, summary.succeeded, summary.failed) == (3, 1, 2)
    ok, retried, last = (WebhookDelivery.objects.get(pk=d.pk) for d in (ok, retried, last))
    assert (ok.status, ok.attempt_count, ok.retry_step, ok.last_status_code, ok.last_error) == (
        "succeeded",
        1,
        0,
        200,
        "",
    )
    assert before <= ok.completed_at <= timezone.now()
    assert (retried.status, retried.attempt_count, retried.retry_step, retried.last_status_code) == (
        "pending",
        1,
        1,
        503,
    )
    assert retried.last_error == "HTTP 503" and retried.completed_at is None
    assert timedelta(seconds=4) <= retried.next_attempt_at - before <= timedelta(seconds=6.5)
    assert (last.status, last.attempt_count, last.retry_step, last.last_error) == ("failed", 13, 12, "HTTP 500")
    assert last.completed_at is not None
    for delivery in (ok, retried, last):
        assert (delivery.locked_until, delivery.lease_token) == (None, "")
    attempts = {a.delivery_id: a for a in WebhookAttempt.objects.all()}
    assert len(attempts) == 3
    assert (attempts[ok.pk].number, attempts[ok.pk].status_code, attempts[ok.pk].succeeded) == (1, 200, True)
    assert attempts[ok.pk].response_body == "fine" and attempts[ok.pk].error == ""
    assert (attempts[retried.pk].status_code, attempts[retried.pk].response_body) == (503, "busy")
    assert (attempts[last.pk].number, attempts[last.pk].error) == (13, "HTTP 500")
    assert attempts[last.pk].response_body == "\ufffd broken"
    assert before <= attempts[ok.pk].started_at <= timezone.now()
    # The retry due in about 5 s is queued with a countdown; the others are done.
    [(ids, countdown)] = queued.deliveries[-1:]
    assert ids == [retried.pk] and 4 <= countdown <= 7
