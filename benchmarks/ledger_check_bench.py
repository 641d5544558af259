"""Time ``ledger_check`` over a ledger of 1,000,000 postings on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ledger_bench .venv/bin/python benchmarks/ledger_check_bench.py

The database must be PostgreSQL and its name must contain "bench": the script
creates it when missing, migrates it, and EMPTIES the ledger and merchant tables.
Data is generated in bulk SQL (``generate_series``), never row by row:

- 1,000 merchants, each with merchant_available and merchant_pending (USD), plus the platform accounts;
- 200,000 automatic captures (3 postings each)                       = 600,000 postings;
- 40,000 authorisations, each captured by a resolving entry (2 + 5)   = 280,000 postings;
- 15,000 refunds, each reserved then posted (2 + 4)                   =  90,000 postings;
- 15,000 authorisations still open (2)                                =  30,000 postings;
- a stand-in payments table (one succeeded payment per capture) for the "captured exactly once" check.

``--scale 0.1`` makes everything ten times smaller; ``--reuse`` keeps the data of a previous run.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "ledger-benchmark-only-secret-key-0123456789")

MERCHANTS = 1_000


def ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("DATABASE_URL must point at PostgreSQL.")
    name = config["NAME"]
    if "bench" not in name:
        sys.exit(f"Refusing to use database {name!r}: its name must contain 'bench' (it is emptied).")
    conninfo = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def timed(label: str, action):
    started = time.perf_counter()
    result = action()
    print(f"  {label:<52} {time.perf_counter() - started:7.2f} s")
    return result


def generate(scale: float) -> None:
    from django.db import connection, transaction

    from ledger.models import AccountCode, AccountType
    from merchants.models import Merchant

    charges, captured_auths = int(200_000 * scale), int(40_000 * scale)
    refunds, open_auths = int(15_000 * scale), int(15_000 * scale)

    def sql(statement: str, params=None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    with transaction.atomic():
        # The ledger's tables refuse TRUNCATE unless the transaction says so (ledger migration 0005).
        sql("SET LOCAL append_only.allow_truncate = 'on'")
        sql(
            "TRUNCATE ledger_posting, ledger_journalentry, ledger_account, ledger_ledgercheckrun, "
            "merchants_merchant RESTART IDENTITY CASCADE"
        )
        sql("DROP TABLE IF EXISTS ledger_bench_payment")
        # Bulk loading: skip per-row FK triggers for this session (the data is generated consistent).
        sql("SET LOCAL session_replication_role = replica")
        merchants = Merchant.objects.bulk_create(Merchant(name=f"Bench merchant {n}") for n in range(MERCHANTS))
        sql(
            "CREATE TEMP TABLE bench_map (n int PRIMARY KEY, merchant_id text, available text, pending text) "
            "ON COMMIT DROP"
        )
        rows = [(n, m.pk, f"acct_BA{n:08d}", f"acct_BP{n:08d}") for n, m in enumerate(merchants)]
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO bench_map VALUES (%s, %s, %s, %s)", rows)
        sql(
            "INSERT INTO ledger_account (id, type, code, currency, merchant_id, debits_must_not_exceed_credits, "
            "credits_must_not_exceed_debits, created) "
            "SELECT available, %s, %s, 'USD', merchant_id, false, false, now() FROM bench_map "
            "UNION ALL SELECT pending, %s, %s, 'USD', merchant_id, true, false, now() FROM bench_map "
            "UNION ALL VALUES ('acct_BRECEIVABLE', %s, %s, 'USD', NULL, false, false, now()), "
            "('acct_BFEES', %s, %s, 'USD', NULL, true, false, now())",
            [
                AccountType.LIABILITY,
                AccountCode.MERCHANT_AVAILABLE,
                AccountType.LIABILITY,
                AccountCode.MERCHANT_PENDING,
                AccountType.ASSET,
                AccountCode.PROCESSOR_RECEIVABLE,
                AccountType.REVENUE,
                AccountCode.FEE_REVENUE,
            ],
        )

        # One row per business object: i, its merchant, amount and fee (2.9 % + 30, at most the amount).
        series = (
            "SELECT i, m.merchant_id, m.available, m.pending, a.amount, "
            "LEAST(a.amount, (a.amount * 290 + 5000) / 10000 + 30) AS fee "
            "FROM generate_series(1, {n}) i JOIN bench_map m ON m.n = mod(i, " + str(MERCHANTS) + ") "
            "CROSS JOIN LATERAL (SELECT 100 + mod(i * 7919, 99900) AS amount) a"
        )

        def entries(kind: str, n: int, type_: str, status: str, source: str, pending_of: str | None = None):
            pending = f"'txn_{pending_of}' || lpad(i::text, 24, '0')" if pending_of else "NULL"
            sql(
                "INSERT INTO ledger_journalentry (id, event_key, type, source, merchant_id, currency, status, "
                "pending_entry_id, memo, created) "
                f"SELECT 'txn_{kind}' || lpad(i::text, 24, '0'), '{kind}:' || i, %s, '{source}' || i, merchant_id, "
                f"'USD', %s, {pending}, '', now() - (i || ' seconds')::interval FROM ({series.format(n=n)}) s",
                [type_, status],
            )

        def postings(kind: str, n: int, legs: list[tuple[str, str, str]]):
            values = ", ".join(f"({account}, {amount}, '{phase}')" for account, amount, phase in legs)
            sql(
                "INSERT INTO ledger_posting (entry_id, account_id, amount, phase, created) "
                f"SELECT 'txn_{kind}' || lpad(s.i::text, 24, '0'), leg.account, leg.amount, leg.phase, now() "
                f"FROM ({series.format(n=n)}) s CROSS JOIN LATERAL (VALUES {values}) AS leg(account, amount, phase)"
            )

        receivable, fees = "'acct_BRECEIVABLE'", "'acct_BFEES'"
        capture_legs = [
            (receivable, "s.amount", "posted"),
            ("s.available", "-(s.amount - s.fee)", "posted"),
            (fees, "-s.fee", "posted"),
        ]
        reservation = [(receivable, "s.amount", "pending"), ("s.pending", "-s.amount", "pending")]
        release = [(receivable, "-s.amount", "pending"), ("s.pending", "s.amount", "pending")]

        def load():
            entries("C", charges, "charge", "posted", "pay_C")
            # The fee of a 100 capture is 33 < 100, so no leg is ever zero.
            postings("C", charges, capture_legs)
            entries("A", captured_auths, "authorization", "posted", "pay_A")
            postings("A", captured_auths, reservation)
            entries("K", captured_auths, "charge", "posted", "pay_A", pending_of="A")
            postings("K", captured_auths, release + capture_legs)
            entries("R", refunds, "refund", "posted", "re_R")
            postings("R", refunds, [("s.available", "s.amount", "pending"), (receivable, "-s.amount", "pending")])
            entries("S", refunds, "refund", "posted", "re_R", pending_of="R")
            postings(
                "S",
                refunds,
                [
                    ("s.available", "-s.amount", "pending"),
                    (receivable, "s.amount", "pending"),
                    ("s.available", "s.amount", "posted"),
                    (receivable, "-s.amount", "posted"),
                ],
            )
            entries("O", open_auths, "authorization", "pending", "pay_O")
            postings("O", open_auths, reservation)
            # A stand-in for payments.Payment: one succeeded payment per capture.
            sql(
                "CREATE TABLE ledger_bench_payment (id varchar(40) PRIMARY KEY, merchant_id varchar(40), "
                "status varchar(32), amount_captured bigint, currency varchar(3))"
            )
            sql(
                "INSERT INTO ledger_bench_payment SELECT source, merchant_id, 'succeeded', amount, 'USD' FROM ("
                f"SELECT 'pay_C' || i AS source, merchant_id, amount FROM ({series.format(n=charges)}) s "
                f"UNION ALL SELECT 'pay_A' || i, merchant_id, amount FROM ({series.format(n=captured_auths)}) s) p"
            )

        timed("generate entries and postings (bulk SQL)", load)
    timed("ANALYZE", lambda: sql("ANALYZE"))


def use_stand_in_payments() -> None:
    """Point the payments check at the generated stand-in table (payments.Payment may not exist yet)."""
    from ledger import invariants

    columns = {
        "status": "status",
        "amount_captured": "amount_captured",
        "currency": "currency",
        "merchant": "merchant_id",
    }
    meta = SimpleNamespace(
        db_table="ledger_bench_payment",
        pk=SimpleNamespace(column="id"),
        get_field=lambda name: SimpleNamespace(column=columns[name]),
    )
    real = invariants.apps.get_model

    def get_model(app_label, model_name=None, **kwargs):
        if (app_label, model_name) == ("payments", "Payment"):
            return SimpleNamespace(_meta=meta)
        return real(app_label, model_name, **kwargs)

    invariants.apps.get_model = get_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 postings")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL=postgres://…/ledger_bench")
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from ledger.invariants import run_checks

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}, database {connection.settings_dict['NAME']}")
    if not args.reuse:
        generate(args.scale)
    use_stand_in_payments()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM ledger_posting), (SELECT COUNT(*) FROM ledger_journalentry), "
            "(SELECT COUNT(*) FROM ledger_account), (SELECT COUNT(*) FROM ledger_bench_payment)"
        )
        postings, entries, accounts, payments = cursor.fetchone()
    print(f"ledger: {postings:,} postings, {entries:,} entries, {accounts:,} accounts, {payments:,} payments")

    timings = []
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        report = run_checks()
        timings.append(time.perf_counter() - started)
        print(f"run {run}: {timings[-1]:.2f} s, ok={report.ok}")
        if run == 1:
            for result in report.results:
                print(f"    {result.name:<24} {result.status:<8} {result.seconds:6.2f} s")
            if not report.ok:
                sys.exit(f"ledger_check failed on generated data: {report.as_dict()}")
    best, median = min(timings), statistics.median(timings)
    print(f"ledger_check over {postings:,} postings: best {best:.2f} s, median {median:.2f} s")


if __name__ == "__main__":
    main()
