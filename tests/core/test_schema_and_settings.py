import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.processes import clean_env
from tests.processors import configure_processor

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
    " 'private': settings.WEBHOOK_ALLOW_PRIVATE_URLS, 'processor': settings.PROCESSORS['sandbox']['base_url']}))"
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


# --- Every setting declared, settable and listed; a second shell gets make run's configuration (issue 12, item 6)


def _platform_sources():
    skip = {".venv", "tests", "var", "staticfiles", "node_modules", "migrations"}
    for path in sorted(ROOT.rglob("*.py")):
        parts = set(path.relative_to(ROOT).parts)
        if parts & skip or path.parent == ROOT / "gateways" / "sandbox" or path.name.endswith("settings.py"):
            continue
        yield path


def test_every_setting_the_code_reads_is_declared():
    import re

    from django.conf import settings

    read_with_a_default, undeclared = [], []
    for path in _platform_sources():
        text = path.read_text()
        where = path.relative_to(ROOT)
        read_with_a_default += [f"{where}: {m}" for m in re.findall(r"getattr\(\s*(?:django_)?settings\s*,[^)]*", text)]
        for name in set(re.findall(r"\bsettings\.([A-Z][A-Z0-9_]*)\b", text)):
            if not hasattr(settings, name):
                undeclared.append(f"{where}: settings.{name}")
    assert read_with_a_default == [], "declare these in config/settings.py and read settings.NAME"
    assert undeclared == []


def test_every_environment_variable_is_listed_in_the_readme_table():
    import re

    names = set(re.findall(r"\benv_[a-z_]+\(\s*\"([A-Z][A-Z0-9_]*)\"", (ROOT / "config" / "settings.py").read_text()))
    # Each processor's settings (config/processors.py): PROCESSOR_<SETTING> for the first.
    processor_settings = re.findall(r"\{prefix\}([A-Z][A-Z0-9_]*)", (ROOT / "config" / "processors.py").read_text())
    names |= {f"PROCESSOR_{setting}" for setting in processor_settings}
    assert {
        "PROCESSOR_NAMES",
        "PROCESSOR_DEFAULT",
        "PROCESSOR_API_KEY",
        "PROCESSOR_ADAPTER",
        "PROCESSOR_FEE_BPS",
        "RECONCILIATION_WORK_MEM",
        "WEBHOOK_SWEEP_GRACE_SECONDS",
        "IDEMPOTENCY_LOCK_TIMEOUT_SECONDS",
    } <= names
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("### Deployment checks")]
    rows = "\n".join(line for line in table.splitlines() if line.startswith("| `"))
    listed_names = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", rows))
    assert sorted(names - listed_names) == []


SHOW_ALL = (
    "import django, json; from django.conf import settings; django.setup();"
    "shown = {name: repr(getattr(settings, name)) for name in dir(settings) if name.isupper()};"
    "print(json.dumps({name: text for name, text in shown.items() if ' at 0x' not in text}))"
)
MAKE_RUN_ENV = {
    "DJANGO_DEBUG": "1",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
    "PORT": "18000",
    "SANDBOX_PORT": "18089",
    "PROCESSOR_BASE_URL": "http://127.0.0.1:18089",
    "PROCESSOR_API_KEY": "sk_live_'quoted' \"and\" #hash $dollar \\ back",
    "PROCESSOR_FEE_BPS": "275",
    "RECONCILIATION_WORK_MEM": "64MB",
    "WEBHOOK_SWEEP_GRACE_SECONDS": "7.5",
    "IDEMPOTENCY_LOCK_TIMEOUT_SECONDS": "45",
    "API_RATE_LIMIT": "50/s",
}


