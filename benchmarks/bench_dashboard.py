"""The admin's dashboard (backoffice/dashboard.py) over 1,000,000 payments on PostgreSQL: each panel's queries, in ms.

    .venv/bin/python -m benchmarks.bench_dashboard [--payments 1000000] [--days 90] [--database dashboard_bench]

Set-up, in a fresh database (``fresh_postgres_database``), all in bulk SQL (``generate_series``), never the ORM
row by row, in the order production writes (ids and ``created`` ascending together):

- 100 merchants; N payments spread evenly over the last ``--days`` days (so the 30-day window holds 30/days of
  them): 80 % succeeded, 10 % failed (five decline codes, one in five a ``processing_error``), 3 % canceled (an
  authorisation released), 3 % requires_capture, 3 % requires_confirmation, 1 % processing (one in ten of them
  still processing, the others a wallet's requires_action); USD 70 %, EUR 20 %, GBP 10 %;
- refunds of 5 % of the payments, disputes of 0.5 %, a payout per merchant and day, 2,000 reconciliation
  exceptions (200 open), 30 ledger check runs;
- one event per payment, one webhook delivery per event (0.1 % pending, 0.2 % failed), one attempt per delivery
  plus a failed first attempt for one in twenty.

Then ``VACUUM (ANALYZE)`` and ``CHECKPOINT`` (an older database is vacuumed and has its statistics), and, timed:
each panel's selector ``--runs`` times (cache off: ``BACKOFFICE_DASHBOARD_CACHE_SECONDS=0``), its statements
counted, the median and the slowest run reported; the whole page (``admin.site.index`` rendered for a
superuser, charts included), with the cache off and then on (the local-memory cache: Redis is left out); and
``EXPLAIN`` of the heaviest statement, the payments of 30 days by day.
"""

import argparse
import statistics
import time

from benchmarks.common import django_on_bench_database, machine, sql, timed

MERCHANTS = 100


