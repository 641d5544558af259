"""A worker imports the exchange rates when it starts (issue 11, item 9): outside ``make run`` the first rates
would otherwise arrive with beat's first hourly run, and cross-border payments are refused until then.

The import is queued by the ``worker_ready`` handler in ``config.celery`` and retried with backoff while the
processor does not answer; it never fails the worker. Beat's hourly import stays."""

import os
import signal
import subprocess
import time

import pytest
from celery.signals import worker_ready

from config.celery import app, import_fx_rates_when_ready
from payments import fx_services, tasks
from payments.models import FxRate
from tests.conftest import requires_postgres, requires_redis, test_database_url
from tests.processes import ROOT, VENV_BIN, clean_env, free_port
from tests.processors import configure_processor

pytestmark = pytest.mark.django_db

DEAD_PROCESSOR = "http://127.0.0.1:9"  # nothing listens on the discard port: refused at once


@pytest.fixture
def eager():
    """Tasks run in this process, retries at once (countdowns are ignored when eager)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def import_calls(monkeypatch):
    """Every call of ``fx_rates_import``, as its keyword arguments."""
    calls: list[dict] = []
    real = fx_services.fx_rates_import

    def recorded(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(fx_services, "fx_rates_import", recorded)
    return calls


def test_the_worker_ready_signal_imports_the_rates(sandbox, eager, import_calls):
    assert not FxRate.objects.exists()
    worker_ready.send(sender=None)  # what a starting worker sends
    assert len(import_calls) == 1
    assert FxRate.objects.filter(source="processor").count() == 16
    assert FxRate.objects.filter(base_currency="USD", quote_currency="EUR").exists()


def test_a_processor_that_is_down_is_retried_then_given_up_quietly(settings, eager, import_calls):
    configure_processor(settings, base_url=DEAD_PROCESSOR)
    import_fx_rates_when_ready(sender=None)  # does not raise
    assert len(import_calls) == 1 + tasks.FX_START_IMPORT_RETRIES
    assert not FxRate.objects.exists()


def test_the_rates_arrive_once_the_processor_answers(sandbox, settings, eager, monkeypatch):
    """The processor is still starting for the first two attempts, then answers."""
    real = fx_services.fx_rates_import
    attempts = []

    def starting_processor(**kwargs):
        attempts.append(kwargs)
        configure_processor(settings, base_url=DEAD_PROCESSOR if len(attempts) <= 2 else sandbox.base_url)
        return real(**kwargs)

    monkeypatch.setattr(fx_services, "fx_rates_import", starting_processor)
    import_fx_rates_when_ready(sender=None)
    assert len(attempts) == 3
    assert FxRate.objects.count() == 16


def test_the_backoff_reaches_past_a_minute_and_never_waits_long():
    countdowns = [tasks.fx_start_import_countdown(retries) for retries in range(tasks.FX_START_IMPORT_RETRIES)]
    assert countdowns[:4] == [2, 4, 8, 16] and max(countdowns) <= 30
    assert sum(countdowns[:5]) >= 60  # attempts keep coming for over a minute while the processor starts


def test_a_broker_that_cannot_take_the_task_does_not_stop_the_worker(monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.import_fx_rates_at_start, "apply_async", broker_down)
    import_fx_rates_when_ready(sender=None)  # logged, not raised


def test_the_handler_is_connected_to_worker_ready():
    assert any(receiver() is import_fx_rates_when_ready for _, receiver in worker_ready.receivers)


def test_the_hourly_import_is_still_scheduled():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("interval").get(task="payments.import_fx_rates")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "hours")
    app.loader.import_default_modules()
    assert {"payments.import_fx_rates", "payments.import_fx_rates_at_start"} <= set(app.tasks)


# --- A real worker, started before the processor -----------------------------------------


@requires_postgres
@requires_redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_started_before_the_processor_has_rates_within_a_minute(tmp_path):
    from tests.sandbox_process import SandboxProcess

    port = free_port()
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=os.environ["REDIS_URL"],
        PROCESSOR_BASE_URL=f"http://127.0.0.1:{port}",  # nothing there yet
    )
    log_path = tmp_path / "worker.log"
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
        f"fx-start-{time.monotonic_ns()}@%h",
    ]
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    sandbox = None
    try:
        deadline = time.monotonic() + 30
        while "ready." not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "ready." in log_path.read_text(), log_path.read_text()[-3000:]
        time.sleep(3)  # the first attempt or two find no processor
        assert worker.poll() is None, log_path.read_text()[-3000:]
        assert not FxRate.objects.exists()

        sandbox = SandboxProcess(port=port).start()
        started = time.monotonic()
        while FxRate.objects.count() < 16 and time.monotonic() - started < 60:
            time.sleep(0.5)
        assert FxRate.objects.count() == 16, log_path.read_text()[-3000:]
        assert worker.poll() is None
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        if sandbox is not None:
            sandbox.close()
