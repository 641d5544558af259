"""Reconciling a settlement report of 1,000,000 charge lines against 1,000,000 ledger entries, on PostgreSQL.

    .venv/bin/python -m benchmarks.bench_recon [--lines 1000000] [--runs 2]

Set-up, in a fresh database (``recon_bench`` unless ``--database``; ``fresh_postgres_database``), all in
bulk SQL (``generate_series``) and ``COPY``, never the ORM row by row:

- 1,000 merchants, the platform's processor_receivable and fee_revenue accounts, one
  merchant_available account per merchant (USD);
- N succeeded payments (``payments_payment``: the matching joins it for lines with no
  ledger event), N ``charge`` journal entries spread over yesterday (UTC), each with
  its three posted postings (Dr receivable, Cr merchant, Cr fee);
- the processor's report of yesterday as a CSV file of N charge lines, written by
  ``COPY … TO STDOUT``, with the sandbox's fees; one line in 1,000 has another amount
  and one in 2,000 another fee, so the run finds and writes some exceptions.

Then, timed:

1. ``reconcile --date <yesterday> --file <csv> --json`` (the real service: streaming
   validation, ``COPY`` into the staging table, the ledger side staged with one
   ``INSERT … SELECT``, matching by joins, exceptions written), run ``--runs`` times
   (every run after the first replaces the previous one's import);
2. the baseline: the same file loaded with plain ``COPY`` into a temporary table, and
   one hand-written join of it against the day's ledger entries.

Targets: reconcile under 60 s on a 2-core machine, and within 3× the baseline.
"""

import argparse
import datetime
import io
import json
import os
import time
from pathlib import Path

from benchmarks.common import django_on_bench_database, machine, sql, timed

MERCHANTS = 1_000


def _series(n: int, day: datetime.date) -> tuple[str, dict]:
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    # One row per object i: its merchant, amount, the platform fee (2.9 % + 30) and the processor's fee
    # (2.5 % rounded half to even + 25, as the sandbox computes it).
    series = (
        "SELECT i, m.merchant_id, m.available, a.amount, "
        "(a.amount * 290 + 5000) / 10000 + 30 AS platform_fee, "
        "(a.amount * 250) / 10000 + CASE WHEN 2 * mod(a.amount * 250, 10000) > 10000 OR "
        "(2 * mod(a.amount * 250, 10000) = 10000 AND mod((a.amount * 250) / 10000, 2) = 1) THEN 1 ELSE 0 END "
        "+ 25 AS processor_fee, "
        "%(start)s::timestamptz + (i * (86399000.0 / %(n)s)) * interval '1 millisecond' AS created "
        "FROM generate_series(1, %(n)s) i JOIN bench_map m ON m.n = mod(i, " + str(MERCHANTS) + ") "
        "CROSS JOIN LATERAL (SELECT 100 + mod(i::bigint * 7919, 99900) AS amount) a"
    )
    return series, {"start": start, "n": n}


def _payment_columns(explicit: dict[str, str]) -> tuple[str, str, dict]:
    """The columns of ``payments_payment`` to insert: ``explicit`` SQL per column, every other NOT NULL column
    with its model default as a parameter (so the benchmark keeps up as the model grows)."""
    from django.db import connection

    from payments.models import Payment

    with connection.cursor() as cursor:
        existing = {
            column.name for column in connection.introspection.get_table_description(cursor, "payments_payment")
        }
    columns, values, defaults = [], [], {}
    for field in Payment._meta.concrete_fields:
        if field.column not in existing:
            continue
        if field.column in explicit:
            columns.append(field.column)
            values.append(explicit[field.column])
        elif not field.null:
            if not field.has_default():
                raise SystemExit(f"payments_payment.{field.column} needs a value in the benchmark")
            columns.append(field.column)
            values.append(f"%(default_{field.column})s")
            defaults[f"default_{field.column}"] = field.get_db_prep_save(field.get_default(), connection)
    return ", ".join(columns), ", ".join(values), defaults


def generate_report(n: int, day: datetime.date, report: Path) -> None:
    """The processor's report of ``day``: one line in 1,000 settles another amount, one in 2,000 another fee."""
    from django.db import connection

    series, params = _series(n, day)
    sql(
        "CREATE TEMP TABLE IF NOT EXISTS bench_map AS SELECT row_number() OVER (ORDER BY a.id) - 1 AS n, "
        "a.merchant_id, a.id AS available FROM ledger_account a WHERE a.code = 'merchant_available'"
    )
    query = (
        "COPY (SELECT %(day)s::date, 'charge', 'ch_B' || lpad(i::text, 24, '0'), "
        "'pay_B' || lpad(i::text, 24, '0'), 'USD', amount + d_amount, processor_fee + d_fee, "
        "amount + d_amount - processor_fee - d_fee FROM ("
        "SELECT s.*, CASE WHEN mod(i, 1000) = 0 THEN 1 ELSE 0 END AS d_amount, "
        f"CASE WHEN mod(i, 2000) = 1 THEN 1 ELSE 0 END AS d_fee FROM ({series}) s) t ORDER BY i) "
        "TO STDOUT WITH (FORMAT csv)"
    )
    connection.ensure_connection()
    with open(report, "wb") as out, connection.connection.cursor() as cursor:
        out.write(b"settlement_date,type,processor_id,reference,currency,amount,fee,net\n")
        with cursor.copy(query, {**params, "day": day}) as copy:
            for block in copy:
                out.write(block)


