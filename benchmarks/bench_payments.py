"""`make bench`: confirmed card payments per second through the real HTTP API.

Starts PostgreSQL-backed gunicorn, the sandbox processor as its own process, then
drives concurrent clients that each create-and-confirm card payments with fresh
idempotency keys (``POST /api/v1/payments`` with ``confirm: true``). Prints
throughput, p50/p99 latency and errors, then the same for idempotent replays.

    .venv/bin/python benchmarks/bench_payments.py [--seconds 20] [--clients 32] [--web-workers 3]
"""

import argparse
import json
import os
import threading
import time
import uuid

import requests

from benchmarks.common import (
    clean_env,
    free_port,
    fresh_postgres_database,
    machine,
    manage,
    percentile,
    start_gunicorn,
    stop,
    wait_for_http,
)
from tests.sandbox_process import SandboxProcess


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine so far (Linux /proc/stat: every state but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def drive(base: str, api_key: str, seconds: float, clients: int, keys: list[str] | None) -> dict:
    """Run ``clients`` threads for ``seconds``; with ``keys``, replay those instead of fresh keys."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    used_keys: list[str] = []
    body = json.dumps(
        {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}}
    )

    def client(number: int) -> None:
        nonlocal errors
        session = requests.Session()
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        index = number
        while time.monotonic() < stop_at:
            if keys:
                key = keys[index % len(keys)]
                index += clients
            else:
                key = str(uuid.uuid4())
            started = time.perf_counter()
            try:
                response = session.post(
                    f"{base}/api/v1/payments", data=body, headers={**headers, "Idempotency-Key": key}, timeout=30
                )
                elapsed = time.perf_counter() - started
                ok = response.status_code == 201 and response.json()["status"] == "succeeded"
            except requests.RequestException:
                elapsed, ok, response = time.perf_counter() - started, False, None
            with lock:
                latencies.append(elapsed)
                if response is not None:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if ok:
                    used_keys.append(key)
                else:
                    errors += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began, cpu_began = time.monotonic(), machine_cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.monotonic() - began, machine_cpu_seconds() - cpu_began
    return {
        "requests": len(latencies),
        "per_second": (len(latencies) - errors) / elapsed,
        # Every process on the machine (web, PostgreSQL, the sandbox, these clients, and whatever else runs).
        "cpu_ms_per_request": cpu * 1000 / max(1, len(latencies)),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "statuses": statuses,
        "keys": used_keys,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--database", default="payments_bench")
    args = parser.parse_args()

    database_url = fresh_postgres_database(args.database)
    with SandboxProcess(env={"SANDBOX_THREADS": "32"}) as sandbox:
        env = clean_env(
            DJANGO_SECRET_KEY="bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            DATABASE_URL=database_url,
            PROCESSOR_BASE_URL=sandbox.base_url,
            API_RATE_LIMIT="1000000/s",
            LOG_LEVEL="WARNING",
        )
        migrate = manage("migrate", "--noinput", "-v0", env=env)
        assert migrate.returncode == 0, migrate.stderr
        created = manage("create_merchant", "Bench", "--json", env=env)
        api_key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
        port = free_port()
        log = sandbox.directory / "web.log"
        web = start_gunicorn(port, env, log, workers=args.web_workers, threads=args.web_threads)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(f"{base}/healthz", process=web)
            drive(base, api_key, 2, args.clients, None)  # warm-up: connections, caches
            first = drive(base, api_key, args.seconds, args.clients, None)
            replay = drive(base, api_key, min(args.seconds, 10), args.clients, first["keys"][:2000])
        finally:
            stop(web)

    print(f"machine: {machine()}")
    print(
        f"setup: gunicorn {args.web_workers} workers x {args.web_threads} threads, {args.clients} clients, "
        f"PostgreSQL, sandbox processor as its own process"
    )
    for name, result in (("first requests (create+confirm)", first), ("idempotent replays", replay)):
        print(
            f"{name}: {result['per_second']:.1f}/s over {result['requests']} requests, "
            f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"machine CPU {result['cpu_ms_per_request']:.1f} ms per request, errors {result['errors']} "
            f"{result['statuses']}"
        )
    print(f"replay speed-up (p50): {first['p50_ms'] / replay['p50_ms']:.1f}x")


if __name__ == "__main__":
    main()
