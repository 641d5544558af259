"""Redis down (issue 11, item 6): the broker and the cache are never in the payment path.

"Down" is real and harmless to everyone else: the platform is pointed at a local port
where nothing listens, so every connection is refused. The machine's Redis is never
touched.
"""

import importlib
import logging
import time
import uuid

import kombu.exceptions
import pytest
import requests
from django.test import override_settings

from payments.models import Payment
from tests.conftest import requires_postgres, requires_redis, test_database_url
from tests.edge.test_errors import assert_error_shape
from tests.processes import clean_env, free_port, start_gunicorn, stop, wait_for_http


def closed_redis_url() -> str:
    """A Redis URL on a free local port: nothing listens there, so connecting is refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


def redis_cache_down():
    return override_settings(CACHES={"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": closed_redis_url()}})


@pytest.fixture(autouse=True)
def fresh_fail_soft_state():
    """Each test starts with no dependency known to be down and no warning logged yet."""

    def reset():
        try:
            importlib.import_module("core.failsoft").reset()
        except ImportError:  # before the fix
            pass
        window = getattr(importlib.import_module("edge.throttling"), "process_window", None)
        if window is not None:
            window.reset()

    reset()
    yield
    reset()


def warnings_about(caplog, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno == logging.WARNING and text in record.getMessage()]


# --- The rate limit -------------------------------------------------------------------------


@pytest.fixture
def two_per_second(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"merchant": "2/s"}}


def test_with_the_cache_down_the_rate_limit_counts_per_process_at_the_same_rate(api_client, two_per_second, caplog):
    caplog.set_level(logging.WARNING)
    with redis_cache_down():
        answers = [api_client.get("/api/v1/account") for _ in range(5)]
    statuses = [answer.status_code for answer in answers]
    # Five requests span at most two one-second windows, so one window sees three of them.
    assert set(statuses) <= {200, 429}, statuses
    assert 2 <= statuses.count(200) <= 4 and 429 in statuses, statuses
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert_error_shape(limited, 429, "rate_limit_error", "rate_limit")
    # Logged once, not once per request.
    assert len(warnings_about(caplog, "rate limit")) == 1, [r.getMessage() for r in caplog.records]


def test_with_the_cache_down_the_limit_is_still_per_merchant(api_client, other_api_client, two_per_second):
    with redis_cache_down():
        for _ in range(3):
            api_client.get("/api/v1/account")
        assert other_api_client.get("/api/v1/account").status_code == 200


# --- The card-token cache -------------------------------------------------------------------


@pytest.mark.django_db
def test_with_the_cache_down_a_card_token_is_asked_of_the_processor(sandbox):
    from payments.methods.card import card_token_resolve
    from payments.routing import Route

    with redis_cache_down():
        first = card_token_resolve(token="tok_visa", route=Route("sandbox"))
        second = card_token_resolve(token="tok_visa", route=Route("sandbox"))
    assert first == second
    assert first.details.brand == "visa"


# --- The outbox kick and the broker ---------------------------------------------------------


@pytest.mark.django_db
def test_with_the_cache_down_the_outbox_kick_is_skipped_quietly(settings, monkeypatch, caplog):
    from events import services

    settings.EVENTS_DRAIN_ON_COMMIT = True
    kicks = []
    monkeypatch.setattr(services, "_enqueue_drain", lambda: kicks.append(1))
    caplog.set_level(logging.WARNING)
    with redis_cache_down():
        for _ in range(3):
            services.outbox_kick()  # never raises: the scheduled drain publishes the events
    assert kicks == []  # the broker is the same Redis: no publish is attempted
    assert len(warnings_about(caplog, "unavailable")) == 1, [r.getMessage() for r in caplog.records]


@pytest.mark.django_db
def test_with_the_broker_down_commits_do_not_each_wait_for_it(settings, monkeypatch, caplog):
    from events import services
    from events.tasks import drain_outbox

    settings.EVENTS_DRAIN_ON_COMMIT = True
    attempts = []

    def refused(*args, **kwargs):
        attempts.append(1)
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(drain_outbox, "apply_async", refused)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        services.outbox_kick()
    # After the first refusal the broker is known down for a few seconds: no further attempts, one warning.
    assert attempts == [1]
    assert len(warnings_about(caplog, "broker")) == 1, [r.getMessage() for r in caplog.records]


@requires_redis  # the broker's transport options are the Redis ones
def test_a_publish_to_a_broker_that_refuses_fails_at_once():
    from celery import Celery

    app = Celery("redis-down-probe")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = closed_redis_url()
    started = time.monotonic()
    with pytest.raises(kombu.exceptions.OperationalError):
        app.send_task("events.drain_outbox", retry=False)  # as the request path publishes
    # kombu's default is to reconnect for connect_timeout (4 s) with 2 s pauses: 6 s per commit.
    assert time.monotonic() - started < 1.5


# --- The whole platform as a real process ---------------------------------------------------


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_api_takes_payments_and_healthz_says_degraded(api_key, sandbox, processor, tmp_path):
    port = free_port()
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.core.redis_down_settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=closed_redis_url(),
        PROCESSOR_BASE_URL=sandbox.base_url,
    )
    log_path = tmp_path / "web.log"
    web = start_gunicorn(port, env, log_path, workers=2, threads=4)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {api_key}"}
    card = {"type": "card", "token": "tok_visa"}
    try:
        health = wait_for_http(f"{base}/healthz", process=web)
        # Not 503: the platform still takes payments, and every web process shares this Redis,
        # so a load balancer acting on a 503 would take them all out of rotation at once.
        assert health.status_code == 200, log_path.read_text()
        assert {key: value for key, value in health.json().items() if key not in ("processors", "ledger")} == {
            "status": "degraded",
            "checks": {"database": "ok", "broker": "unavailable", "cache": "unavailable"},
            "broker": "redis",
        }

        started = time.monotonic()
        one_call = requests.post(
            f"{base}/api/v1/payments",
            json={"amount": 1999, "currency": "USD", "confirm": True, "payment_method": card},
            headers={**headers, "Idempotency-Key": f"redis-down-{uuid.uuid4()}"},
            timeout=30,
        )
        assert one_call.status_code == 201, one_call.text
        assert one_call.json()["status"] == "succeeded"

        created = requests.post(
            f"{base}/api/v1/payments",
            json={"amount": 2500, "currency": "USD", "payment_method": card},
            headers={**headers, "Idempotency-Key": f"redis-down-{uuid.uuid4()}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        payment_id = created.json()["id"]
        confirmed = requests.post(
            f"{base}/api/v1/payments/{payment_id}/confirm",
            headers={**headers, "Idempotency-Key": f"redis-down-{uuid.uuid4()}"},
            timeout=30,
        )
        assert confirmed.status_code == 200, confirmed.text
        assert (confirmed.json()["status"], confirmed.json()["amount_captured"]) == ("succeeded", 2500)
        reads = [requests.get(f"{base}/api/v1/payments/{payment_id}", headers=headers, timeout=30) for _ in range(6)]
        assert {read.status_code for read in reads} == {200}
        # No request waited for Redis: no reconnect loops, no retries with back-off.
        assert time.monotonic() - started < 10
    finally:
        stop(web)

    log = log_path.read_text()
    assert "Traceback" not in log, log
    # At most one warning per web process (two of them) about the rate limit, not one per request.
    assert 1 <= log.count("rate limit") <= 2, log
    for payment in Payment.objects.all():
        assert payment.status == "succeeded"
        assert len(processor.charges_for(reference=payment.id)) == 1
