"""A real Celery worker (Redis broker, PostgreSQL) killed with SIGKILL in the middle of a batch loses nothing.

Twenty events wait in the outbox; the worker drains them into one batch. The receiver
answers the first twelve requests at once and holds the next ones, so the kill lands
with twelve deliveries answered and eight in flight (``WEBHOOK_SEND_CONCURRENCY``).
Each outcome is recorded as its answer arrives, so only what was in flight is sent
again. A new worker with beat comes up with the production lease and sweep: the sweep
finds the expired leases, the drain finds the events recorded while no worker ran, and
everything is delivered within ``RECOVERY_BOUND_SECONDS`` of the restart.
"""

import importlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.apps import apps

from events import services
from events.models import Event, WebhookDelivery
from tests.conftest import requires_postgres, requires_redis, test_database_url
from tests.events.conftest import record
from tests.events.receiver import Answer
from tests.processes import ROOT, VENV_BIN, clean_env

BATCH = 20
ANSWERED_BEFORE_THE_KILL = 12
# After a SIGKILL: the lease (10 s, no longer renewed) + the sweep (beat, every 10 s) + a send.
RECOVERY_BOUND_SECONDS = 30

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.real_broker,
    pytest.mark.django_db(transaction=True),
]


def start_worker(env: dict, log_path, *, beat: bool) -> subprocess.Popen:
    command = [
        str(VENV_BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"crash-test-{time.monotonic_ns()}@%h",
    ]
    if beat:
        command += ["--beat", "--schedule", str(log_path.with_suffix(".schedule"))]
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    # Its own process group, so SIGKILL takes the pool's child (the one sending) down with the parent.
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_worker_killed_mid_batch_resends_only_what_was_in_flight(
    merchant, receiver, tmp_path, settings, record_property
):
    settings.EVENTS_DRAIN_ON_COMMIT = True  # each commit below queues a drain through Redis, as the API does
    # The transactional tests before this one flushed the tables that the data migration filled.
    importlib.import_module("events.migrations.0002_beat_schedules").create_schedules(apps, None)

    services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    hold = threading.Event()

    def answer(request):
        # Answer the first requests at once; hold the later ones until the worker is dead.
        if not hold.is_set() and len(receiver.received) > ANSWERED_BEFORE_THE_KILL:
            hold.wait(60)
        return Answer(200)

    receiver.answer = answer
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.events.worker_settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
    )
    concurrency = 8  # WEBHOOK_SEND_CONCURRENCY, the default, in the workers' settings
    # Committed while no worker runs: the first worker drains them into one batch.
    before = [record(merchant).pk for _ in range(BATCH)]
    first = start_worker(env, tmp_path / "worker-1.log", beat=False)
    second = None
    try:
        in_flight_target = ANSWERED_BEFORE_THE_KILL + concurrency
        assert receiver.wait_for(lambda r: len(r.received) >= in_flight_target, timeout=60), (
            tmp_path / "worker-1.log"
        ).read_text()[-3000:]
        time.sleep(0.3)  # anything else the worker would do, it does now
        killed_at = time.time()
        kill_group(first)
        assert first.returncode == -signal.SIGKILL
        hold.set()

        requests_before = [r for r in receiver.received if r.at < killed_at]
        in_flight = {r.event_id for r in requests_before if r.answered_at is None or r.answered_at >= killed_at}
        answered = {r.event_id for r in requests_before if r.answered_at is not None and r.answered_at < killed_at}
        assert len(answered) == ANSWERED_BEFORE_THE_KILL and len(in_flight) == concurrency
        # Every answer that arrived before the kill was on record before the kill.
        succeeded = set(WebhookDelivery.objects.filter(status="succeeded").values_list("event_id", flat=True))
        assert succeeded == answered, "outcomes must be recorded as answers arrive, not after the whole batch"
        leased = WebhookDelivery.objects.filter(status="pending", locked_until__isnull=False)
        assert set(leased.values_list("event_id", flat=True)) >= in_flight

        # While no worker runs, more events are committed: they wait in the outbox.
        during = [record(merchant).pk for _ in range(5)]

        restarted_at = time.monotonic()
        second = start_worker(env, tmp_path / "worker-2.log", beat=True)
        everything = before + during
        done = wait_until(
            lambda: WebhookDelivery.objects.filter(status="succeeded").count() == len(everything),
            timeout=RECOVERY_BOUND_SECONDS,
        )
        recovery_seconds = time.monotonic() - restarted_at
        assert done, (tmp_path / "worker-2.log").read_text()[-3000:]
    finally:
        hold.set()
        kill_group(first)
        if second is not None:
            kill_group(second, signal.SIGTERM)

    assert set(Event.objects.values_list("pk", flat=True)) == set(everything)
    assert not Event.objects.filter(published_at__isnull=True).exists()
    assert WebhookDelivery.objects.count() == len(everything)  # one delivery each, however often it was sent
    per_event = receiver.deliveries_per_event()
    assert set(per_event) == set(everything), "every event reached the receiver"
    duplicated = {event_id for event_id, count in per_event.items() if count > 1}
    record_property("duplicates", len(duplicated))
    record_property("recovery_seconds", round(recovery_seconds, 1))
    sys.stdout.write(
        f"\nworker SIGKILL mid-batch: {len(duplicated)} of {len(everything)} events sent twice "
        f"({len(in_flight)} in flight at the kill); all delivered {recovery_seconds:.1f} s after the "
        "restart\n"
    )
    # Only what was in flight at the kill is sent again, and only once more.
    assert duplicated <= in_flight, "an event answered before the kill was sent again"
    assert len(duplicated) <= concurrency
    assert max(per_event.values()) <= 2