def _settings_in_a_subprocess(env: dict) -> dict:
    import json

    result = _run_python(SHOW_ALL, {"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_second_shell_runs_with_the_configuration_make_run_wrote(tmp_path):
    """What `make run` does (scripts/run), then a shell with nothing set but the path of the file it wrote."""
    import json
    import stat

    env_file = tmp_path / "run.env"
    make_run = {**MAKE_RUN_ENV, "VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    write = subprocess.run(
        [sys.executable, "-m", "config.env", "write", str(env_file), "PORT", "SANDBOX_PORT"],
        cwd=ROOT,
        env=clean_env(**make_run, PLATFORM_ENV_FILE=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert write.returncode == 0, write.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text()
    assert "PORT=18000" in text and "SANDBOX_PORT=18089" in text and "DJANGO_DEBUG=1" in text

    as_make_run_sees_them = _settings_in_a_subprocess({**make_run, "PLATFORM_ENV_FILE": ""})
    second_shell = _settings_in_a_subprocess({"PLATFORM_ENV_FILE": str(env_file)})
    assert second_shell == as_make_run_sees_them
    first_processor = json.loads(json.dumps(second_shell))["PROCESSORS"].split("'sandbox_eu'")[0]
    assert f"'api_key': {MAKE_RUN_ENV['PROCESSOR_API_KEY']!r}" in first_processor
    assert second_shell["RECONCILIATION_WORK_MEM"] == "'64MB'" and "'fee_bps': 275" in first_processor

    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(PLATFORM_ENV_FILE=str(env_file)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    without = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(VAR_DIR=str(tmp_path), PLATFORM_ENV_FILE=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert without.returncode != 0 and "DJANGO_SECRET_KEY is required" in without.stderr  # what used to happen

    # A variable set in the shell wins over the file.
    overridden = _settings_in_a_subprocess({"PLATFORM_ENV_FILE": str(env_file), "PROCESSOR_FEE_BPS": "1"})
    assert "'fee_bps': 1," in overridden["PROCESSORS"].split("'sandbox_eu'")[0] and overridden["DEBUG"] == "True"


def test_the_env_file_round_trips_any_value_and_stays_private(tmp_path):
    from config.env import read_env_file, write_env_file

    values = {
        "PLAIN": "postgres://u@h:5432/db",
        "EMPTY": "",
        "SPACES": "  a b  ",
        "QUOTES": "'\"",
        "HASH": "#x",
        "DOLLAR": "$HOME ${X}",
        "BACKSLASH": "a\\nb\\\\",
        "NEWLINE": "a\nb",
        "UNICODE": "é€",
        "EQUALS": "a=b",
    }
    path = tmp_path / ".env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    write_env_file(path, values, header="a header")
    assert read_env_file(path) == values
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(tmp_path.iterdir()) == [path]

    path.write_text("# hand-written\n\nexport A=1\nB = 'x y'\nC=\"\\u00e9\"\n")
    assert read_env_file(path) == {"A": "1", "B": "x y", "C": "é"}


def test_check_deploy_refuses_each_processors_development_credentials(settings):
    from config.checks import processor_credentials_check

    settings.DEBUG = False
    configure_processor(settings, "sandbox", api_key="sk_live_issued", webhook_secret="whsec_issued")
    configure_processor(settings, "sandbox_eu", api_key="sk_live_issued_eu", webhook_secret="whsec_issued_eu")
    assert processor_credentials_check() == []

    configure_processor(settings, "sandbox", api_key=settings.PROCESSOR_DEVELOPMENT_API_KEY)
    configure_processor(settings, "sandbox_eu", webhook_secret="whsec_sandbox_eu_development_only")
    errors = processor_credentials_check()
    assert [error.id for error in errors] == ["platform.E001", "platform.E002"]
    assert "'sandbox'" in errors[0].msg and "PROCESSOR_API_KEY" in errors[0].msg
    assert "'sandbox_eu'" in errors[1].msg and "PROCESSOR_SANDBOX_EU_WEBHOOK_SECRET" in errors[1].msg

    settings.DEBUG = True
    assert processor_credentials_check() == []  # development


def test_the_processor_api_key_is_what_the_adapter_sends(settings):
    from gateways.sandbox_acquirer.client import SandboxProcessor

    configure_processor(settings, "sandbox_eu", api_key="sk_live_from_the_environment")
    assert SandboxProcessor("sandbox_eu").api_key == "sk_live_from_the_environment"
    assert SandboxProcessor("sandbox").api_key != "sk_live_from_the_environment"
