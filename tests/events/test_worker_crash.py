"""A real Celery worker (Redis broker, PostgreSQL) killed with SIGKILL in the middle of deliveries loses nothing.

The receiver is slow, so the kill lands while requests are in flight: those
deliveries are leased and unfinished, and their task message is never acked. A new
worker with beat comes up; the sweep finds the expired leases and the drain finds
the events recorded while no worker ran. Every event reaches the receiver at least once.
"""

import importlib
import os
import signal
import subprocess
import time

import pytest
from django.apps import apps

from events import services
from events.models import Event, WebhookDelivery
from tests.conftest import requires_postgres, requires_redis, test_database_url
from tests.events.conftest import record
from tests.events.receiver import Answer
from tests.processes import ROOT, VENV_BIN, clean_env

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.real_broker,
    pytest.mark.django_db(transaction=True),
]


def start_worker(env: dict, log_path, *, beat: bool) -> subprocess.Popen:
    command = [str(VENV_BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "1",
               "--without-gossip", "--without-mingle", "-n", f"crash-test-{time.monotonic_ns()}@%h"]  # fmt: skip
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


def test_a_worker_killed_mid_delivery_loses_nothing(merchant, receiver, tmp_path, settings):
    settings.EVENTS_DRAIN_ON_COMMIT = True  # each commit below queues a drain through Redis, as the API does
    # The transactional tests before this one flushed the tables that the data migration filled.
    importlib.import_module("events.migrations.0002_beat_schedules").create_schedules(apps, None)

    services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    state = {"slow": True}
    receiver.answer = lambda request: Answer(200, delay=3.0) if state["slow"] else Answer(200)
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.events.worker_settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
    )
    first = start_worker(env, tmp_path / "worker-1.log", beat=False)
    second = None
    try:
        # Each commit queues a drain through Redis; the worker drains and starts sending.
        before = [record(merchant).pk for _ in range(12)]
        assert receiver.wait_for(lambda r: len(r.received) >= 1, timeout=40), (tmp_path / "worker-1.log").read_text()
        time.sleep(0.5)  # let the whole batch get in flight
        kill_group(first)
        assert first.returncode == -signal.SIGKILL

        in_flight = WebhookDelivery.objects.filter(status="pending", locked_until__isnull=False)
        assert in_flight.exists(), "the kill should land while deliveries are leased and unfinished"
        assert not WebhookDelivery.objects.filter(status="succeeded").exists()

        # While no worker runs, more events are committed: they wait in the outbox.
        state["slow"] = False
        during = [record(merchant).pk for _ in range(5)]

        second = start_worker(env, tmp_path / "worker-2.log", beat=True)
        everything = before + during
        done = wait_until(
            lambda: WebhookDelivery.objects.filter(status="succeeded").count() == len(everything), timeout=60
        )
        assert done, (tmp_path / "worker-2.log").read_text()[-3000:]
    finally:
        kill_group(first)
        if second is not None:
            kill_group(second, signal.SIGTERM)

    assert set(Event.objects.values_list("pk", flat=True)) == set(everything)
    assert not Event.objects.filter(published_at__isnull=True).exists()
    delivered = receiver.event_ids()
    assert set(delivered) >= set(everything), "every event reached the receiver at least once"
    assert WebhookDelivery.objects.count() == len(everything)  # one delivery each, however often it was sent