def generate(n: int, days: int) -> None:
    from django.db import transaction

    from benchmarks.bench_recon import _payment_columns
    from merchants.models import Merchant

    # Row i of n is created at start + i * step: evenly over the window, oldest first.
    series = (
        "SELECT i, 'mch_D' || lpad(mod(i, %(merchants)s)::text, 24, '0') AS merchant_id, "
        "100 + mod(i::bigint * 7919, 99900) AS amount, "
        "CASE WHEN mod(i, 10) < 7 THEN 'USD' WHEN mod(i, 10) < 9 THEN 'EUR' ELSE 'GBP' END AS currency, "
        "CASE WHEN mod(i, 100) < 80 THEN 'succeeded' WHEN mod(i, 100) < 90 THEN 'failed' "
        "WHEN mod(i, 100) < 93 THEN 'canceled' WHEN mod(i, 100) < 96 THEN 'requires_capture' "
        "WHEN mod(i, 100) < 99 THEN 'requires_confirmation' "
        "WHEN mod(i, 1000) = 999 THEN 'processing' ELSE 'requires_action' END AS status, "
        "now() - %(span)s::interval + (i * (%(seconds)s::float8 / %(n)s)) * interval '1 second' AS created "
        "FROM generate_series(1, %(n)s) i"
    )
    params = {"n": n, "merchants": MERCHANTS, "span": f"{days} days", "seconds": days * 86400}

    def load():
        with transaction.atomic():
            # Bulk loading: no per-row foreign-key triggers for this session (the data is generated consistent).
            sql("SET LOCAL session_replication_role = replica")
            Merchant.objects.bulk_create(
                Merchant(id=f"mch_D{k:024d}", name=f"Bench merchant {k}") for k in range(MERCHANTS)
            )
            columns, values, defaults = _payment_columns(
                {
                    "id": "'pay_D' || lpad(i::text, 24, '0')",
                    "merchant_id": "merchant_id",
                    "amount": "amount",
                    "currency": "currency",
                    "status": "status",
                    "capture_method": "'automatic'",
                    "amount_captured": "CASE WHEN status = 'succeeded' THEN amount ELSE 0 END",
                    "payment_method_type": "'card'",
                    "card_token": "'tok_bench'",
                    "card_brand": "'visa'",
                    "card_last4": "'4242'",
                    "processor": "'sandbox'",
                    "processor_attempts": "1",
                    "decline_code": "CASE WHEN status = 'failed' AND mod(i, 5) <> 0 THEN (ARRAY['insufficient_funds', "
                    "'do_not_honor', 'expired_card', 'incorrect_cvc', 'lost_card'])[1 + mod(i / 100, 5)] END",
                    "failure_code": "CASE WHEN status = 'failed' AND mod(i, 5) = 0 THEN 'processing_error' "
                    "WHEN status = 'failed' THEN 'card_declined' END",
                    "authorized_at": "CASE WHEN status IN ('canceled', 'requires_capture') THEN created END",
                    "processing_since": "CASE WHEN status = 'processing' THEN created END",
                    "requires_action_since": "CASE WHEN status = 'requires_action' THEN created END",
                    "created": "created",
                    "updated": "created",
                }
            )
            sql(f"INSERT INTO payments_payment ({columns}) SELECT {values} FROM ({series}) s", {**params, **defaults})
            sql(
                "INSERT INTO payments_refund (id, payment_id, merchant_id, amount, currency, status, "
                "processor_attempts, requested_by, created, updated) "
                "SELECT 'pay_D' || lpad(i::text, 24, '0') || 're', 'pay_D' || lpad(i::text, 24, '0'), merchant_id, "
                "amount / 2, currency, CASE WHEN mod(i, 97) = 0 THEN 'failed' WHEN mod(i, 89) = 0 THEN 'pending' "
                "ELSE 'succeeded' END, 1, 'api:bench', created + interval '1 hour', created + interval '1 hour' "
                f"FROM ({series}) s WHERE status = 'succeeded' AND mod(i, 16) = 0",
                params,
            )
            sql(
                "INSERT INTO payments_dispute (id, payment_id, merchant_id, processor_dispute_id, amount, currency, "
                "fee, status, reason, evidence, evidence_due_by, created, updated) "
                "SELECT 'dp_D' || lpad(i::text, 24, '0'), 'pay_D' || lpad(i::text, 24, '0'), merchant_id, "
                "'dp_proc_' || i, amount, currency, 1500, (ARRAY['needs_response', 'under_review', 'won', "
                "'lost'])[1 + mod(i / 160, 4)], 'fraudulent', '{}', created + interval '21 days', "
                f"created + interval '2 days', created + interval '2 days' FROM ({series}) s "
                "WHERE status = 'succeeded' AND mod(i, 160) = 7",
                params,
            )
            sql(
                "INSERT INTO payouts_externalaccount (id, merchant_id, currency, country, last4, fingerprint, "
                "processor, processor_token, default_for_currency, created) "
                "SELECT 'ea_D' || lpad(k::text, 24, '0'), 'mch_D' || lpad(k::text, 24, '0'), 'USD', 'US', '6789', "
                "'fp' || k, 'sandbox', 'ba_' || k, true, now() FROM generate_series(0, %(merchants)s - 1) k",
                params,
            )
            sql(
                "INSERT INTO payouts_payout (id, merchant_id, amount, currency, destination_id, automatic, status, "
                "failure_code, processor, sending_since, processor_attempts, balance_transaction, requested_by, "
                "created, updated) "
                "SELECT 'po_D' || lpad((k * 1000 + d)::text, 24, '0'), 'mch_D' || lpad(k::text, 24, '0'), "
                "1000 + k * d, 'USD', 'ea_D' || lpad(k::text, 24, '0'), true, "
                "CASE WHEN d = 0 THEN 'pending' WHEN d < 3 THEN 'in_transit' WHEN mod(k + d, 50) = 0 THEN 'failed' "
                "ELSE 'paid' END, CASE WHEN mod(k + d, 50) = 0 AND d >= 3 THEN 'account_closed' END, 'sandbox', "
                "CASE WHEN d > 0 THEN now() END, 1, 'txn_D' || k || '_' || d, 'system:bench', "
                "now() - d * interval '1 day', now() - d * interval '1 day' "
                "FROM generate_series(0, %(merchants)s - 1) k CROSS JOIN generate_series(0, %(days)s - 1) d",
                {**params, "days": days},
            )
            sql(
                "INSERT INTO reconciliation_reconciliationrun (processor, settlement_date, status, source, started, "
                "finished, lines, internal_items, matched, exception_counts, auto_resolved, error, report_sha256) "
                "SELECT 'sandbox', current_date - d, 'succeeded', 'processor', now(), now(), 10000, 10000, 9980, "
                "'{}', 0, '', '' FROM generate_series(1, %(days)s) d",
                {"days": days},
            )
            sql(
                "INSERT INTO reconciliation_reconciliationexception (run_id, processor, settlement_date, type, "
                "line_type, match_key, reference, processor_id, currency, details, status, resolution, note, "
                "resolved_at, created, updated) "
                "SELECT r.id, 'sandbox', r.settlement_date, (ARRAY['missing_internal', 'missing_external', "
                "'amount_mismatch', 'fee_mismatch', 'status_mismatch'])[1 + mod(j, 5)], 'charge', 'key' || j, "
                "'pay_D' || j, 'ch_' || j, 'USD', '{}', CASE WHEN mod(j, 10) = 0 THEN 'open' ELSE 'resolved' END, "
                "CASE WHEN mod(j, 10) = 0 THEN '' ELSE 'explained' END, '', "
                "CASE WHEN mod(j, 10) = 0 THEN NULL ELSE now() END, r.settlement_date + interval '30 hours', now() "
                "FROM reconciliation_reconciliationrun r "
                "CROSS JOIN generate_series(1, 2000 / %(days)s) j",
                {"days": days},
            )
            sql(
                "INSERT INTO ledger_ledgercheckrun (started, finished, ok, results) "
                "SELECT now() - d * interval '1 day', now() - d * interval '1 day' + interval '40 seconds', true, "
                '\'{"ok": true, "checks": [{"name": "entries_balance", "status": "passed", "failures": 0}]}\' '
                "FROM generate_series(0, 29) d"
            )
            sql(
                "INSERT INTO events_webhookendpoint (id, merchant_id, url, events, secret, status, disabled_reason, "
                "created) SELECT 'we_D' || lpad(k::text, 24, '0'), 'mch_D' || lpad(k::text, 24, '0'), "
                "'https://example.com/' || k, '[\"*\"]', 'whsec_bench', CASE WHEN k < 2 THEN 'disabled' ELSE "
                "'enabled' END, '', now() FROM generate_series(0, %(merchants)s - 1) k",
                params,
            )
            sql(
                "INSERT INTO events_event (id, merchant_id, type, payload, created, published_at) "
                "SELECT 'evt_D' || lpad(i::text, 24, '0'), merchant_id, 'payment.' || status, '{}', created, "
                f"CASE WHEN i > %(n)s - 20 THEN NULL ELSE created END FROM ({series}) s",
                params,
            )
            sql(
                "INSERT INTO events_webhookdelivery (id, event_id, endpoint_id, status, attempt_count, retry_step, "
                "next_attempt_at, lease_token, last_error, created, completed_at) "
                "SELECT 'whd_D' || lpad(i::text, 24, '0'), 'evt_D' || lpad(i::text, 24, '0'), "
                "'we_D' || lpad(mod(i, %(merchants)s)::text, 24, '0'), "
                "CASE WHEN mod(i, 1000) = 0 THEN 'pending' WHEN mod(i, 500) = 1 THEN 'failed' ELSE 'succeeded' END, "
                "1, 0, created + interval '1 minute', '', '', created, "
                f"CASE WHEN mod(i, 1000) = 0 THEN NULL ELSE created + interval '2 seconds' END FROM ({series}) s",
                params,
            )
            sql(
                "INSERT INTO events_webhookattempt (delivery_id, number, started_at, status_code, latency_ms, "
                "response_body, error, succeeded) "
                "SELECT 'whd_D' || lpad(i::text, 24, '0'), a.number, created + a.number * interval '1 second', "
                "CASE WHEN a.ok THEN 200 ELSE 500 END, 40, '', '', a.ok "
                f"FROM ({series}) s CROSS JOIN LATERAL (VALUES (1, mod(i, 20) <> 0 AND mod(i, 500) <> 1), "
                "(2, mod(i, 500) <> 1)) a(number, ok) WHERE a.number = 1 OR mod(i, 20) = 0 ORDER BY 3",
                params,
            )

    timed(f"generate {MERCHANTS} merchants, {n:,} payments over {days} days, and the rest", load)
    timed("VACUUM (ANALYZE), CHECKPOINT", lambda: (sql("VACUUM (ANALYZE)"), sql("CHECKPOINT")))


