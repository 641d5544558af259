"""`make bench-sandbox`: the sandbox processor's own CPU per charge (issue 14: ≤ 1.5 ms).

Starts the sandbox as its own process (``tests.sandbox_process.SandboxProcess``: ``python -m sandbox``, a
fresh SQLite database, the server it runs in production), then sends authorisations with automatic capture of
``tok_visa`` through the platform's own adapter (``gateways.sandbox_acquirer.client.SandboxProcessor``): the
same path, headers, JSON body and one ``pay_…:authorize`` idempotency key per charge, as create-and-confirm
sends them, from a few client threads over the adapter's pooled keep-alive connections.

It prints, per charge, the CPU (user + system, from /proc/<pid>/stat) the sandbox's process tree (the server
and its workers) spent over the measured window only, and the charges per second; then the same for token
retrievals (``GET /v1/tokens/tok_visa``), which the platform makes once per token and processor every five
minutes (``payments.methods.card`` caches the answer in Redis), not per payment. Each run starts a fresh
sandbox; the summary gives the median of ``--runs``.

    .venv/bin/python -m benchmarks.bench_sandbox [--charges 3000] [--threads 4] [--runs 3]
"""

import argparse
import os
import statistics
import threading
import time
import uuid

os.environ["DJANGO_SETTINGS_MODULE"] = "config.test_settings"

from benchmarks.common import CpuMeter, machine, process_tree  # noqa: E402

WARM_UP = 200


def _payment_id() -> str:
    return "pay_" + uuid.uuid4().hex[:26].upper()


def _drive(calls: int, threads: int, call) -> float:
    """Make ``calls`` calls of ``call(n)`` from ``threads`` threads; returns the wall seconds it took."""
    counter = iter(range(calls))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            try:
                call(n)
            except BaseException as error:  # noqa: BLE001 - reported after the run
                failures.append(error)
                return

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} calls failed, the first: {failures[0]!r}")
    return time.monotonic() - started


def _measure(sandbox_pid: int, calls: int, threads: int, call) -> tuple[float, float]:
    """(sandbox CPU ms per call, calls per second) over ``calls`` calls."""
    meter = CpuMeter({"sandbox": lambda: process_tree(sandbox_pid)}).start()
    seconds = _drive(calls, threads, call)
    spent = meter.stop()
    return spent["sandbox"] * 1000 / calls, calls / seconds


def one_run(*, charges: int, tokens: int, threads: int) -> dict[str, float]:
    from gateways.base import Charge
    from gateways.sandbox_acquirer.client import SandboxProcessor
    from tests.sandbox_process import SandboxProcess

    with SandboxProcess() as sandbox:
        adapter = SandboxProcessor(
            "sandbox", base_url=sandbox.base_url, api_key=sandbox.api_key, connect_timeout=2.0, read_timeout=30.0
        )

        def authorize(n: int) -> None:
            payment_id = _payment_id()
            charge = adapter.authorize(
                reference=payment_id,
                amount=1999,
                currency="USD",
                token="tok_visa",
                capture=True,
                idempotency_key=f"{payment_id}:authorize",
            )
            assert isinstance(charge, Charge) and charge.status == "captured", charge

        def retrieve_token(n: int) -> None:
            adapter.retrieve_token("tok_visa")

        _drive(WARM_UP, threads, authorize)
        charge_cpu, charge_rate = _measure(sandbox.pid, charges, threads, authorize)
        token_cpu, token_rate = _measure(sandbox.pid, tokens, threads, retrieve_token)
    return {"charge_cpu": charge_cpu, "charge_rate": charge_rate, "token_cpu": token_cpu, "token_rate": token_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charges", type=int, default=3000)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4, help="client threads (the adapter's pooled connections)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{args.charges} charges (tok_visa, capture) and {args.tokens} token retrievals, {args.threads} threads")
    results = []
    for run in range(1, args.runs + 1):
        result = one_run(charges=args.charges, tokens=args.tokens, threads=args.threads)
        results.append(result)
        print(
            f"run {run}: sandbox CPU {result['charge_cpu']:.3f} ms/charge, {result['charge_rate']:.0f} charges/s; "
            f"{result['token_cpu']:.3f} ms/token retrieval, {result['token_rate']:.0f}/s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    median = {name: statistics.median(result[name] for result in results) for name in results[0]}
    print(
        f"median of {args.runs}: sandbox CPU {median['charge_cpu']:.3f} ms/charge, "
        f"{median['charge_rate']:.0f} charges/s; {median['token_cpu']:.3f} ms/token retrieval "
        f"(not per payment: the platform caches a token's card)"
    )


if __name__ == "__main__":
    main()
