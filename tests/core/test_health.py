from unittest import mock

import pytest


@pytest.mark.django_db
def test_healthz_names_each_check(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_does_not_answer(client):
    with mock.patch("core.views._check_database", side_effect=OSError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_does_not_answer(client, settings, tmp_path):
    settings.REDIS_URL = None
    settings.CELERY_BROKER_DIR = tmp_path / "no-such-broker"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable"}
