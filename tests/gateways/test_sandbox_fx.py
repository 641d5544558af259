"""The sandbox's exchange rate feed, through its HTTP API and the adapter."""

import json
import time
from decimal import Decimal

import pytest

from gateways.base import ProcessorUnavailable
from gateways.sandbox_acquirer.client import SandboxProcessor

MAJOR = {"EUR", "GBP", "JPY", "KWD", "CHF", "CAD", "AUD", "CNY"}


def test_the_feed_is_a_table_of_decimal_strings_against_usd(live_sandbox):
    answer = live_sandbox.request("GET", "/v1/fx_rates")

    assert answer.status_code == 200
    body = json.loads(answer.text, parse_float=lambda text: pytest.fail(f"a float in the feed: {text}"))
    assert (body["object"], body["base"]) == ("fx_rates", "USD")
    assert abs(body["as_of"] - time.time()) < 60
    rates = body["rates"]
    assert MAJOR <= set(rates) and len(rates) >= 15 and "USD" not in rates
    assert {key: rates[key] for key in ("EUR", "GBP", "JPY", "KWD")} == {
        "EUR": "0.921300",
        "GBP": "0.789500",
        "JPY": "151.230000",
        "KWD": "0.307400",
    }
    for currency, rate in rates.items():
        assert isinstance(rate, str) and len(currency) == 3
        assert Decimal(rate) > 0 and Decimal(rate).as_tuple().exponent == -6


def test_the_feed_needs_the_api_key(live_sandbox):
    assert live_sandbox.session.get(f"{live_sandbox.base_url}/v1/fx_rates", timeout=5).status_code == 401


def test_the_drift_fault_moves_every_rate_deterministically(adapter, live_sandbox):
    base, before = adapter.fx_rates()

    live_sandbox.set_faults(fx_drift_bps=250)
    _, up = adapter.fx_rates()
    live_sandbox.set_faults(fx_drift_bps=-250)
    _, down = adapter.fx_rates()
    live_sandbox.set_faults(fx_drift_bps=0)

    assert base == "USD"
    # 0.9213 × 1.025 = 0.9443325 and × 0.975 = 0.8982675: both halves go to the even neighbour.
    assert up["EUR"] == "0.944332" and down["EUR"] == "0.898268"
    assert all(Decimal(down[c]) < Decimal(before[c]) < Decimal(up[c]) for c in before)
    assert adapter.fx_rates() == ("USD", before)


@pytest.mark.parametrize("drift", [5001, -5001, 1.5, "10", True])
def test_a_bad_drift_is_refused(adapter, live_sandbox, drift):
    answer = live_sandbox.request("POST", "/v1/control/faults", json={"fx_drift_bps": drift})

    assert answer.status_code == 400


def test_the_adapter_returns_the_base_and_the_rates_as_strings(adapter):
    base, rates = adapter.fx_rates()

    assert base == "USD"
    assert rates["JPY"] == "151.230000"
    assert all(isinstance(rate, str) for rate in rates.values())


def test_an_unreachable_feed_is_unavailable(live_sandbox):
    wrong_key = SandboxProcessor(base_url=live_sandbox.base_url, api_key="sk_wrong", connect_timeout=1, read_timeout=2)

    with pytest.raises(ProcessorUnavailable):
        wrong_key.fx_rates()
