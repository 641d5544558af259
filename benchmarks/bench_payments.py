"""`make bench`: confirmed card payments per second through the real HTTP API, and where the CPU goes.

Migrates a fresh PostgreSQL database, starts the web server as the Procfile does (granian's WSGI interface,
or gunicorn's gthread worker with ``--server gunicorn``; the same workers and threads, the access log
masked) and the sandbox processor as its own process, then drives create-and-confirm requests
(``POST /api/v1/payments`` with ``confirm: true``, a fresh ``Idempotency-Key`` each) with wrk and
``benchmarks/create_and_confirm.lua``; then replays 2 000 of those keys.

For each phase it prints throughput, p50/p99 latency, errors, and the CPU per payment of each part, read
from /proc over the measured window only: web (every process of the server's tree), PostgreSQL (the
server's auxiliary processes and the backends of the bench's database), the sandbox (its process tree),
the load generator, their sum, and the whole machine (the difference is everything else that ran).
Last, pgbench runs the same write set at the same concurrency (``benchmarks/pgbench_write_set.py``): PostgreSQL's
ceiling for these statements on this machine, and the ratio of the run above to it.

wrk comes from Debian's package (``scripts/setup-bench``, which ``make bench`` runs first, installs it);
only when it is missing and cannot be installed does a Python client (threads with ``requests``, which
costs more CPU than the server it measures) stand in, and the output says so.

``--mode async`` (``both``, the default, runs it after the synchronous phases) measures asynchronous confirmation
(``Prefer: respond-async``) with a Celery worker: accepted/s, settled/s, time to final status and the CPU per
settled payment of web, worker, PostgreSQL and the sandbox; ``--outage SECONDS`` stalls the sandbox mid-run and
checks that every accepted payment settled exactly once (``benchmarks/async_confirmation.py``). Redis is the
broker and cache (``--redis-url``, default ``BENCH_REDIS_URL`` or database 14 of the local Redis, emptied first).

    .venv/bin/python -m benchmarks.bench_payments [--server gunicorn|granian] [--seconds 20] [--connections 32]
        [--mode sync|async|both] [--outage SECONDS] [--worker-concurrency 2] [--redis-url redis://…]
"""

import argparse
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psycopg
import requests

from benchmarks import pgbench_write_set
from benchmarks.async_confirmation import report_async, run_async_phase, start_worker, stop_worker
from benchmarks.common import (
    ROOT,
    CpuMeter,
    free_port,
    fresh_postgres_database,
    machine,
    migrate_with_merchant,
    percentile,
    platform_env,
    postgres_processes,
    process_tree,
    start_gunicorn,
    stop,
    wait_for_http,
)
from tests.processes import start_procfile_web
from tests.sandbox_process import SandboxProcess

WRK_SCRIPT = ROOT / "benchmarks" / "create_and_confirm.lua"
# gunicorn's access-log line as the Procfile had it (method, path without its query, status, time).
GUNICORN_ACCESS_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
REPLAYED_KEYS = 2000


def start_web(server: str, port: int, env: dict, log_path: Path, workers: int, threads: int) -> subprocess.Popen:
    """The web process as the Procfile starts it, with ``workers`` processes of ``threads`` threads each."""
    if server == "gunicorn":
        logs = ["--logger-class", "core.logging.MaskingGunicornLogger", "--access-logfile", "-"]
        logs += ["--access-logformat", GUNICORN_ACCESS_FORMAT]
        return start_gunicorn(port, env, log_path, workers=workers, threads=threads, extra_args=logs)
    # granian: the Procfile's own line (its limits, its masked access log), with these workers and threads.
    return start_procfile_web(port, env, log_path, workers=workers, threads=threads)