def generate(n: int, day: datetime.date, report: Path) -> None:
    from django.conf import settings
    from django.db import connection, transaction

    from ledger.models import AccountCode, AccountType
    from merchants.models import Merchant

    series, params = _series(n, day)

    def load():
        with transaction.atomic():
            # Bulk loading: no per-row foreign-key triggers for this session (the data is generated consistent).
            sql("SET LOCAL session_replication_role = replica")
            merchants = Merchant.objects.bulk_create(Merchant(name=f"Bench merchant {k}") for k in range(MERCHANTS))
            sql("CREATE TEMP TABLE bench_map (n int PRIMARY KEY, merchant_id text, available text)")
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO bench_map VALUES (%s, %s, %s)",
                    [(k, m.pk, f"acct_BA{k:08d}") for k, m in enumerate(merchants)],
                )
            sql(
                "INSERT INTO ledger_account (id, type, code, currency, merchant_id, debits_must_not_exceed_credits, "
                "credits_must_not_exceed_debits, created) "
                "SELECT available, %s, %s, 'USD', merchant_id, false, false, now() FROM bench_map "
                "UNION ALL VALUES ('acct_BRECEIVABLE', %s, %s, 'USD', NULL, false, false, now()), "
                "('acct_BFEES', %s, %s, 'USD', NULL, true, false, now())",
                [
                    AccountType.LIABILITY,
                    AccountCode.MERCHANT_AVAILABLE,
                    AccountType.ASSET,
                    AccountCode.PROCESSOR_RECEIVABLE,
                    AccountType.REVENUE,
                    AccountCode.FEE_REVENUE,
                ],
            )
            columns, values, defaults = _payment_columns(
                {
                    "id": "'pay_B' || lpad(i::text, 24, '0')",
                    "merchant_id": "merchant_id",
                    "amount": "amount",
                    "currency": "'USD'",
                    "status": "'succeeded'",
                    "capture_method": "'automatic'",
                    "amount_captured": "amount",
                    "payment_method_type": "'card'",
                    "card_token": "'tok_bench'",
                    "card_brand": "'visa'",
                    "card_last4": "'4242'",
                    "card_exp_month": "12",
                    "card_exp_year": "2030",
                    "processor_charge_id": "'ch_B' || lpad(i::text, 24, '0')",
                    "processor_attempts": "1",
                    # The processor ``reconcile`` reconciles when none is named: its report is the one generated.
                    "processor": "%(processor)s",
                    "created": "created",
                    "updated": "created",
                }
            )
            sql(
                f"INSERT INTO payments_payment ({columns}) SELECT {values} FROM ({series}) s",
                {**params, **defaults, "processor": settings.PROCESSOR_DEFAULT},
            )
            sql(
                "INSERT INTO ledger_journalentry (id, event_key, type, source, merchant_id, currency, status, "
                "pending_entry_id, memo, created) "
                "SELECT 'txn_B' || lpad(i::text, 24, '0'), 'payment.captured:pay_B' || lpad(i::text, 24, '0'), "
                f"'charge', 'pay_B' || lpad(i::text, 24, '0'), merchant_id, 'USD', 'posted', NULL, '', created "
                f"FROM ({series}) s",
                params,
            )
            sql(
                "INSERT INTO ledger_posting (entry_id, account_id, amount, phase, created) "
                "SELECT 'txn_B' || lpad(s.i::text, 24, '0'), leg.account, leg.amount, 'posted', s.created "
                f"FROM ({series}) s CROSS JOIN LATERAL (VALUES ('acct_BRECEIVABLE', s.amount), "
                "(s.available, -(s.amount - s.platform_fee)), ('acct_BFEES', -s.platform_fee)) AS leg(account, amount)",
                params,
            )

    timed(f"generate {MERCHANTS:,} merchants, {n:,} payments, entries, {3 * n:,} postings", load)
    timed(f"write the report ({n:,} lines) with COPY … TO STDOUT", lambda: generate_report(n, day, report))
    # As an older ledger would be: vacuumed (hint bits and visibility set) and analysed, and the generation's
    # writes checkpointed, so the first timed run does not pay for the set-up's I/O.
    timed("VACUUM (ANALYZE), CHECKPOINT", lambda: (sql("VACUUM (ANALYZE)"), sql("CHECKPOINT")))
    print(f"  report: {report} ({report.stat().st_size / 1e6:.1f} MB)")


