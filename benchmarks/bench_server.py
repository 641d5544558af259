"""The HTTP server's own cost: web CPU per request on a trivial authenticated GET, gunicorn against granian.

Migrates a fresh PostgreSQL database, creates a merchant and one payment (not confirmed: no processor is called),
then, for each server in turn (alternated, ``--rounds`` times), starts the web process as ``make bench`` does
(``bench_payments.start_web``: the Procfile's workers and threads, the access log on and masked) and drives
``GET /api/v1/payments/<id>`` with its API key through wrk (``--connections``, ``--seconds``). Per server and
round it prints answers/s and the CPU per answer of the web (its process tree) and of PostgreSQL (the bench
database's backends and the server's auxiliary processes), from /proc over the measured window; then the medians.

Every answer goes through the whole middleware stack, DRF's authentication (one read of the key) and one read
of the payment: what is left of the web's CPU per request is mostly the
server's and Django's own.

With ``--anonymous`` the request carries no key (a 401 from DRF, counted as an error by wrk): the cheapest answer
through the middleware, closest to the server's own cost.

    .venv/bin/python -m benchmarks.bench_server [--rounds 3] [--seconds 8] [--connections 32] [--anonymous]
"""

import argparse
import re
import statistics
import subprocess

from benchmarks.bench_payments import start_web
from benchmarks.common import (
    CpuMeter,
    free_port,
    fresh_postgres_database,
    machine,
    migrate_with_merchant,
    platform_env,
    postgres_processes,
    process_tree,
    stop,
    wait_for_http,
)
from tests.sandbox_process import SandboxProcess


def drive(url: str, api_key: str | None, seconds: float, connections: int, groups: dict) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", url]
    command += ["-H", f"Authorization: Bearer {api_key}"] if api_key else []
    meter = CpuMeter(groups).start()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = meter.stop()
    answered = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"answers": answered, "errors": int(failed.group(1)) if failed else 0, "seconds": meter.seconds, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--servers", default="gunicorn,granian")
    parser.add_argument("--database", default="payments_bench_server")
    parser.add_argument(
        "--anonymous",
        action="store_true",
        help="GET /api/v1/payments without a key instead: DRF's 401, the cheapest answer through the middleware",
    )
    args = parser.parse_args()

    database_url = fresh_postgres_database(args.database)
    results: dict[str, list[dict]] = {server: [] for server in args.servers.split(",")}
    with SandboxProcess() as sandbox:
        env = platform_env(database_url=database_url, processor_url=sandbox.base_url)
        api_key = migrate_with_merchant(env)
        payment_id = None
        for _ in range(args.rounds):
            for server in results:
                port = free_port()
                web = start_web(server, port, env, sandbox.directory / "web.log", args.web_workers, args.web_threads)
                try:
                    base = f"http://127.0.0.1:{port}"
                    wait_for_http(f"{base}/healthz", process=web)
                    if payment_id is None:
                        import requests

                        body = {
                            "amount": 1999,
                            "currency": "USD",
                            "payment_method": {"type": "card", "token": "tok_visa"},
                        }
                        answer = requests.post(
                            f"{base}/api/v1/payments",
                            json=body,
                            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "bench-server-get"},
                            timeout=30,
                        )
                        payment_id = answer.json()["id"]
                    groups = {
                        "web": lambda web=web: process_tree(web.pid),
                        "PostgreSQL": lambda: postgres_processes(args.database),
                    }
                    url = f"{base}/api/v1/payments" if args.anonymous else f"{base}/api/v1/payments/{payment_id}"
                    key = None if args.anonymous else api_key
                    drive(url, key, 2, args.connections, groups)  # warm-up
                    result = drive(url, key, args.seconds, args.connections, groups)
                finally:
                    stop(web)
                results[server].append(result)
                per = max(1, result["answers"])
                print(
                    f"{server}: {result['answers'] / result['seconds']:.0f} answers/s, errors {result['errors']}, "
                    f"web {result['cpu']['web'] * 1000 / per:.3f} ms, PostgreSQL "
                    f"{result['cpu']['PostgreSQL'] * 1000 / per:.3f} ms, "
                    f"machine {result['cpu']['machine'] * 1000 / per:.3f} ms per answer",
                    flush=True,
                )
    print(f"machine: {machine()}")
    for server, rounds in results.items():
        web = statistics.median(r["cpu"]["web"] * 1000 / max(1, r["answers"]) for r in rounds)
        rate = statistics.median(r["answers"] / r["seconds"] for r in rounds)
        print(f"{server}: median {rate:.0f} answers/s, web CPU {web:.3f} ms per answer ({len(rounds)} rounds)")


if __name__ == "__main__":
    main()
