"""What one /metrics scrape costs with many payments in the database, on PostgreSQL.

    .venv/bin/python -m benchmarks.bench_metrics [--payments 100000] [--scrapes 20] [--database metrics_bench]

Set-up, in a fresh database (``fresh_postgres_database``), in bulk SQL (``generate_series``), never row by row:

- 100 merchants; N payments over 30 days in every status (80 % succeeded, 8 % failed, 5 % canceled, 3 %
  requires_capture, 2 % requires_confirmation, 1 % requires_action, 1 % processing, half of those older than the
  resolver's delay; 1 in 500 of the requires_capture ones with a capture sent and unanswered);
- N events (all but 200 published) and N webhook deliveries (all but 300 finished);
- N/100 payouts in every status, N/20 maturing-funds rows (a tenth due), 500 open reconciliation exceptions
  and N/100 resolved ones. Foreign keys are not checked while loading (the rows only need to be counted).

Then ``ANALYZE`` and, timed: ``core.metrics.metrics_exposition()`` (the whole scrape: in-process metrics and
every database collector) ``--scrapes`` times, with each collector's own duration from the scrape itself.
"""

import argparse
import datetime
import statistics
import time

from benchmarks.common import django_on_bench_database, machine, sql

MERCHANTS = 100

# (status, share of payments in per mille)
PAYMENT_STATUSES = (
    ("succeeded", 800),
    ("failed", 80),
    ("canceled", 50),
    ("requires_capture", 30),
    ("requires_confirmation", 20),
    ("requires_action", 10),
    ("processing", 10),
)


def columns_of(model, explicit: dict[str, str]) -> tuple[str, str, dict]:
    """``model``'s columns to insert: ``explicit`` SQL per column, every other NOT NULL column with its model
    default as a parameter (so the benchmark keeps up as the models grow)."""
    from django.db import connection

    columns, values, defaults = [], [], {}
    for field in model._meta.concrete_fields:
        if field.primary_key and field.get_internal_type() in ("AutoField", "BigAutoField"):
            continue  # the sequence
        if field.column in explicit:
            columns.append(field.column)
            values.append(explicit[field.column])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns.append(field.column)
            values.append("now()")
        elif not field.null:
            if not field.has_default():
                raise SystemExit(f"{model._meta.db_table}.{field.column} needs a value in the benchmark")
            columns.append(field.column)
            values.append(f"%(default_{field.column})s")
            default = field.get_default()
            defaults[f"default_{field.column}"] = field.get_db_prep_save(default, connection)
    return ", ".join(columns), ", ".join(values), defaults


def insert(model, n: int, explicit: dict[str, str], params: dict | None = None) -> None:
    columns, values, defaults = columns_of(model, explicit)
    sql(
        f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {values} FROM generate_series(1::bigint, %(n)s) i "
        "JOIN bench_merchant m ON m.k = mod(i, " + str(MERCHANTS) + ")",
        {**defaults, **(params or {}), "n": n},
    )


def status_case(statuses) -> str:
    """A CASE choosing each row's status by ``mod(i, 1000)`` from (status, per mille) pairs."""
    branches, upto = [], 0
    for status, share in statuses:
        upto += share
        branches.append(f"WHEN mod(i, 1000) < {upto} THEN '{status}'")
    return "CASE " + " ".join(branches) + f" ELSE '{statuses[0][0]}' END"


