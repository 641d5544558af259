"""Smoke test of the fault simulator: ``python -m chaos`` for 20 s without faults must report ok.

It starts a whole stack of its own (database ``chaos_9001``, its own redis-server, the sandbox,
gunicorn, a Celery worker and beat), so it needs PostgreSQL on 127.0.0.1:5432 and redis-server on
the PATH, and takes about a minute and a half.
"""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import requires_postgres, requires_redis
from tests.processes import ROOT

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on the PATH"),
]


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
