"""The platform as a new user gets it: no DATABASE_URL, no REDIS_URL, nothing installed but Python."""

import json

import pytest
import requests

from tests.processes import clean_env, free_port, manage, start_gunicorn, stop, wait_for_http


@pytest.mark.slow
def test_embedded_default_serves_health_docs_admin_and_the_api(tmp_path):
    env = clean_env(DJANGO_DEBUG="1", VAR_DIR=str(tmp_path))
    migrate = manage("migrate", "--noinput", env=env)
    assert migrate.returncode == 0, migrate.stderr
    created = manage("create_merchant", "Fresh machine", "--json", env=env)
    assert created.returncode == 0, created.stderr
    api_key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
    assert (tmp_path / "db.sqlite3").exists()

    port = free_port()
    web = start_gunicorn(port, env, tmp_path / "web.log")
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for_http(f"{base}/healthz", process=web)
        assert health.status_code == 200, (tmp_path / "web.log").read_text()
        assert health.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert health.json()["broker"] == "filesystem"
        assert requests.get(f"{base}/api/docs/", timeout=5).status_code == 200
        assert requests.get(f"{base}/admin/login/", timeout=5).status_code == 200
        unauthenticated = requests.get(f"{base}/api/v1/account", timeout=5)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["type"] == "authentication_error"
        authenticated = requests.get(
            f"{base}/api/v1/account", headers={"Authorization": f"Bearer {api_key}"}, timeout=5
        )
        assert authenticated.status_code == 200
        assert authenticated.json()["name"] == "Fresh machine"
    finally:
        stop(web)
