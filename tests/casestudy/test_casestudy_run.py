"""A short real run of the case study (``manage.py casestudy --phases naive,refined``): under the same seeded
faults the naive design visibly fails (customers charged twice, or a balance that drifted from the processor's)
and the platform's figures are all zero.

It starts a whole stack of its own (a database of its own, its own redis-server, the two sandbox acquirers, the
web, a Celery worker and beat), so it needs PostgreSQL on 127.0.0.1:5432 and redis-server on the PATH, and takes
about a minute and a half (half of it the stack's start).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from casestudy.schedule import fault_schedule
from tests.conftest import requires_postgres, requires_redis
from tests.processes import ROOT

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on the PATH"),
]

SECONDS = 10
SEED = 1


def run_database() -> str:
    """A database no other run uses at the same time, named after the test database (so under its prefix) and this
    process's id. The run drops and creates it, then drops it."""
    test_database = urlparse(os.environ.get("DATABASE_URL", "")).path.lstrip("/") or "sqlite"
    return re.sub(r"[^a-z0-9_]", "_", f"{test_database}_casestudy_{os.getpid()}".lower())[-63:]


def test_the_naive_design_fails_where_the_platform_holds(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "casestudy",
            "--seconds",
            str(SECONDS),
            "--seed",
            str(SEED),
            "--phases",
            "naive,refined",
            "--json",
            "--database",
            run_database(),
            "--run-dir",
            str(tmp_path / "run"),
            "--reports-dir",
            str(tmp_path / "reports"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = completed.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert "double_charges" in completed.stdout and "naive" in lines[1]  # the table came first
    assert result["seed"] == SEED and result["seconds"] == SECONDS
    assert result["fault_schedule"] == json.loads(json.dumps(fault_schedule(SEED, SECONDS)))
    naive, refined = result["naive"], result["refined"]
    # The same workload against both designs.
    assert naive["attempted"] == refined["attempted"] > 0
    assert naive["customers_charged"] > 0 and refined["customers_charged"] > 0
    # The faults were injected in both phases.
    assert naive["faults_injected"] == refined["faults_injected"]
    assert sum(naive["faults_injected"].values()) == len(result["fault_schedule"]["designs"])
    # Every figure is a number in the JSON (minor units and counts as integers).
    for figure in ("attempted", "double_charges", "lost_payments", "balance_drift", "events_lost", "events_duplicated"):
        assert type(naive[figure]) is int and type(refined[figure]) is int, figure
    # The naive design visibly fails...
    assert naive["double_charges"] > 0 or naive["balance_drift"] != 0, naive
    # ...and the platform holds: nobody charged twice, nothing lost, the balance is the processor's, every event.
    for figure in ("double_charges", "lost_payments", "balance_drift", "events_lost", "events_duplicated"):
        assert refined[figure] == 0, (figure, refined)
    assert refined["still_processing"] == 0
    assert result["settling"]["refined"]["settled"]
    saved = json.loads((tmp_path / "reports" / f"casestudy-{SEED}.json").read_text())
    assert saved["refined"]["attempted"] == refined["attempted"]
