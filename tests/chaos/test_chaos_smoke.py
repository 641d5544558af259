"""Smoke test of the fault simulator: ``python -m chaos`` for 20 s without faults must report ok (payouts and
funds maturing included).

It starts a whole stack of its own (a database of its own, its own redis-server, the two sandbox
acquirers, gunicorn, a Celery worker and beat), so it needs PostgreSQL on 127.0.0.1:5432 and
redis-server on the PATH, and takes about a minute and a half.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from tests.conftest import requires_postgres, requires_redis
from tests.processes import ROOT

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on the PATH"),
]


def run_database() -> str:
    """A database name no other test run on this machine uses at the same time: the test database's name (each
    run of the suite has its own) and this process's id. The simulator drops and creates it, then drops it."""
    test_database = urlparse(os.environ.get("DATABASE_URL", "")).path.lstrip("/") or "sqlite"
    return re.sub(r"[^a-z0-9_]", "_", f"chaos_smoke_{test_database}_{os.getpid()}".lower())[:63]


def test_the_simulator_without_faults_reports_ok(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos",
            "--seconds",
            "20",
            "--seed",
            "9001",
            "--no-faults",
            "--clients",
            "4",
            "--run-dir",
            str(tmp_path / "run"),
            "--database",
            run_database(),
            "--drop-database",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["ok"], completed.stdout[-5000:]
    assert completed.returncode == 0
    assert result["double_charges"] == 0 and result["untruthful_answers"] == 0
    assert result["run"]["flows"] > 0 and result["events"] > 0
    # Both acquirers carry payments (euros go to sandbox_eu, dollars to sandbox); nothing failed over without faults
    assert result["run"]["database"] == run_database()
    assert {name: row["payments"] > 0 for name, row in result["acquirers"].items()} == {
        "sandbox": True,
        "sandbox_eu": True,
    }
    assert sum(row["failovers_in"] for row in result["acquirers"].values()) == 0
    # Payouts were made, each at the processor at most once and as the processor says, with their events
    assert result["payouts"] > 0
    assert result["payouts_sent_twice"] == result["payout_disagreements"] == result["payout_events_missing"] == 0
    assert result["ledger_payouts"] == "passed"
    # Captured funds waited in pending (5 s), were matured by the beat, each once and never early, and paid out
    assert result["captures_pending_first"] > 0 and result["funds_matured"] > 0
    assert result["ledger_funds_mature"] == "passed"
