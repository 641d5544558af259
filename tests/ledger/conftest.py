"""Fixtures for the ledger tests."""

import pytest


@pytest.fixture(autouse=True)
def default_fees(settings):
    """Every ledger test runs with the default fee (2.9 % + 30 for USD), whatever the settings module says."""
    for name in ("LEDGER_FEE_PERCENT_BPS", "LEDGER_FEE_FIXED"):
        if hasattr(settings, name):
            delattr(settings, name)
