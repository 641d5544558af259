"""`make bench-inprocess`: what one create-and-confirm costs the web tier, measured in one process.

Migrates a fresh PostgreSQL database, starts the sandbox processor as its own process, then sends N
create-and-confirm requests (``POST /api/v1/payments`` with ``confirm: true``, ``tok_visa``, a fresh
``Idempotency-Key``) through Django's test client in this process, one after the other, and the same N
again with the same keys (idempotent replays). For each, per payment: this process's CPU over the
measured loop (after a warm-up), the SQL statements it sent, its transactions and their commits.

No network hop, no HTTP server, no concurrency: the figures are the write path's own, steady enough to
compare two commits (take the median of three runs).

    .venv/bin/python -m benchmarks.bench_inprocess [--payments 300] [--warm-up 30] [--redis-url redis://…/8]
"""

import argparse
import json
import os
import time
import uuid

from benchmarks.common import fresh_postgres_database, machine, migrate_with_merchant, platform_env
from tests.sandbox_process import SandboxProcess

BODY = json.dumps(
    {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}}
)


class StatementCounter:
    """A ``connection.execute_wrapper``: counts the statements sent, the transactions committed and the
    statements run in autocommit (each its own transaction).

    Django commits a transaction (the outermost ``atomic``) through the connection's ``commit``, not through a
    statement, so commits are counted by wrapping that method."""

    def __init__(self, connection):
        self.connection = connection
        self.show = False
        self.reset()
        self._commit = connection.commit
        connection.commit = self._counted_commit

    def _counted_commit(self):
        self.commits += 1
        if self.show:
            print("  COMMIT")
        return self._commit()

    def __call__(self, execute, sql, params, many, context):
        self.statements += 1
        if self.show:
            print(f"  {'autocommit' if not self.connection.in_atomic_block else 'atomic':10} {sql[:160]}")
        if not self.connection.in_atomic_block and self.connection.get_autocommit():
            self.autocommit_statements += 1
        return execute(sql, params, many, context)

    def reset(self) -> None:
        self.statements = 0
        self.commits = 0
        self.autocommit_statements = 0


def measure(client, keys: list[str], counter: StatementCounter, *, expect_status: int) -> dict:
    counter.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    for key in keys:
        response = client.post("/api/v1/payments", data=BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
        if response.status_code != expect_status or response.json()["status"] != "succeeded":
            raise SystemExit(f"unexpected answer {response.status_code}: {response.content[:500]!r}")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count = len(keys)
    return {
        "cpu_ms": cpu * 1000 / count,
        "wall_ms": wall * 1000 / count,
        "statements": counter.statements / count,
        "commits": counter.commits / count,
        "autocommit_statements": counter.autocommit_statements / count,
    }


def profile_loop(client, counter: StatementCounter, *, replay: bool, payments: int, save_to: str = "") -> None:
    """cProfile over one more loop of first requests (or of their replays): where the web tier's CPU goes
    (``save_to``: the profile kept in that file too, for ``python -m pstats``)."""
    import cProfile
    import pstats

    keys = [str(uuid.uuid4()) for _ in range(payments)]
    if replay:
        measure(client, keys, counter, expect_status=201)
    profiler = cProfile.Profile(time.process_time)  # CPU time, not the wall clock (waits on the database)
    profiler.enable()
    measure(client, keys, counter, expect_status=201)
    profiler.disable()
    if save_to:
        profiler.dump_stats(save_to)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument("--database", default="payments_bench_inprocess")
    parser.add_argument("--show-statements", action="store_true", help="print the SQL of one payment and one replay")
    parser.add_argument("--profile", choices=("first", "replay"), help="print cProfile's top functions of one loop")
    parser.add_argument("--profile-file", default="", help="with --profile: keep the profile in this file")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()

    database_url = fresh_postgres_database(args.database)
    with SandboxProcess(env={"SANDBOX_THREADS": "4"}) as sandbox:
        settings_env = platform_env(
            database_url=database_url,
            processor_url=sandbox.base_url,
            DJANGO_SETTINGS_MODULE="config.settings",
            REDIS_URL=args.redis_url,
            PROCESSOR_NAMES="sandbox",
            DJANGO_ALLOWED_HOSTS="testserver",
        )
        api_key = migrate_with_merchant(settings_env)

        os.environ.clear()
        os.environ.update(settings_env)
        import django

        django.setup()
        from django.db import connection
        from django.test import Client

        client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        counter = StatementCounter(connection)
        with connection.execute_wrapper(counter):
            warm_keys = [str(uuid.uuid4()) for _ in range(args.warm_up)]
            measure(client, warm_keys, counter, expect_status=201)
            measure(client, warm_keys, counter, expect_status=201)
            keys = [str(uuid.uuid4()) for _ in range(args.payments)]
            first = measure(client, keys, counter, expect_status=201)
            replay = measure(client, keys, counter, expect_status=201)
            if args.profile:
                profile_loop(
                    client,
                    counter,
                    replay=args.profile == "replay",
                    payments=args.payments,
                    save_to=args.profile_file,
                )
            if args.show_statements:
                counter.show = True
                key = str(uuid.uuid4())
                print("one create-and-confirm:")
                measure(client, [key], counter, expect_status=201)
                print("its replay:")
                measure(client, [key], counter, expect_status=201)
                counter.show = False

    print(f"machine: {machine()}")
    print("setup: Django's test client in one process, PostgreSQL, sandbox processor as its own process, Redis broker")
    for name, result in (("create-and-confirm", first), ("idempotent replay", replay)):
        print(
            f"{name}: {result['cpu_ms']:.2f} ms CPU, {result['statements']:.2f} statements, "
            f"{result['commits']:.2f} commits (+ {result['autocommit_statements']:.2f} statements in autocommit) "
            f"per payment (wall {result['wall_ms']:.2f} ms, {args.payments} payments)"
        )
    print(f"replay CPU ratio: {first['cpu_ms'] / replay['cpu_ms']:.1f}x cheaper")
    print("json: " + json.dumps({"first": first, "replay": replay}))


if __name__ == "__main__":
    main()
