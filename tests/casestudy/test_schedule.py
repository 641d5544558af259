"""The fault schedule is drawn from the seed (and the phase's length) alone."""

import json
import os
import subprocess
import sys

from casestudy.schedule import DESIGN_KINDS, design_schedule, fault_schedule
from tests.processes import ROOT


def test_the_same_seed_gives_the_same_schedule():
    assert fault_schedule(7, 30) == fault_schedule(7, 30)
    assert fault_schedule(7, 30) != fault_schedule(8, 30)


def test_the_command_prints_the_same_schedule_in_two_processes():
    """Two separate processes (no shared state, a different hash seed each) print the same schedule."""

    def printed(seed: int) -> dict:
        completed = subprocess.run(
            [sys.executable, "manage.py", "casestudy", "--seed", str(seed), "--seconds", "30", "--print-schedule"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"},
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        return json.loads(completed.stdout.strip().splitlines()[-1])

    first = printed(3)
    assert first == printed(3) == json.loads(json.dumps(fault_schedule(3, 30)))


def test_every_fault_kind_comes_once_without_overlap_within_the_phase():
    for seed in range(20):
        for seconds in (12, 30, 90):
            faults = design_schedule(seed, seconds)
            assert sorted(f.kind for f in faults) == sorted(DESIGN_KINDS)
            assert faults[-1].kind == "webhook_replay"
            ends = [(f.at, f.until if f.until is not None else f.at) for f in faults]
            assert all(0 < at <= end < seconds for at, end in ends[:-1])
            assert ends[-1][0] > seconds  # the replay: after the last order arrived
            assert all(ends[i][1] < ends[i + 1][0] for i in range(len(ends) - 1))
            kill = next(f for f in faults if f.kind == "web_kill_in_flight")
            assert kill.at < kill.mid < kill.until