def measure(runs: int) -> list[tuple[str, int, float, float]]:
    """Each panel's selector ``runs`` times: (panel, statements, median ms, slowest ms)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from backoffice import dashboard

    panels = [
        ("payments", dashboard.payment_figures),
        ("refunds and disputes", lambda now: dashboard.refund_dispute_figures(now, succeeded_payments_30d=1)),
        ("payouts", dashboard.payout_figures),
        ("reconciliation", dashboard.reconciliation_figures),
        ("ledger check", dashboard.ledger_check_figures),
        ("webhooks and outbox", dashboard.webhook_figures),
        ("resolver and schedules", dashboard.resolver_figures),
    ]
    results = []
    for name, selector in panels:
        times = []
        with CaptureQueriesContext(connection) as captured:
            selector(timezone.now())
        statements = len(captured)
        for _ in range(runs):
            started = time.perf_counter()
            selector(timezone.now())
            times.append((time.perf_counter() - started) * 1000)
        results.append((name, statements, statistics.median(times), max(times)))
    return results


def page(runs: int) -> tuple[float, int, int]:
    """The home page for a superuser, rendered (``admin.site.index``): median ms, statements, bytes."""
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    user = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", "root@example.com", "bench-password-not-used"
    )

    def render():
        request = RequestFactory().get("/admin/")
        request.user, request.session = user, SessionStore()
        response = admin.site.index(request)
        response.render()
        return response

    with CaptureQueriesContext(connection) as captured:
        size = len(render().content)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), len(captured), size


def explain() -> str:
    from django.db import connection
    from django.utils import timezone

    from backoffice import dashboard

    start, _ = dashboard.day_window(timezone.now())
    compiled, params = dashboard.payments_by_day(start).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", params)
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="the payments are spread over this many days")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run generated")
    parser.add_argument("--database", default="dashboard_bench", help="the database to (re)create and use")
    args = parser.parse_args()

    django_on_bench_database(
        args.database,
        reuse=args.reuse,
        label="dashboard",
        env={"BACKOFFICE_DASHBOARD_CACHE_SECONDS": "0"},
        unset=("REDIS_URL",),
    )
    from django.core.management import call_command
    from django.db import connection

    print(f"machine: {machine()}")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}, database {args.database}")
    if not args.reuse:
        generate(args.payments, args.days)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE created >= now() - interval '30 days') FROM payments_payment"
        )
        total, recent = cursor.fetchone()
    print(f"{total:,} payments, {recent:,} of them in the last 30 days\n")

    results = measure(args.runs)
    print(f"{'panel':<26} {'statements':>10} {'median ms':>10} {'slowest ms':>11}")
    for name, statements, median, slowest in results:
        print(f"{name:<26} {statements:>10} {median:>10.1f} {slowest:>11.1f}")
    print(
        f"{'all panels':<26} {sum(r[1] for r in results):>10} {sum(r[2] for r in results):>10.1f} "
        f"{sum(r[3] for r in results):>11.1f}"
    )
    median, statements, size = page(args.runs)
    print(
        f"\nthe page (admin.site.index, rendered, cache off): {median:.1f} ms median, {statements} statements, "
        f"{size / 1024:.0f} KiB"
    )
    from django.conf import settings

    settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS = 30  # the default: the figures of the first view serve the next
    page(1)
    median, statements, size = page(args.runs)
    print(
        f"the page, figures cached (each view within 30 s of the first): {median:.1f} ms median, "
        f"{statements} statements"
    )
    print("\nEXPLAIN ANALYZE, the payments of 30 days by day:")
    print(explain())


if __name__ == "__main__":
    main()
