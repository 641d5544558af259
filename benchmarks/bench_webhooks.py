"""Webhooks from the outbox to a local receiver, signed: throughput with ONE worker process, and idle latency.

    .venv/bin/python -m benchmarks.bench_webhooks [--events 10000] [--samples 200] [--redis-url redis://…/7]

Set-up: a fresh PostgreSQL database ``webhooks_bench``, Redis as the broker, one
``celery worker --concurrency 1`` (one pool process; it sends each batch from a few
threads), and a receiver in its own process that checks every signature with the
``standardwebhooks`` package and notes when each event arrived. This process plays
the web tier: it commits events with ``events.services.event_record``.

1. Backlog: N events are committed while no drain runs, then one drain is queued;
   events/s = N / (time the last one arrived − time the drain was queued).
2. Sustained: events are committed as fast as this process can (each commit
   queues a drain, as the API does) for a few seconds; events/s = committed /
   (time the last one arrived − time the first was committed).
3. Idle latency: one event at a time, every 50 ms; commit → arrival at p50/p99.

The backlog line also gives the worker's CPU per event (its processes' user + system
time from /proc, drains included): on a shared machine a steadier measure than events/s.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.common import ROOT, clean_env, fresh_postgres_database, machine, manage, percentile, run, stop
from tests.processes import VENV_BIN

SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


# --- The receiver (its own process) -----------------------------------------------------------


def _receiver_main(port_out, ready) -> None:
    from standardwebhooks import Webhook

    state = {"verifier": None, "arrivals": {}, "deliveries": 0, "bad": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without this, Nagle's algorithm holds
        # the body until the client's delayed ACK (~40 ms a response).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: bytes = b"ok") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            if self.path == "/_secret":
                state["verifier"] = Webhook(body.decode())
                return self._answer(200)
            try:
                state["verifier"].verify(body, dict(self.headers.items()), json_parse=False)
            except Exception:  # noqa: BLE001 - counted, reported
                with lock:
                    state["bad"] += 1
                return self._answer(400, b"bad signature")
            event_id = self.headers["webhook-id"]
            with lock:
                state["deliveries"] += 1
                state["arrivals"].setdefault(event_id, now)
            self._answer(200)

        def do_GET(self):
            with lock:
                if self.path == "/_count":
                    body = json.dumps(
                        {"events": len(state["arrivals"]), "deliveries": state["deliveries"], "bad": state["bad"]}
                    ).encode()
                else:
                    body = json.dumps(state["arrivals"]).encode()
                    if self.path == "/_reset":
                        state["arrivals"], state["deliveries"], state["bad"] = {}, 0, 0
            self._answer(200, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.value = server.server_address[1]
    ready.set()
    server.serve_forever(poll_interval=0.1)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own local receiver
        return json.loads(response.read())


def _post(url: str, body: bytes) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10):  # noqa: S310
        pass


# --- The platform's side ------------------------------------------------------------------------


def _start_worker(env: dict, log_path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            "bench-webhooks@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(log_path, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited: {log_path.read_text()[-2000:]}")
        if b"ready." in log_path.read_bytes():
            return
        time.sleep(0.2)
    raise TimeoutError("the worker did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children alive now (the worker and its pool process), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            total += sum(_cpu_seconds(int(child)) for child in children.read().split())
    except (OSError, ValueError):
        pass
    return total


def _wait_for(receiver: str, count: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seen = _get(f"{receiver}/_count")
        if seen["events"] >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.005)


def _record(merchant, count: int) -> list[tuple[str, float]]:
    """Commit ``count`` events, one transaction each; returns (id, commit time)."""
    from django.db import transaction

    from events.services import event_record

    committed = []
    payment = {"id": "pay_bench", "object": "payment", "amount": 1999, "currency": "USD", "status": "succeeded"}
    for _ in range(count):
        with transaction.atomic():
            event = event_record(merchant=merchant, type="payment.succeeded", data_object=payment)
        committed.append((event.id, time.time()))
    return committed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="backlog size")
    parser.add_argument("--sustained-seconds", type=float, default=10)
    parser.add_argument("--samples", type=int, default=200, help="idle latency samples")
    parser.add_argument("--database", default="webhooks_bench")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"))
    args = parser.parse_args()

    port, ready = multiprocessing.Value("i", 0), multiprocessing.Event()
    receiver_process = multiprocessing.Process(target=_receiver_main, args=(port, ready), daemon=True)
    receiver_process.start()
    ready.wait(10)
    receiver = f"http://127.0.0.1:{port.value}"

    database_url = fresh_postgres_database(args.database)
    env = clean_env(
        DJANGO_SECRET_KEY=SECRET_KEY,
        DATABASE_URL=database_url,
        REDIS_URL=args.redis_url,
        WEBHOOK_ALLOW_PRIVATE_URLS="1",
        LOG_LEVEL="WARNING",
    )
    migrate = manage("migrate", "--noinput", "-v0", env=env)
    assert migrate.returncode == 0, migrate.stderr
    purge = run([str(VENV_BIN / "celery"), "-A", "config", "purge", "-f"], env=env)
    assert purge.returncode == 0, purge.stderr

    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.conf import settings

    from config.celery import app
    from events.models import WebhookDelivery
    from events.services import webhook_endpoint_create
    from merchants.services import merchant_create

    merchant = merchant_create(name="Bench")
    endpoint = webhook_endpoint_create(merchant=merchant, url=f"{receiver}/hooks")
    _post(f"{receiver}/_secret", endpoint.secret.encode())

    from pathlib import Path
    from tempfile import mkdtemp

    log_path = Path(mkdtemp(prefix="bench-webhooks-")) / "worker.log"
    worker = _start_worker(env, log_path)
    try:
        _wait_ready(log_path, worker)
        # Warm-up: connections, imports, caches.
        _record(merchant, 200)
        _wait_for(receiver, 200, timeout=60)
        _get(f"{receiver}/_reset")

        # 1. Backlog: the outbox fills with no drain running, then one drain is queued.
        settings.EVENTS_DRAIN_ON_COMMIT = False
        _record(merchant, args.events)
        cpu_before = _cpu_seconds(worker.pid)
        began = time.time()
        app.send_task("events.drain_outbox")
        seen = _wait_for(receiver, args.events, timeout=600)
        worker_cpu = _cpu_seconds(worker.pid) - cpu_before
        arrivals = _get(f"{receiver}/_reset")
        backlog_seconds = max(arrivals.values()) - began
        backlog = {
            "events": seen["events"],
            "per_second": seen["events"] / backlog_seconds,
            "bad": seen["bad"],
            "seconds": backlog_seconds,
            "cpu_ms": worker_cpu * 1000 / max(1, seen["events"]),
        }

        # 2. Sustained: commits (each queuing a drain) while the worker delivers.
        settings.EVENTS_DRAIN_ON_COMMIT = True
        committed: list[tuple[str, float]] = []
        stop_at = time.monotonic() + args.sustained_seconds
        while time.monotonic() < stop_at:
            committed += _record(merchant, 50)
        produced_seconds = committed[-1][1] - committed[0][1]
        seen = _wait_for(receiver, len(committed), timeout=600)
        arrivals = _get(f"{receiver}/_reset")
        sustained_seconds = max(arrivals.values()) - committed[0][1]
        lags = [arrivals[event_id] - at for event_id, at in committed if event_id in arrivals]
        sustained = {
            "events": seen["events"],
            "committed": len(committed),
            "commit_rate": len(committed) / produced_seconds,
            "per_second": seen["events"] / sustained_seconds,
            "p50_lag": percentile(lags, 0.5),
            "p99_lag": percentile(lags, 0.99),
            "bad": seen["bad"],
        }

        # 3. Idle latency: one event at a time, each once the previous one has arrived.
        committed = []
        for _ in range(args.samples):
            committed += _record(merchant, 1)
            _wait_for(receiver, len(committed), timeout=10)
            time.sleep(0.05)
        arrivals = _get(f"{receiver}/_reset")
        latencies = [arrivals[event_id] - at for event_id, at in committed if event_id in arrivals]
        pending = WebhookDelivery.objects.exclude(status="succeeded").count()
    finally:
        stop(worker)
        receiver_process.terminate()

    print(f"machine: {machine()}")
    print(
        "setup: PostgreSQL, Redis broker, ONE celery worker process (--concurrency 1), receiver in its own "
        "process verifying every signature with standardwebhooks"
    )
    print(
        f"backlog: {backlog['events']} events in {backlog['seconds']:.2f} s = {backlog['per_second']:.0f} events/s "
        f"(bad signatures: {backlog['bad']}); worker CPU {backlog['cpu_ms']:.2f} ms/event"
    )
    print(
        f"sustained: {sustained['committed']} events committed at {sustained['commit_rate']:.0f}/s, delivered at "
        f"{sustained['per_second']:.0f}/s; commit → arrival p50 {sustained['p50_lag'] * 1000:.0f} ms, "
        f"p99 {sustained['p99_lag'] * 1000:.0f} ms (bad signatures: {sustained['bad']})"
    )
    print(
        f"idle: commit → arrival p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms over {len(latencies)} events; "
        f"mean {statistics.fmean(latencies) * 1000 if latencies else float('nan'):.1f} ms"
    )
    print(f"deliveries not succeeded at the end: {pending}")


if __name__ == "__main__":
    main()