def generate(n: int) -> None:
    from django.db import transaction

    from events.models import Event, WebhookDelivery, WebhookEndpoint
    from ledger.models import MaturingFunds
    from merchants.models import Merchant
    from payments.models import Payment
    from payouts.models import Payout
    from reconciliation.models import ExceptionType, ReconciliationException, ReconciliationRun

    now = datetime.datetime.now(tz=datetime.UTC)
    spread = "now() - (mod(i * 7919, 2592000) * interval '1 second')"  # over the last 30 days
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")  # no foreign-key triggers while loading
        merchants = Merchant.objects.bulk_create(Merchant(name=f"Metrics bench {k}") for k in range(MERCHANTS))
        sql("CREATE TEMP TABLE bench_merchant (k int PRIMARY KEY, merchant_id text)")
        for k, merchant in enumerate(merchants):
            sql("INSERT INTO bench_merchant VALUES (%s, %s)", [k, merchant.pk])
        status = status_case(PAYMENT_STATUSES)
        insert(
            Payment,
            n,
            {
                "id": "'pay_M' || lpad(i::text, 24, '0')",
                "merchant_id": "m.merchant_id",
                "amount": "100 + mod(i * 7919, 99900)",
                "currency": "'USD'",
                "status": status,
                "capture_method": "'automatic'",
                "payment_method_type": "'card'",
                "card_token": "'tok_bench'",
                "processor": "'sandbox'",
                # Processing: half since a minute ago (in its processor call), half since an hour ago (backlog)
                "processing_since": f"CASE WHEN {status} = 'processing' THEN now() - "
                "(CASE WHEN mod(i, 2) = 0 THEN interval '1 hour' ELSE interval '1 second' END) END",
                "processor_operation_pending_since": f"CASE WHEN {status} = 'requires_capture' AND mod(i, 500) = 7 "
                "THEN now() - interval '10 minutes' END",
                "authorized_at": f"CASE WHEN {status} = 'requires_capture' THEN {spread} END",
                "requires_action_since": f"CASE WHEN {status} = 'requires_action' THEN {spread} END",
                "created": spread,
                "updated": spread,
            },
        )
        endpoint = WebhookEndpoint.objects.create(merchant=merchants[0], url="https://example.com/hook", secret="x")
        insert(
            Event,
            n,
            {
                "id": "'evt_M' || lpad(i::text, 24, '0')",
                "merchant_id": "m.merchant_id",
                "type": "'payment.succeeded'",
                "payload": "'{}'",
                "created": spread,
                "published_at": f"CASE WHEN i > 200 THEN {spread} END",
            },
        )
        insert(
            WebhookDelivery,
            n,
            {
                "id": "'whd_M' || lpad(i::text, 24, '0')",
                "event_id": "'evt_M' || lpad(i::text, 24, '0')",
                "endpoint_id": "%(endpoint)s",
                "status": "CASE WHEN i <= 300 THEN 'pending' WHEN mod(i, 50) = 0 THEN 'failed' ELSE 'succeeded' END",
                "next_attempt_at": spread,
                "created": spread,
            },
            {"endpoint": endpoint.pk},
        )
        insert(
            Payout,
            n // 100,
            {
                "id": "'po_M' || lpad(i::text, 24, '0')",
                "merchant_id": "m.merchant_id",
                "amount": "1000",
                "currency": "'USD'",
                "destination_id": "'ba_bench'",
                "processor": "'sandbox'",
                "balance_transaction": "'txn_bench'",
                "requested_by": "'bench'",
                "status": "CASE WHEN mod(i, 10) < 7 THEN 'paid' WHEN mod(i, 10) < 8 THEN 'in_transit' "
                "WHEN mod(i, 10) < 9 THEN 'failed' ELSE 'pending' END",
                "sending_since": "CASE WHEN mod(i, 10) < 9 THEN now() END",
                "arrival_date": spread,
                "created": spread,
            },
        )
        insert(
            MaturingFunds,
            n // 20,
            {
                "entry_id": "'txn_M' || lpad(i::text, 24, '0')",
                "available_on": "now() + ((CASE WHEN mod(i, 10) = 0 THEN -1 ELSE 1 END) * mod(i, 86400)) "
                "* interval '1 second'",
            },
        )
        run = ReconciliationRun.objects.create(processor="sandbox", settlement_date=now.date())
        types = [(value, 1000 // len(ExceptionType.values)) for value in ExceptionType.values]
        insert(
            ReconciliationException,
            500 + n // 100,
            {
                "run_id": "%(run)s",
                "processor": "'sandbox'",
                "settlement_date": "current_date",
                "type": status_case(types),
                "line_type": "'charge'",
                "match_key": "'k' || i",
                "merchant_id": "m.merchant_id",
                "status": "CASE WHEN i <= 500 THEN 'open' ELSE 'resolved' END",
                "resolution": "CASE WHEN i <= 500 THEN '' ELSE 'explained' END",
                "resolved_at": "CASE WHEN i <= 500 THEN NULL ELSE now() END",
                "created": spread,
                "updated": spread,
            },
            {"run": run.pk},
        )
    sql("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run generated")
    parser.add_argument("--database", default="metrics_bench", help="the database to (re)create and use")
    args = parser.parse_args()

    django_on_bench_database(args.database, reuse=args.reuse, label="metrics", unset=("PROMETHEUS_MULTIPROC_DIR",))
    from django.core.management import call_command
    from prometheus_client.parser import text_string_to_metric_families

    from core.metrics import metrics_exposition

    print(f"machine: {machine()}")
    call_command("migrate", verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        generate(args.payments)
        print(f"generated {args.payments:,} payments (and the rest) in {time.perf_counter() - started:.1f} s")

    metrics_exposition()  # warm: connection, prepared statements
    totals, per_collector = [], {}
    for _ in range(args.scrapes):
        started = time.perf_counter()
        text = metrics_exposition().decode()
        totals.append(time.perf_counter() - started)
        for family in text_string_to_metric_families(text):
            if family.name == "platform_metrics_collector_duration_seconds":
                for sample in family.samples:
                    per_collector.setdefault(sample.labels["collector"], []).append(sample.value)
    print(f"scrape of /metrics with {args.payments:,} payments, {args.scrapes} scrapes:")
    print(f"  whole scrape: median {statistics.median(totals) * 1000:.1f} ms, max {max(totals) * 1000:.1f} ms")
    for name, values in per_collector.items():
        print(f"  {name:<16} median {statistics.median(values) * 1000:6.1f} ms")
    print(f"  {len(text):,} bytes, {sum(1 for line in text.splitlines() if not line.startswith('#'))} samples")


if __name__ == "__main__":
    main()
