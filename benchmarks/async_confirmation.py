"""The asynchronous phase of ``make bench`` (``--mode async``; issue 14): create-and-confirm with
``Prefer: respond-async``, a Celery worker settling the accepted payments, and optionally a processor outage.

wrk sends the requests (``benchmarks/create_and_confirm_async.lua``, a 202 ``processing`` counts as accepted);
the worker runs as the Procfile runs it (``celery -A config worker --concurrency N``). The database says when
each payment settled: time to final status is its last transition's time less its creation time. CPU is measured
from the first request until the last accepted payment has left ``processing`` (the backlog's drain included),
and divided by the payments settled.

With ``outage`` the sandbox's processes are stopped (SIGSTOP) that many seconds, starting a few seconds into the
run, then resumed (SIGCONT), as a stalled acquirer would be: the API keeps accepting, the worker's calls time
out and are retried with backoff. Afterwards every accepted payment must have settled, and the sandbox must hold
exactly one charge for each.
"""

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from benchmarks.common import ROOT, CpuMeter, process_tree
from tests.processes import VENV_BIN

ASYNC_WRK_SCRIPT = ROOT / "benchmarks" / "create_and_confirm_async.lua"
SETTLE_TIMEOUT_SECONDS = 600


def start_worker(env: dict, log_path: Path, concurrency: int) -> subprocess.Popen:
    """The Celery worker as the Procfile starts it (without ``scripts/supervise``, which only restarts it)."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    command = [str(VENV_BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING"]
    return subprocess.Popen(
        command + ["--concurrency", str(concurrency)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen, timeout: float = 20) -> None:
    """A warm shutdown (SIGTERM: tasks in hand finish), then SIGKILL of the whole group if it will not go."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _database_now(database_url: str):
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT clock_timestamp()").fetchone()[0]


def _unsettled(database_url: str, since) -> tuple[int, int]:
    """(payments created since ``since`` still ``processing``, events not yet published by the outbox drain)."""
    with psycopg.connect(database_url) as connection:
        processing = connection.execute(
            "SELECT count(*) FROM payments_payment WHERE created >= %s AND status = 'processing'", [since]
        ).fetchone()[0]
        unpublished = connection.execute("SELECT count(*) FROM events_event WHERE published_at IS NULL").fetchone()[0]
    return processing, unpublished


