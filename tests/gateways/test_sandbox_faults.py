"""Faults injected for a run: latency, a seeded error rate, and their control endpoint."""

import random
import time

import pytest

from gateways.base import ProcessorUnavailable


def outcomes(adapter, new_key, reference, count: int) -> list[bool]:
    """For ``count`` sequential charges: True when charged, False when answered 500 (checked by look-up)."""
    results = []
    for _ in range(count):
        key = new_key()
        try:
            adapter.authorize(
                reference=reference, amount=100, currency="USD", token="tok_visa", capture=True, idempotency_key=key
            )
            results.append(True)
        except ProcessorUnavailable as unavailable:
            assert unavailable.status_code == 500
            assert adapter.lookup(idempotency_key=key) is None, "an injected error must not charge"
            results.append(False)
    return results


def test_the_error_rate_is_deterministic_from_the_seed(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(error_rate=0.4, seed=1234)
    first = outcomes(adapter, new_key, reference, 30)

    live_sandbox.set_faults(seed=1234)  # setting the seed again restarts the sequence
    second = outcomes(adapter, new_key, reference, 30)

    draws = random.Random(1234)
    assert first == second == [draws.random() >= 0.4 for _ in range(30)]
    assert 0 < first.count(False) < 30
    assert len(adapter.charges_for(reference=reference)) == first.count(True) * 2


def test_another_seed_gives_another_sequence(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(error_rate=0.5, seed=1)
    one = outcomes(adapter, new_key, reference, 20)
    live_sandbox.set_faults(error_rate=0.5, seed=2)
    two = outcomes(adapter, new_key, reference, 20)

    assert one != two


def test_an_injected_error_leaves_the_key_free_for_a_retry(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(error_rate=1.0)
    key = new_key()
    with pytest.raises(ProcessorUnavailable):
        adapter.authorize(
            reference=reference, amount=100, currency="USD", token="tok_visa", capture=True, idempotency_key=key
        )

    live_sandbox.set_faults(error_rate=0.0)
    charge = adapter.authorize(
        reference=reference, amount=100, currency="USD", token="tok_visa", capture=True, idempotency_key=key
    )

    assert adapter.lookup(idempotency_key=key) == charge


def test_latency_is_added_to_charge_posts(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(latency_ms=400)

    started = time.monotonic()
    adapter.authorize(
        reference=reference, amount=100, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )

    assert time.monotonic() - started >= 0.4


def test_faults_are_shown_and_validated(adapter, live_sandbox):
    shown = live_sandbox.set_faults(latency_ms=5, error_rate=0.25, seed=7, duplicate_webhooks=True)

    assert shown == {**live_sandbox.faults(), "object": "faults"}
    assert (shown["latency_ms"], shown["error_rate"], shown["seed"], shown["duplicate_webhooks"]) == (5, 0.25, 7, True)
    delays = live_sandbox.set_faults(refund_delay_seconds=0.5, dispute_delay_seconds=4, dispute_decision_seconds=0)
    assert (delays["refund_delay_seconds"], delays["dispute_delay_seconds"], delays["dispute_decision_seconds"]) == (
        0.5,
        4.0,
        0.0,
    )
    rails = live_sandbox.set_faults(
        bank_settlement_seconds=2, bank_return_seconds=0.25, wallet_expiry_seconds=86_400, fx_drift_bps=-12
    )
    assert {
        key: rails[key]
        for key in ("bank_settlement_seconds", "bank_return_seconds", "wallet_expiry_seconds", "fx_drift_bps")
    } == {
        "bank_settlement_seconds": 2.0,
        "bank_return_seconds": 0.25,
        "wallet_expiry_seconds": 86_400.0,
        "fx_drift_bps": -12,
    }
    assert live_sandbox.set_faults(payout_seconds=7)["payout_seconds"] == 7.0
    bad_values = (
        {"error_rate": 1.5},
        {"latency_ms": -1},
        {"shuffle_webhooks": "yes"},
        {"nonsense": 1},
        {"refund_delay_seconds": -1},
        {"dispute_delay_seconds": "2"},
        {"dispute_decision_seconds": 3601},
        {"bank_settlement_seconds": -1},
        {"bank_return_seconds": 3601},
        {"wallet_expiry_seconds": 8 * 86_400},
        {"fx_drift_bps": 0.5},
        {"fx_drift_bps": 10_000},
        {"payout_seconds": -1},
        {"payout_seconds": 3601},
    )
    for bad in bad_values:
        answer = live_sandbox.request("POST", "/v1/control/faults", json=bad)
        assert answer.status_code == 400, bad
