"""Fixtures shared by the whole suite."""

import os

import pytest
from rest_framework.test import APIClient

from merchants.services import api_key_issue, merchant_create
from tests.processors import configure_processor


def database_is_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://…",
)
requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL=redis://…")


@pytest.fixture
def merchant(db):
    return merchant_create(name="Test merchant", settlement_currency="USD")


@pytest.fixture
def issued_key(merchant):
    return api_key_issue(merchant=merchant, name="test")


@pytest.fixture
def api_key(issued_key) -> str:
    """The plain secret key of ``merchant``."""
    return issued_key.secret


@pytest.fixture
def api_client(api_key) -> APIClient:
    """An API client authenticated as ``merchant``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_merchant(db):
    return merchant_create(name="Other merchant", settlement_currency="EUR")


@pytest.fixture
def other_api_client(other_merchant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_issue(merchant=other_merchant).secret}")
    return client


# --- The test database flush may TRUNCATE the append-only tables -----------------------


@pytest.fixture(scope="session", autouse=True)
def flush_may_truncate_append_only_tables():
    """Django's flush (after every transactional test) empties all tables with one TRUNCATE, which the
    append-only tables refuse (ledger/migrations/0005_refuse_truncate.py) unless the transaction has
    set ``append_only.allow_truncate``. Only the flush sets it, first in its own transaction (SET LOCAL):
    every other statement of the suite meets the trigger as production does (tests/ledger/test_truncate.py).
    """
    import functools

    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    @functools.wraps(original)
    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL append_only.allow_truncate = 'on'", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


# --- The sandbox processor as a real process --------------------------------------------


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    """One sandbox processor process for the whole session (its own SQLite database)."""
    from tests.sandbox_process import SandboxProcess

    with SandboxProcess(env={"SANDBOX_TIMEOUT_DELAY_SECONDS": "3"}) as process:
        yield process


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The platform pointed at the session's sandbox, with short timeouts and no faults."""
    configure_processor(settings, base_url=sandbox_server.base_url, read_timeout=1.5, connect_timeout=1.0)
    sandbox_server.set_faults(latency_ms=0, error_rate=0, seed=0, timeout_delay_seconds=3)
    yield sandbox_server
    sandbox_server.set_faults(latency_ms=0, error_rate=0, seed=0, timeout_delay_seconds=3)


# The second acquirer: its own process, database, name, fees (180 bps + 20) and currencies (no JPY).
SANDBOX_EU_ENV = {
    "SANDBOX_NAME": "sandbox_eu",
    "SANDBOX_TIMEOUT_DELAY_SECONDS": "3",
    "SANDBOX_FEE_BPS": "180",
    "SANDBOX_FEE_FIXED": "20",
    "SANDBOX_DISPUTE_FEE": "1000",
    "SANDBOX_CURRENCIES": "EUR,GBP,USD,CHF,SEK,DKK,NOK,PLN",
}


@pytest.fixture(scope="session")
def sandbox_eu_server():
    """The second sandbox acquirer, ``sandbox_eu``, for the whole session (started by the first test that asks)."""
    from tests.sandbox_process import SandboxProcess

    with SandboxProcess(env=SANDBOX_EU_ENV, webhook_secret="whsec_test_sandbox_eu_secret") as process:
        yield process


@pytest.fixture
def sandbox_eu(sandbox_eu_server, settings):
    """The platform's ``sandbox_eu`` pointed at the session's second sandbox, with short timeouts and no faults."""
    configure_processor(
        settings,
        "sandbox_eu",
        base_url=sandbox_eu_server.base_url,
        read_timeout=1.5,
        connect_timeout=1.0,
        fee_bps=180,
        fee_fixed=20,
        dispute_fee=1000,
    )
    sandbox_eu_server.set_faults(latency_ms=0, error_rate=0, seed=0, timeout_delay_seconds=3)
    yield sandbox_eu_server
    sandbox_eu_server.set_faults(latency_ms=0, error_rate=0, seed=0, timeout_delay_seconds=3)


@pytest.fixture
def processor():
    from gateways.registry import processor as processor_named

    return processor_named("sandbox")


def test_database_url() -> str:
    """A DATABASE_URL for the database this test run uses, for the processes a test starts."""
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


test_database_url.__test__ = False


# --- The ledger's invariants hold after every test that moves money --------------------

MONEY_MOVING_TEST_FOLDERS = ("payments", "reconciliation", "backoffice", "events", "payouts", "balance", "checkout")


@pytest.fixture(autouse=True)
def funds_available_at_capture(settings):
    """Captured funds are available at once (platform delay 0) unless a test sets a delay.

    The suite was written when a capture credited ``available`` at once, and most tests are about something
    else (refunds, disputes, reconciliation, events) that needs money in ``available``. The tests of funds
    that mature (tests/balance/) set ``BALANCE_SETTLEMENT_DELAY_SECONDS`` (or a merchant's delay) themselves.
    Processes a test starts (tests.processes) keep the production default (each merchant's delay): none of
    them reads a balance, and every invariant holds either way.
    """
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 0


@pytest.fixture(autouse=True)
def ledger_accounts_forgotten():
    """Each test's database is rolled back or flushed after it: the accounts a process remembers go with it."""
    from ledger.services import forget_known_accounts

    forget_known_accounts()
    yield
    forget_known_accounts()


@pytest.fixture(autouse=True)
def ledger_invariants_hold(request):
    """After each test in a money-moving folder, ``ledger_check``'s invariants must all pass.

    Runs before the test's database is rolled back or flushed (it sets the
    database up first, so it is torn down last).
    """
    folder = request.node.path.parent.name
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if folder not in MONEY_MOVING_TEST_FOLDERS or not uses_db:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    yield
    from ledger.invariants import run_checks

    report = run_checks()
    failed = [result for result in report.results if result.status == "failed"]
    assert not failed, f"ledger invariants broken: {[(r.name, r.sample) for r in failed]}"
