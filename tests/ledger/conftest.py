"""Fixtures for the ledger tests."""

import pytest

DEFAULT_FEE_PERCENT_BPS = 290
DEFAULT_FEE_FIXED = {"USD": 30, "EUR": 25, "GBP": 20, "JPY": 30, "CAD": 30, "AUD": 30}


@pytest.fixture(autouse=True)
def default_fees(settings):
    """Every ledger test runs with the default fee (2.9 % + 30 for USD), whatever the environment says."""
    settings.LEDGER_FEE_PERCENT_BPS = DEFAULT_FEE_PERCENT_BPS
    settings.LEDGER_FEE_FIXED = dict(DEFAULT_FEE_FIXED)
