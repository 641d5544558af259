"""Fixtures for the reconciliation tests: staff users with and without the resolve permission."""

import pytest

from tests.processors import configure_processor
from tests.staff import PASSWORD, client_for, staff_user  # noqa: F401 - re-exported to the tests


@pytest.fixture
def finance(db):
    return staff_user("fay.finance", "Finance")


@pytest.fixture
def support(db):
    return staff_user("sam.support", "Support")


@pytest.fixture
def fresh_sandbox(settings):
    """A sandbox processor of this test's own, so its settlement report holds only this test's lines."""
    from tests.sandbox_process import SandboxProcess

    env = {
        "SANDBOX_TIMEOUT_DELAY_SECONDS": "3",
        "SANDBOX_DISPUTE_DECISION_SECONDS": "1",
        "SANDBOX_DISPUTE_DELAY_SECONDS": "3600",
        "SANDBOX_PAYOUT_SECONDS": "1",
    }
    with SandboxProcess(env=env) as process:
        configure_processor(settings, base_url=process.base_url, read_timeout=1.5, connect_timeout=1.0)
        yield process


@pytest.fixture
def fresh_sandbox_eu(settings):
    """The second acquirer, of this test's own (its own fees and currencies, as tests/conftest.py's)."""
    from tests.conftest import SANDBOX_EU_ENV
    from tests.sandbox_process import SandboxProcess

    with SandboxProcess(env=SANDBOX_EU_ENV, webhook_secret="whsec_test_sandbox_eu_secret") as process:
        configure_processor(
            settings,
            "sandbox_eu",
            base_url=process.base_url,
            read_timeout=1.5,
            connect_timeout=1.0,
            fee_bps=180,
            fee_fixed=20,
            dispute_fee=1000,
        )
        yield process