def drive_wrk(
    base: str, api_key: str, seconds: float, connections: int, meter_groups: dict, keys_file=None, script=WRK_SCRIPT
) -> dict:
    """wrk for ``seconds`` over ``connections`` connections (2 threads); with ``keys_file``, replays."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), base]
    command += ["--", api_key] + ([str(keys_file)] if keys_file else [])
    load: list[int] = []
    meter = CpuMeter({**meter_groups, "load generator": lambda: load}).start()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    load.append(process.pid)
    output, _ = process.communicate()
    cpu = meter.stop()
    lines = [line for line in output.splitlines() if line.startswith("WRK_RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    result = json.loads(lines[-1].removeprefix("WRK_RESULT "))
    socket_errors = sum(result["socket_errors"].values())
    return {
        "requests": result["requests"],
        "succeeded": result["succeeded"],
        "errors": result["requests"] - result["succeeded"] + socket_errors,
        "statuses": {int(code): count for code, count in sorted(result["statuses"].items())},
        "socket_errors": socket_errors,
        "seconds": result["duration_us"] / 1e6,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu": cpu,
    }


def drive_python(
    base: str, api_key: str, seconds: float, connections: int, meter_groups: dict, keys: list[str] | None = None
) -> dict:
    """The stand-in for wrk: ``connections`` threads of this process, each a ``requests`` session."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    succeeded = 0
    lock = threading.Lock()
    body = json.dumps(
        {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}}
    )

    def client(number: int, stop_at: float) -> None:
        nonlocal succeeded
        session = requests.Session()
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        index = number
        while time.monotonic() < stop_at:
            key = keys[index % len(keys)] if keys else str(uuid.uuid4())
            index += connections
            started = time.perf_counter()
            try:
                response = session.post(
                    f"{base}/api/v1/payments", data=body, headers={**headers, "Idempotency-Key": key}, timeout=30
                )
                ok = response.status_code == 201 and response.json()["status"] == "succeeded"
                status = response.status_code
            except requests.RequestException:
                ok, status = False, 0
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                succeeded += ok

    meter = CpuMeter({**meter_groups, "load generator": lambda: [os.getpid()]}).start()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(n, stop_at)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = meter.stop()
    return {
        "requests": len(latencies),
        "succeeded": succeeded,
        "errors": len(latencies) - succeeded,
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": statuses.get(0, 0),
        "seconds": meter.seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu": cpu,
    }


def empty_redis_database(url: str) -> None:
    """The bench's own Redis database starts empty: no queued task or cached flag of an earlier run."""
    import redis

    redis.Redis.from_url(url).flushdb()