def reconcile(day: datetime.date, report: Path) -> tuple[float, float, dict, dict]:
    """One run of ``reconcile``; returns its seconds, the CPU seconds of this process (not PostgreSQL's), its JSON
    line and the time of each phase."""
    from django.core.management import call_command

    from reconciliation import matching

    phases: dict[str, float] = {}
    originals = {
        name: getattr(matching, name)
        for name in ("lines_replace", "internal_build", "findings_collect", "exceptions_replace")
    }

    def clocked(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = time.perf_counter() - started

        return wrapper

    for name, function in originals.items():
        setattr(matching, name, clocked(name, function))
    out = io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        call_command("reconcile", "--date", day.isoformat(), "--file", str(report), "--json", stdout=out)
    finally:
        for name, function in originals.items():
            setattr(matching, name, function)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return seconds, cpu, json.loads(out.getvalue().strip().splitlines()[-1]), phases


def baseline(day: datetime.date, report: Path) -> tuple[float, tuple]:
    """Plain COPY of the file into a temporary table, then one hand-written join against the day's ledger."""
    from django.db import connection, transaction

    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    started = time.perf_counter()
    with transaction.atomic():
        sql(
            "CREATE TEMP TABLE baseline_line (settlement_date date, type text, processor_id text, reference text, "
            "currency varchar(3), amount bigint, fee bigint, net bigint) ON COMMIT DROP"
        )
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, open(report, "rb") as file:
            with cursor.copy("COPY baseline_line FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
                while block := file.read(1 << 20):
                    copy.write(block)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FILTER (WHERE l.amount = i.amount AND l.currency = i.currency), "
                "COUNT(*) FILTER (WHERE l.amount <> i.amount OR l.currency <> i.currency), "
                "COUNT(*) FILTER (WHERE i.source IS NULL), COUNT(*) FILTER (WHERE l.reference IS NULL) "
                "FROM baseline_line l FULL JOIN ("
                "  SELECT e.source, e.currency, SUM(p.amount) AS amount FROM ledger_journalentry e "
                "  JOIN ledger_posting p ON p.entry_id = e.id AND p.phase = 'posted' "
                "  JOIN ledger_account a ON a.id = p.account_id AND a.code = 'processor_receivable' "
                "  WHERE e.type = 'charge' AND e.status = 'posted' AND e.created >= %s AND e.created < %s "
                "  GROUP BY e.source, e.currency) i ON i.source = l.reference AND l.type = 'charge'",
                [start, start + datetime.timedelta(days=1)],
            )
            figures = cursor.fetchone()
    return time.perf_counter() - started, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="reconcile runs (each after the first replaces it)")
    parser.add_argument("--baseline-runs", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run generated")
    parser.add_argument("--database", default="recon_bench", help="the database to (re)create and use")
    args = parser.parse_args()

    django_on_bench_database(args.database, reuse=args.reuse, label="recon")
    from django.core.management import call_command
    from django.db import connection

    print(f"machine: {machine()}")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}, database {args.database}")
    day = datetime.datetime.now(tz=datetime.UTC).date() - datetime.timedelta(days=1)
    report = Path(os.environ["VAR_DIR"]) / f"settlement-{day}.csv"
    report.parent.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        # Only the report is written again (it is deleted after each run); the runs' imports are replaced.
        generate_report(args.lines, day, report)
    else:
        generate(args.lines, day, report)

    runs = []
    for number in range(1, args.runs + 1):
        seconds, cpu, result, phases = reconcile(day, report)
        runs.append(seconds)
        kind = "first run" if number == 1 else "re-run (replaces the previous import)"
        print(f"reconcile run {number} ({kind}): {seconds:.2f} s (CPU of this process {cpu:.2f} s)")
        print(f"    -> {json.dumps(result)}")
        print("    " + ", ".join(f"{name} {value:.2f} s" for name, value in phases.items()))
    bases = []
    for number in range(1, args.baseline_runs + 1):
        seconds, figures = baseline(day, report)
        bases.append(seconds)
        print(
            f"baseline run {number}: {seconds:.2f} s  (matched, mismatched, lines without entry, entries without "
            f"line) = {figures}"
        )
    first, base = runs[0], min(bases)
    print(
        f"\nreconcile {args.lines:,} lines (first run{', after --reuse: a re-run' if args.reuse else ''}): "
        f"{first:.2f} s (target < 60 s: {'ok' if first < 60 else 'MISSED'})"
    )
    if len(runs) > 1:
        print(
            f"re-runs of the same day (each deletes and replaces the previous import): "
            f"{', '.join(f'{seconds:.2f} s' for seconds in runs[1:])}"
        )
    print(f"baseline (COPY + one join): best of {len(bases)}: {base:.2f} s")
    print(f"ratio: {first / base:.2f}x (target <= 3x: {'ok' if first <= 3 * base else 'MISSED'})")
    report.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
