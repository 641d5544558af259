import time
from unittest import mock

import pytest
from django.test import override_settings

from tests.processes import free_port
from tests.processors import configure_processor


def cache_is_shared(settings) -> bool:
    return not settings.CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))


def without_processors(body: dict) -> dict:
    """The answer without the sections apps add (the processors', the ledger's): what the platform's own checks say."""
    return {key: value for key, value in body.items() if key not in ("processors", "ledger")}


@pytest.mark.django_db
def test_healthz_reports_each_processor_up_or_down_without_judging_the_platform(client, sandbox, settings):
    # Given sandbox up and sandbox_eu refusing connections
    configure_processor(settings, "sandbox_eu", base_url=f"http://127.0.0.1:{free_port()}")
    response = client.get("/healthz")
    # Then each is reported, and the platform itself is still ok
    assert response.status_code == 200 and response.json()["status"] == "ok"
    processors = response.json()["processors"]
    assert processors["sandbox"]["status"] == "up" and processors["sandbox"]["latency_ms"] >= 0
    assert processors["sandbox_eu"]["status"] == "down" and processors["sandbox_eu"]["latency_ms"] is None
    # Refused at the connection, and said in a word: nothing about hosts or ports on a public endpoint
    assert processors["sandbox_eu"]["error"] == "not_reached"


@pytest.mark.django_db
def test_healthz_names_each_check(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    # The cache is a dependency of its own only when it is shared (Redis); a local-memory one cannot fail.
    expected = {"database": "ok", "broker": "ok", **({"cache": "ok"} if cache_is_shared(settings) else {})}
    assert body["checks"] == expected


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_does_not_answer(client):
    with mock.patch("edge.views._check_database", side_effect=OSError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == "unavailable"


@pytest.mark.django_db
def test_healthz_is_200_degraded_when_the_broker_does_not_answer(client, settings, tmp_path):
    # Payments are still taken without the broker (the beat drain publishes events later), so a
    # load balancer must keep routing to this process: 200, with the degradation named.
    settings.REDIS_URL = None
    settings.CELERY_BROKER_DIR = tmp_path / "no-such-broker"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    response = client.get("/healthz")
    assert response.status_code == 200
    assert without_processors(response.json()) == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "unavailable"},
        "broker": "filesystem",
    }


@pytest.mark.django_db
def test_healthz_is_200_degraded_when_redis_refuses_and_answers_at_once(client, settings):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = closed
    started = time.monotonic()
    with override_settings(CACHES={"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": closed}}):
        response = client.get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert without_processors(response.json()) == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "unavailable", "cache": "unavailable"},
        "broker": "redis",
    }
    # One connection attempt per check, no retries with back-off: a probe must answer quickly.
    assert elapsed < 1.5