def succeeded_keys(database_url: str, limit: int) -> list[str]:
    """Idempotency keys whose first answer was a 201 (a confirmed payment), for the replay phase."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT key FROM core_idempotencykey WHERE response_status = 201 ORDER BY id LIMIT %s", [limit]
        ).fetchall()
    return [key for (key,) in rows]


def report(name: str, result: dict) -> str:
    per = max(1, result["succeeded"])
    cpu = result["cpu"]
    parts = ("web", "PostgreSQL", "sandbox", "load generator")
    measured = sum(cpu[part] for part in parts)
    lines = [
        f"{name}: {result['succeeded'] / result['seconds']:.1f}/s ({result['succeeded']} of {result['requests']} "
        f"requests in {result['seconds']:.1f} s), p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"errors {result['errors']} (status codes {result['statuses']}, socket errors {result['socket_errors']})",
        "  CPU per payment: "
        + ", ".join(f"{part} {cpu[part] * 1000 / per:.2f} ms" for part in parts)
        + f"; sum {measured * 1000 / per:.2f} ms; whole machine {cpu['machine'] * 1000 / per:.2f} ms "
        f"(other processes {cpu['other'] * 1000 / per:.2f} ms)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="granian")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", "--clients", type=int, default=32, dest="connections")
    # The Procfile's own: WEB_CONCURRENCY's default and --blocking-threads.
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto", help="the load generator")
    parser.add_argument("--database", default="payments_bench")
    parser.add_argument(
        "--mode",
        choices=("sync", "async", "both"),
        default="both",
        help="synchronous create-and-confirm, asynchronous (Prefer: respond-async, a worker settles), or both",
    )
    parser.add_argument("--outage", type=float, default=0, help="async: stop the sandbox this many seconds mid-run")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="async: the worker's processes")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="the broker and cache (this Redis database is emptied first); empty: the filesystem broker (sync only)",
    )
    args = parser.parse_args()
    if args.mode != "sync" and not args.redis_url:
        parser.error("the asynchronous mode needs Redis (--redis-url) for its worker's queue")

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed: scripts/setup-bench installs it")
    if client == "python":
        reason = "as asked" if args.client == "python" else "wrk is missing"
        print(f"load generator: the Python client ({reason}): its own CPU is far above wrk's")
        if args.mode != "sync":
            parser.error("the asynchronous mode needs wrk")

    database_url = fresh_postgres_database(args.database)
    if args.redis_url:
        empty_redis_database(args.redis_url)
    first = replay = asynchronous = None
    with SandboxProcess(env={"SANDBOX_THREADS": "32"}) as sandbox:
        env = platform_env(
            database_url=database_url,
            processor_url=sandbox.base_url,
            **({"REDIS_URL": args.redis_url} if args.redis_url else {}),
        )
        api_key = migrate_with_merchant(env)
        port = free_port()
        web = start_web(args.server, port, env, sandbox.directory / "web.log", args.web_workers, args.web_threads)
        groups = {
            "web": lambda: process_tree(web.pid),
            "PostgreSQL": lambda: postgres_processes(args.database),
            "sandbox": lambda: process_tree(sandbox.pid),
        }
        worker = None
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/healthz", process=web)
            if args.mode == "async":
                pass  # no synchronous phase
            elif client == "wrk":
                drive_wrk(base, api_key, 2, args.connections, groups)  # warm-up: connections, caches
                first = drive_wrk(base, api_key, args.seconds, args.connections, groups)
                keys_file = sandbox.directory / "replay-keys.txt"
                keys_file.write_text("\n".join(succeeded_keys(database_url, REPLAYED_KEYS)) + "\n")
                replay = drive_wrk(base, api_key, min(args.seconds, 10), args.connections, groups, keys_file)
            else:
                drive_python(base, api_key, 2, args.connections, groups)
                first = drive_python(base, api_key, args.seconds, args.connections, groups)
                keys = succeeded_keys(database_url, REPLAYED_KEYS)
                replay = drive_python(base, api_key, min(args.seconds, 10), args.connections, groups, keys)
            if args.mode != "sync":
                worker = start_worker(env, sandbox.directory / "worker.log", args.worker_concurrency)
                asynchronous = run_async_phase(
                    drive_wrk=drive_wrk,
                    base=base,
                    api_key=api_key,
                    seconds=args.seconds,
                    connections=args.connections,
                    groups=groups,
                    worker=worker,
                    database_url=database_url,
                    sandbox=sandbox,
                    outage=args.outage,
                )
        finally:
            if worker is not None:
                stop_worker(worker)
            stop(web)
        pgbench = None
        if first is not None:
            try:  # the same write set through pgbench: PostgreSQL's ceiling on this machine
                pgbench = pgbench_write_set.compare_with_pgbench(
                    env, database_url, args.database, api_key, args.connections, min(args.seconds, 10), ROOT / "var"
                )
            except pgbench_write_set.DerivationError as error:
                pgbench = error

    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"setup: {args.server} {args.web_workers} workers x {args.web_threads} threads, load generator {client} "
        f"with {args.connections} connections, PostgreSQL, the sandbox processor as its own process"
    )
    if first is not None:
        print(report("create-and-confirm", first))
        print(report("idempotent replays", replay))
        print(f"replay speed-up (p50): {first['p50_ms'] / replay['p50_ms']:.1f}x")
        if isinstance(pgbench, Exception):
            print(f"pgbench: not measured: {pgbench}")
        elif pgbench is not None:
            print(pgbench_write_set.report(first, pgbench))
    if asynchronous is not None:
        print(f"asynchronous: a Celery worker of {args.worker_concurrency} processes, Redis ({args.redis_url})")
        print(report_async("create-and-confirm, Prefer: respond-async", asynchronous))


if __name__ == "__main__":
    main()
