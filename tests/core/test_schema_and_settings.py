import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]


def _run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    clean = clean_env(**env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_schema_generation_passes_fail_on_warn(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "openapi: 3" in schema


@pytest.mark.django_db
def test_schema_and_docs_are_served_offline(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower() and "//unpkg" not in page


SHOW = (
    "import django, json; from django.conf import settings; django.setup();"
    "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS,"
    " 'engine': settings.DATABASES['default']['ENGINE'], 'broker': settings.CELERY_BROKER_URL,"
    " 'private': settings.WEBHOOK_ALLOW_PRIVATE_URLS, 'processor': settings.PROCESSOR_BASE_URL}))"
)


def test_settings_defaults_run_on_a_fresh_machine(tmp_path):
    result = _run_python(
        SHOW, {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1", "VAR_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    import json

    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown == {
        "debug": True,
        "hosts": ["localhost", "127.0.0.1"],
        "engine": "django.db.backends.sqlite3",
        "broker": "filesystem://",
        "private": False,
        "processor": "http://127.0.0.1:8089",
    }


def test_settings_are_read_from_the_environment(tmp_path):
    result = _run_python(
        SHOW,
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "pay.example.com, api.example.com",
            "DATABASE_URL": "postgres://user:pw@db.example.com:5432/payments",
            "REDIS_URL": "redis://cache.example.com:6379/0",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
            "PROCESSOR_BASE_URL": "http://processor.example.com",
            "VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    import json

    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown == {
        "debug": False,
        "hosts": ["pay.example.com", "api.example.com"],
        "engine": "django.db.backends.postgresql",
        "broker": "redis://cache.example.com:6379/0",
        "private": True,
        "processor": "http://processor.example.com",
    }


def test_a_secret_key_is_required_outside_debug(tmp_path):
    result = _run_python(SHOW, {"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_check_deploy_reports_nothing_about_debug_secret_key_or_hosts(tmp_path):
    clean = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="k" * 20 + "Qz8#w!pL0vR2xN5m@T7yB1cE4hJ6uA9s",
        VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    for warning in ("security.W018", "security.W009", "security.W020", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"):
        assert warning not in output, output
