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
    }
    with SandboxProcess(env=env) as process:
        configure_processor(settings, base_url=process.base_url)
        configure_processor(settings, read_timeout=1.5)
        configure_processor(settings, connect_timeout=1.0)
        yield process