def wait_until_settled(database_url: str, since, *, events_too: bool = False, timeout: float = SETTLE_TIMEOUT_SECONDS):
    """Poll until no payment created since ``since`` is ``processing`` (and, with ``events_too``, the outbox is
    drained); returns the monotonic time it happened. Raises after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        processing, unpublished = _unsettled(database_url, since)
        if processing == 0 and (unpublished == 0 or not events_too):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{processing} payments still processing, {unpublished} events unpublished")
        time.sleep(0.1)


def settlement_figures(database_url: str, since, until) -> dict:
    """From the database: the payments created since ``since``, how many settled, by status, how many settled
    before ``until`` (the end of the load), and time to final status (creation → last transition) p50/p99."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            """
            SELECT p.status, count(*),
                   count(*) FILTER (WHERE t.settled <= %(until)s),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM t.settled - p.created)),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM t.settled - p.created)),
                   max(t.settled)
            FROM payments_payment p
            JOIN LATERAL (SELECT max(created) AS settled FROM payments_paymenttransition WHERE payment_id = p.id) t
              ON true
            WHERE p.created >= %(since)s
            GROUP BY GROUPING SETS ((p.status), ())
            """,
            {"since": since, "until": until},
        ).fetchall()
    by_status = {status: count for status, count, *_ in rows if status is not None}
    total = next(row for row in rows if row[0] is None)
    _, count, before_end, p50, p99, last = total
    return {
        "payments": count,
        "by_status": by_status,
        "settled_during_load": before_end,
        "time_to_final_p50_ms": float(p50) * 1000,
        "time_to_final_p99_ms": float(p99) * 1000,
        "last_settled": last,
    }


def charges_per_payment(database_url: str, sandbox_database: Path, since) -> dict:
    """Exactly once, checked at the processor: how many of the payments created since ``since`` the sandbox
    charged once, more than once, or not at all."""
    with psycopg.connect(database_url) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM payments_payment WHERE created >= %s", [since])]
    with sqlite3.connect(f"file:{sandbox_database}?mode=ro", uri=True) as sandbox:
        counts = dict(sandbox.execute("SELECT reference, count(*) FROM sandbox_charge GROUP BY reference").fetchall())
    found = [counts.get(payment_id, 0) for payment_id in ids]
    return {
        "payments": len(ids),
        "charged_once": sum(1 for n in found if n == 1),
        "charged_twice_or_more": sum(1 for n in found if n > 1),
        "not_charged": sum(1 for n in found if n == 0),
    }


def _stall(pid: int, after: float, seconds: float, resumed: dict) -> None:
    time.sleep(after)
    os.killpg(pid, signal.SIGSTOP)
    resumed["stopped_at"] = time.monotonic()
    try:
        time.sleep(seconds)
    finally:
        os.killpg(pid, signal.SIGCONT)
        resumed["at"] = time.monotonic()


def run_async_phase(
    *,
    drive_wrk: Callable[..., dict],
    base: str,
    api_key: str,
    seconds: float,
    connections: int,
    groups: dict,
    worker: subprocess.Popen,
    database_url: str,
    sandbox,
    outage: float = 0,
) -> dict:
    """One measured asynchronous run; ``groups`` are the bench's CPU groups (the worker's tree is added)."""
    groups = {**groups, "worker": lambda: process_tree(worker.pid)}
    # Warm-up (connections, caches; the card token's details are cached before any outage), then a quiet start:
    # everything accepted so far settled and every event published (the synchronous phase's too).
    warm_from = _database_now(database_url)
    drive_wrk(base, api_key, 2, connections, groups, script=ASYNC_WRK_SCRIPT)
    wait_until_settled(database_url, warm_from, events_too=True)

    since = _database_now(database_url)
    stall: dict = {}
    staller = None
    if outage:
        staller = threading.Thread(target=_stall, args=(sandbox.pid, min(5.0, seconds / 4), outage, stall))
        staller.start()
    load = drive_wrk(base, api_key, seconds, connections, groups, script=ASYNC_WRK_SCRIPT)
    load_ended = _database_now(database_url)
    backlog, _ = _unsettled(database_url, since)
    drain_began = time.monotonic()
    drain_meter = CpuMeter({name: pids for name, pids in groups.items() if name != "load generator"}).start()
    if staller is not None:
        staller.join()
    settled_at = wait_until_settled(database_url, since)
    drain = drain_meter.stop()
    cpu = {name: load["cpu"].get(name, 0.0) + drain.get(name, 0.0) for name in {*load["cpu"], *drain}}
    figures = settlement_figures(database_url, since, load_ended)
    result = {
        **load,
        "cpu": cpu,
        "settlement": figures,
        "backlog_at_end_of_load": backlog,
        "drain_seconds": settled_at - drain_began,
        "settling_seconds": load["seconds"] + (settled_at - drain_began),
    }
    if outage:
        result["outage"] = {
            "seconds": stall["at"] - stall["stopped_at"],
            "drained_seconds_after_resume": settled_at - stall["at"],
            "charges": charges_per_payment(database_url, sandbox.database_path, since),
        }
    return result


def report_async(name: str, result: dict) -> str:
    figures = result["settlement"]
    settled = sum(count for status, count in figures["by_status"].items() if status != "processing")
    per = max(1, settled)
    cpu = result["cpu"]
    parts = ("web", "worker", "PostgreSQL", "sandbox", "load generator")
    measured = sum(cpu.get(part, 0.0) for part in parts)
    lines = [
        f"{name}: accepted {result['succeeded'] / result['seconds']:.1f}/s ({result['succeeded']} of "
        f"{result['requests']} requests in {result['seconds']:.1f} s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, errors {result['errors']}, status codes {result['statuses']}); "
        f"settled {figures['settled_during_load'] / result['seconds']:.1f}/s during the load, "
        f"{settled / result['settling_seconds']:.1f}/s until the last one ({settled} settled: {figures['by_status']}; "
        f"backlog {result['backlog_at_end_of_load']} at the end of the load, drained in "
        f"{result['drain_seconds']:.1f} s)",
        f"  time to final status: p50 {figures['time_to_final_p50_ms']:.0f} ms, "
        f"p99 {figures['time_to_final_p99_ms']:.0f} ms",
        "  CPU per settled payment: "
        + ", ".join(f"{part} {cpu.get(part, 0.0) * 1000 / per:.2f} ms" for part in parts)
        + f"; sum {measured * 1000 / per:.2f} ms; whole machine {cpu['machine'] * 1000 / per:.2f} ms",
    ]
    if "outage" in result:
        outage = result["outage"]
        charges = outage["charges"]
        lines.append(
            f"  processor outage: stopped {outage['seconds']:.1f} s; every accepted payment settled "
            f"{outage['drained_seconds_after_resume']:.1f} s after it came back; at the processor, of "
            f"{charges['payments']} payments: {charges['charged_once']} charged once, "
            f"{charges['charged_twice_or_more']} more than once, {charges['not_charged']} not charged"
        )
    return "\n".join(lines)
