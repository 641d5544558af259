"""The sandbox as a process: its command, start-up, configuration, clean stop, crash and restart."""

import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.sandbox_process import ROOT, SandboxProcess, group_alive

pytestmark = pytest.mark.slow


def charge(sandbox: SandboxProcess, key: str, *, own_connection: bool = False, **overrides) -> requests.Response:
    body = {"amount": 700, "currency": "USD", "source": "tok_visa", "reference": "pay_process", **overrides}
    if own_connection:  # from another thread: a Session is not shared across threads
        headers = {"Authorization": f"Bearer {sandbox.api_key}", "Idempotency-Key": key}
        return requests.post(f"{sandbox.base_url}/v1/charges", json=body, headers=headers, timeout=30)
    return sandbox.request("POST", "/v1/charges", idempotency_key=key, json=body)


def test_the_environment_sets_the_runs_faults_and_keys():
    env = {
        "SANDBOX_LATENCY_MS": "25",
        "SANDBOX_ERROR_RATE": "0.125",
        "SANDBOX_SEED": "99",
        "SANDBOX_DUPLICATE_WEBHOOKS": "1",
        "SANDBOX_SHUFFLE_WEBHOOKS": "true",
        "SANDBOX_TIMEOUT_DELAY_SECONDS": "4",
        "SANDBOX_REFUND_DELAY_SECONDS": "1.5",
        "SANDBOX_DISPUTE_DELAY_SECONDS": "6",
        "SANDBOX_DISPUTE_DECISION_SECONDS": "7",
        "SANDBOX_BANK_SETTLEMENT_SECONDS": "8",
        "SANDBOX_BANK_RETURN_SECONDS": "9",
        "SANDBOX_WALLET_EXPIRY_SECONDS": "120",
        "SANDBOX_FX_DRIFT_BPS": "-30",
        "SANDBOX_PAYOUT_SECONDS": "11",
        "SANDBOX_PUBLIC_URL": "https://sandbox.example:9443/",
    }
    with SandboxProcess(env=env, api_key="sk_sandbox_custom") as sandbox:
        assert "sandbox processor listening on http://127.0.0.1:" in sandbox.log_text()
        faults = sandbox.faults()
        assert {key: faults[key] for key in env_keys()} == {
            "latency_ms": 25,
            "error_rate": 0.125,
            "seed": 99,
            "duplicate_webhooks": True,
            "shuffle_webhooks": True,
            "timeout_delay_seconds": 4.0,
            "refund_delay_seconds": 1.5,
            "dispute_delay_seconds": 6.0,
            "dispute_decision_seconds": 7.0,
            "bank_settlement_seconds": 8.0,
            "bank_return_seconds": 9.0,
            "wallet_expiry_seconds": 120.0,
            "fx_drift_bps": -30,
            "payout_seconds": 11.0,
        }
        wallet = sandbox.request(
            "POST",
            "/v1/charges",
            idempotency_key="wallet-key",
            json={"amount": 100, "currency": "EUR", "source": "wallet_sandboxpay", "reference": "pay_public"},
        ).json()
        assert wallet["next_action_url"] == f"https://sandbox.example:9443/wallet/{wallet['id']}"
        assert 119 <= wallet["expires_at"] - wallet["created"] <= 120
        assert sandbox.request("GET", "/v1/fx_rates").json()["rates"]["EUR"] == "0.918536"  # 0.9213 × 0.997
        default_key = requests.get(
            f"{sandbox.base_url}/v1/charges", headers={"Authorization": "Bearer sk_sandbox_development"}, timeout=5
        )
        assert default_key.status_code == 401
        health = requests.get(f"{sandbox.base_url}/healthz", timeout=5)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "name": "sandbox"})
        missing = sandbox.request("GET", "/v1/nothing")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
        wrong_method = sandbox.request("DELETE", "/v1/charges")
        assert wrong_method.status_code == 405


def env_keys() -> list[str]:
    return [
        "latency_ms",
        "error_rate",
        "seed",
        "duplicate_webhooks",
        "shuffle_webhooks",
        "timeout_delay_seconds",
        "refund_delay_seconds",
        "dispute_delay_seconds",
        "dispute_decision_seconds",
        "bank_settlement_seconds",
        "bank_return_seconds",
        "wallet_expiry_seconds",
        "fx_drift_bps",
        "payout_seconds",
    ]


def test_sigterm_stops_it_promptly_even_with_a_delayed_answer_in_hand():
    sandbox = SandboxProcess(env={"SANDBOX_TIMEOUT_DELAY_SECONDS": "60"}).start()
    try:
        in_hand = threading.Thread(
            target=lambda: _swallow(lambda: charge(sandbox, "slow-key", own_connection=True, source="tok_timeout")),
            daemon=True,
        )
        in_hand.start()
        time.sleep(0.5)

        started = time.monotonic()
        returncode = sandbox.stop()

        assert returncode == 0, sandbox.log_text()
        assert time.monotonic() - started < 10
        assert not group_alive(sandbox.pid)
    finally:
        sandbox.close()


def test_a_crash_and_restart_keep_the_processors_truth_and_free_unanswered_keys():
    with SandboxProcess(env={"SANDBOX_LATENCY_MS": "0"}) as sandbox:
        done = charge(sandbox, "done-key")
        assert done.status_code == 201
        # A request that has claimed its key but not answered when the process dies.
        sandbox.set_faults(latency_ms=10_000)
        in_hand = threading.Thread(
            target=lambda: _swallow(lambda: charge(sandbox, "lost-key", own_connection=True)), daemon=True
        )
        in_hand.start()
        time.sleep(0.5)
        port, pid = sandbox.port, sandbox.pid

        sandbox.kill()
        assert not group_alive(pid)
        sandbox.start()

        assert sandbox.port == port
        assert sandbox.faults()["latency_ms"] == 0, "faults come back from the environment"
        again = charge(sandbox, "done-key")
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == done.content
        retried = charge(sandbox, "lost-key")
        assert retried.status_code == 201, retried.text
        keys = {
            c["idempotency_key"] for c in sandbox.request("GET", "/v1/charges?reference=pay_process").json()["data"]
        }
        assert keys == {"done-key", "lost-key"}


def test_a_bad_port_is_refused(tmp_path):
    probe = SandboxProcess()
    probe.close()
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "70000"],
        cwd=ROOT,
        env={**probe.env, "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "--port" in result.stderr


def _swallow(call) -> None:
    try:
        call()
    except requests.RequestException:
        pass
