"""The admin's home page (issue 17): a dashboard per role, its figures on a known dataset, an empty database, the
number of queries, and the cache. Real requests to the admin through its login (password and TOTP code)."""

import datetime
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from backoffice import dashboard
from backoffice.charts import Series, bars, columns, line, nice_ceiling
from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ledger.models import LedgerCheckRun
from payments.models import Dispute, Payment, Refund
from reconciliation.models import ReconciliationException, ReconciliationRun
from tests.backoffice.conftest import client_for, payment_row
from tests.conftest import requires_postgres
from tests.reconciliation.helpers import payout

pytestmark = pytest.mark.django_db

PANEL_IDS = {
    "payments": "panel-payments",
    "refunds_disputes": "panel-refunds-disputes",
    "payouts": "panel-payouts",
    "reconciliation": "panel-reconciliation",
    "ledger": "panel-ledger",
    "webhooks": "panel-webhooks",
    "resolver": "panel-resolver",
}
ROLE_PANELS = {
    "Support": {"payments", "refunds_disputes", "payouts"},
    "Finance": {"payments", "refunds_disputes", "payouts", "reconciliation", "ledger"},
    "Operations": {"webhooks", "resolver"},
}


@pytest.fixture(autouse=True)
def no_cache(settings):
    """Figures computed on every view (the cache has its own test)."""
    settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS = 0


def at(payment: Payment, created: datetime.datetime, **fields) -> Payment:
    Payment.objects.filter(pk=payment.pk).update(created=created, **fields)
    return payment


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def known(merchant, now):
    """A small dataset whose every figure is known (see each test)."""
    hour, day = datetime.timedelta(hours=1), datetime.timedelta(days=1)
    p1 = at(payment_row(merchant, amount=10_000), now - hour)
    p2 = at(payment_row(merchant, amount=5_000), now - 2 * day)
    at(payment_row(merchant, amount=1_000), now - 3 * hour)
    at(payment_row(merchant, amount=4_000), now - 40 * day)  # outside the window
    failed = {"status": "failed", "amount_captured": 0, "processor_charge_id": None}
    at(payment_row(merchant, amount=3_000, decline_code="insufficient_funds", **failed), now - hour)
    at(payment_row(merchant, amount=3_000, decline_code="insufficient_funds", **failed), now - 3 * day)
    at(payment_row(merchant, amount=3_000, failure_code="processing_error", **failed), now - 5 * day)
    at(
        payment_row(merchant, amount=7_000, currency="EUR", status="canceled", amount_captured=0),
        now - 2 * hour,
        authorized_at=now - 2 * hour,
    )
    authorised = payment_row(merchant, amount=2_000, currency="EUR", status="requires_capture", amount_captured=0)
    at(authorised, now - 10 * day)
    at(
        payment_row(merchant, amount=1_000, status="processing", amount_captured=0, processor_charge_id=None),
        now - 10 * datetime.timedelta(minutes=1),
        processing_since=now - 10 * datetime.timedelta(minutes=1),
    )

    def refund(payment, amount, status, created):
        made = Refund.objects.create(
            payment=payment, merchant=merchant, amount=amount, currency="USD", status=status, requested_by="api:t"
        )
        Refund.objects.filter(pk=made.pk).update(created=created)

    refund(p1, 2_000, "succeeded", now - hour / 2)
    refund(p2, 1_000, "failed", now - day)
    refund(p2, 500, "pending", now - 5 * datetime.timedelta(minutes=1))

    def dispute(payment, status, due, created):
        made = Dispute.objects.create(
            payment=payment,
            merchant=merchant,
            processor_dispute_id=f"dp_proc_{payment.pk}",
            amount=payment.amount,
            currency="USD",
            status=status,
            evidence_due_by=due,
        )
        Dispute.objects.filter(pk=made.pk).update(created=created)

    dispute(p2, "needs_response", now + day, now - day)
    dispute(p1, "lost", now - day, now - 3 * day)

    payout(merchant, 3_000, "pending")
    payout(merchant, 1_000, "failed")
    payout(merchant, 500, "canceled")

    run = ReconciliationRun.objects.create(
        processor="sandbox", settlement_date=(now - day).date(), status="succeeded", lines=100, matched=97
    )

    def exception(kind, created, key, **fields):
        ReconciliationException.objects.create(
            run=run,
            processor="sandbox",
            settlement_date=run.settlement_date,
            type=kind,
            line_type="charge",
            match_key=key,
            created=created,
            **fields,
        )

    exception("amount_mismatch", now - 2 * hour, "k1")
    exception("amount_mismatch", now - 2 * day, "k2")
    exception("missing_internal", now - 10 * day, "k3")
    exception("fee_mismatch", now - day, "k4", status="resolved", resolution="explained", resolved_at=now)

    LedgerCheckRun.objects.create(started=now - 2 * day, finished=now - 2 * day, ok=True, results={"checks": []})
    LedgerCheckRun.objects.create(
        started=now - hour,
        finished=now - hour,
        ok=False,
        results={
            "ok": False,
            "checks": [
                {"name": "entries_balance", "status": "failed", "failures": 2},
                {"name": "totals_zero", "status": "passed", "failures": 0},
                {"name": "payouts_settle", "status": "skipped", "failures": 0},
            ],
        },
    )

    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://example.com/hook", events=["*"])
    WebhookEndpoint.objects.create(merchant=merchant, url="https://example.com/old", status="disabled")
    # The payouts' events are unpublished too (the test settings do not drain): they are counted below.
    Event.objects.filter(published_at__isnull=True).update(published_at=now)
    unpublished = Event.objects.create(merchant=merchant, type="payment.succeeded", payload="{}", created=now)
    Event.objects.filter(pk=unpublished.pk).update(created=now - 2 * datetime.timedelta(minutes=1))
    events = [
        Event.objects.create(merchant=merchant, type="payment.succeeded", payload="{}", created=now, published_at=now)
        for _ in range(4)
    ]

    def delivery(event, status, next_attempt_at, completed_at=None):
        return WebhookDelivery.objects.create(
            event=event, endpoint=endpoint, status=status, next_attempt_at=next_attempt_at, completed_at=completed_at
        )

    due = delivery(events[0], "pending", now - 5 * datetime.timedelta(minutes=1))
    delivery(events[1], "pending", now + hour)
    delivery(events[2], "failed", now, completed_at=now - hour)
    done = delivery(events[3], "succeeded", now, completed_at=now)
    for number, (started, succeeded) in enumerate(
        [(now - hour, True), (now - 2 * hour, True), (now - hour, False), (now - 2 * day, False)], start=1
    ):
        WebhookAttempt.objects.create(
            delivery=done if succeeded else due, number=number, started_at=started, succeeded=succeeded
        )

    every = IntervalSchedule.objects.create(every=30, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="payments: resolve processing",
        defaults={"task": "payments.resolve_processing", "interval": every, "last_run_at": now - 20 * hour / 3600},
    )
    return now


# --- Roles ----------------------------------------------------------------------------------------------------


def dashboard_html(response) -> str:
    """The dashboard's part of the home page (the list of sections below it names no figure)."""
    html = response.content.decode()
    start, end = html.find('<div class="dashboard-board"'), html.find('id="all-sections"')
    return html[start:end] if start >= 0 else ""


@pytest.mark.parametrize("role", ["Support", "Finance", "Operations"])
def test_each_role_sees_its_panels_and_not_the_others(role, known, superuser):
    from tests.staff import staff_user

    response = client_for(staff_user(f"someone.{role.lower()}", role)).get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    shown = {name for name, element in PANEL_IDS.items() if f'id="{element}"' in html}
    assert shown == ROLE_PANELS[role]
    # The sections stay below, under "All sections".
    assert 'id="all-sections"' in html and 'class="app-' in html
    if role == "Operations":
        # Nothing about money: no amount, no currency, no payment count.
        board = dashboard_html(response)
        assert board and not re.search(r"\b(USD|EUR)\b", board)
        assert "Payments with an unknown outcome" in board  # counts, for the resolver


def test_a_superuser_sees_every_panel(known, superuser):
    html = client_for(superuser).get("/admin/").content.decode()
    assert all(f'id="{element}"' in html for element in PANEL_IDS.values())


def test_panels_follow_permissions_not_group_names(superuser):
    """The panels are a function of the permissions (backoffice.roles), so a role's change moves them too."""
    from tests.staff import staff_user

    nobody = staff_user("no.role")
    assert dashboard.panels_for(nobody) == []
    assert dashboard.panels_for(superuser) == list(dashboard.PANELS)


# --- Figures --------------------------------------------------------------------------------------------------


def test_payment_figures_on_a_known_dataset(known, superuser):
    now = known
    figures = dashboard.dashboard_for(superuser, now=now).payments
    assert (figures.total_30d, figures.succeeded_30d, figures.total_24h) == (9, 3, 5)
    # Authorised: 3 succeeded, 1 requires_capture, 1 canceled after its authorisation; declined: 3 failed.
    assert (figures.authorised_30d, figures.declined_30d) == (5, 3)
    assert figures.authorisation_rate_30d == pytest.approx(5 / 8)
    assert (figures.authorised_24h, figures.declined_24h) == (3, 1)
    assert figures.declines == [("insufficient_funds", 2), ("processing_error", 1)]
    # By day: the payment two days ago is in its day's column, the one 40 days ago nowhere.
    two_days_ago = figures.days.index(timezone.localdate(now - datetime.timedelta(days=2), datetime.UTC))
    assert figures.count_by_day["succeeded"][two_days_ago] >= 1
    assert sum(figures.count_by_day["succeeded"]) == 3 and sum(figures.count_by_day["failed"]) == 3
    assert len(figures.days) == 30 and len(figures.hours) == 24
    usd, eur = figures.currencies
    assert (usd.currency, usd.count, usd.amount_by_status["succeeded"], usd.captured) == ("USD", 7, 16_000, 16_000)
    assert (eur.currency, eur.count, eur.amount_by_status) == ("EUR", 2, {"canceled": 7_000, "requires_capture": 2_000})
    assert sum(usd.by_day["failed"]) == 9_000


def test_refund_and_dispute_figures_on_a_known_dataset(known, superuser):
    figures = dashboard.dashboard_for(superuser, now=known).refunds_disputes
    assert figures.refunds_by_status == {"succeeded": 1, "failed": 1, "pending": 1}
    assert figures.refunds_30d == 2 and figures.refund_rate == pytest.approx(2 / 3)
    assert [(m.currency, m.count, m.amount) for m in figures.refunds_by_currency] == [("USD", 2, 2_500)]
    assert figures.disputes_by_status == {"needs_response": 1, "lost": 1}
    assert figures.dispute_rate == pytest.approx(2 / 3)
    assert (figures.disputes_open, figures.disputes_due_soon, figures.disputes_overdue) == (1, 1, 0)
    assert sum(figures.refunds_by_day) == 2 and sum(figures.disputes_by_day) == 2


def test_payout_figures_on_a_known_dataset(known, superuser):
    figures = dashboard.dashboard_for(superuser, now=known).payouts
    assert figures.by_status == {"pending": 1, "failed": 1, "canceled": 1}
    assert [(m.currency, m.count, m.amount) for m in figures.pending] == [("USD", 1, 3_000)]
    assert figures.in_transit == [] and figures.paid == []
    assert figures.failures == [("account_closed", 1)] and figures.failed_30d == 1
    assert figures.oldest_pending is not None


def test_reconciliation_and_ledger_figures_on_a_known_dataset(known, superuser):
    board = dashboard.dashboard_for(superuser, now=known)
    figures = board.reconciliation
    assert figures.ages == ["under 1 day", "1–3 days", "3–7 days", "7 days and more"]
    assert figures.open_by_type == {"missing_internal": [0, 0, 0, 1], "amount_mismatch": [1, 1, 0, 0]}
    assert figures.open_total == 3
    assert [(r.processor, r.lines, r.matched) for r in figures.latest_runs] == [("sandbox", 100, 97)]
    ledger = board.ledger
    assert (ledger.ok, ledger.checks, ledger.failed, ledger.skipped) == (
        False,
        3,
        [("entries_balance", 2)],
        ["payouts_settle"],
    )


def test_webhook_and_resolver_figures_on_a_known_dataset(known, superuser):
    now = known
    board = dashboard.dashboard_for(superuser, now=now)
    webhooks = board.webhooks
    assert (webhooks.pending, webhooks.due, webhooks.failed_24h, webhooks.disabled_endpoints) == (2, 1, 1, 1)
    assert webhooks.oldest_due == now - datetime.timedelta(minutes=5)
    assert (sum(webhooks.attempts_succeeded_by_hour), sum(webhooks.attempts_failed_by_hour)) == (2, 1)
    assert webhooks.attempt_failure_rate == pytest.approx(1 / 3)
    assert (webhooks.unpublished, webhooks.oldest_unpublished) == (1, now - datetime.timedelta(minutes=2))
    resolver = board.resolver
    assert (resolver.processing, resolver.processing_overdue, resolver.requires_action) == (1, 1, 0)
    assert resolver.refunds_pending == 1
    schedules = {schedule.task: schedule for schedule in resolver.schedules}
    assert schedules["payments.resolve_processing"].enabled is True
    assert schedules["payments.resolve_processing"].last_run_at == now - datetime.timedelta(seconds=20)


def test_the_page_shows_the_figures_with_charts_and_their_tables(known, superuser):
    response = client_for(superuser).get("/admin/")
    html = dashboard_html(response)
    assert "62.5%" in html  # the authorisation rate over 30 days
    assert "160.00 USD" in html  # the succeeded USD volume, in the volume chart's description
    for chart in ("payments-by-day", "volume-by-day", "authorisation-rate", "payments-by-hour", "decline-codes"):
        assert f'<svg class="chart" id="{chart}"' in html
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    assert html.count('<details class="chart-data">') >= 8
    assert '<th scope="row">insufficient_funds</th><td>2</td>' in html
    assert "Volume per day in USD" in html and 'href="?currency=EUR"' in html
    # No script and nothing from another site.
    assert "<script" not in html and "http" not in html.replace("https://example.com", "")


def test_the_volume_chart_shows_the_currency_asked_for_and_refuses_an_unknown_one(known, superuser):
    client = client_for(superuser)
    html = dashboard_html(client.get("/admin/?currency=EUR"))
    assert "Volume per day in EUR" in html and "70.00 EUR" in html
    assert client.get("/admin/?currency=XYZ").status_code == 400


# --- An empty database, the number of queries, the cache -------------------------------------------------------


def test_the_page_works_with_an_empty_database(superuser):
    response = client_for(superuser).get("/admin/")
    assert response.status_code == 200
    html = dashboard_html(response)
    assert all(f'id="{element}"' in html for element in PANEL_IDS.values())
    assert "none yet" in html  # no ledger check
    assert "Nothing in this period." in html


def test_the_number_of_queries_does_not_grow_with_the_data(superuser, merchant):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard.dashboard_for(superuser)
        return len(captured)

    empty = queries()
    for status in ("succeeded", "failed", "succeeded"):
        payment_row(merchant, status=status, amount_captured=10_000 if status == "succeeded" else 0)
    payout(merchant, 1_000, "pending")
    assert queries() == empty <= 20


def test_the_figures_are_cached_briefly_for_everyone(settings, superuser, merchant):
    settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS = 30
    keys = [f"backoffice:dashboard:v1:{connection.settings_dict['NAME']}:{name}" for name in dashboard.PANELS]
    cache.delete_many(keys)
    try:
        first = dashboard.dashboard_for(superuser)
        payment_row(merchant)
        with CaptureQueriesContext(connection) as captured:
            second = dashboard.dashboard_for(superuser)
        # The permission check of the user is all the second view asks the database.
        assert not [q for q in captured.captured_queries if "payments_payment" in q["sql"]]
        assert second.payments.total_30d == first.payments.total_30d
        settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS = 0
        assert dashboard.dashboard_for(superuser).payments.total_30d == first.payments.total_30d + 1
    finally:
        cache.delete_many(keys)


# --- The charts -----------------------------------------------------------------------------------------------


def test_charts_escape_their_text_and_scale_to_the_largest_value():
    chart = columns(
        "c<1>",
        "Title & <b>",
        ["<d1>", "d2"],
        [Series("a<script>", "s-a", [3, 0]), Series("b", "s-b", [4, 2]), Series("empty", "s-c", [0, 0])],
    )
    assert "<script>" not in chart.svg and "<b>" not in chart.svg and "&lt;d1&gt;" in chart.svg
    assert chart.legend == [("a<script>", "s-a"), ("b", "s-b")]  # an empty series is left out
    assert chart.rows == [["<d1>", "3", "4", "7"], ["d2", "0", "2", "2"]]
    assert nice_ceiling(7) == 10 and nice_ceiling(0) == 1 and nice_ceiling(180) == 200
    rate = line("r", "Rate", ["a", "b", "c"], [0.5, None, 1.0])
    assert rate.rows == [["a", "50.0%"], ["c", "100.0%"]] and "<polyline" not in rate.svg  # no two points in a row
    horizontal = bars("h", "Codes", ["x", "y"], [Series("n", "s-n", [5, 1])])
    assert horizontal.rows == [["x", "5"], ["y", "1"]] and horizontal.svg.count("<rect") == 2


@requires_postgres
def test_postgresql_knows_how_many_days_the_payments_group_into(merchant):
    """backoffice 0005's statistics match the expression the dashboard groups by, so the planner expects a few
    groups (and hashes them) rather than one per payment (and sorts them all on disk)."""
    now = timezone.now()
    Payment.objects.bulk_create(
        Payment(
            merchant=merchant,
            amount=100,
            currency="USD",
            status="failed",
            processor="sandbox",
            failure_code="card_declined",
            decline_code=("do_not_honor", "lost_card")[k % 2],
        )
        for k in range(3_000)
    )
    with connection.cursor() as cursor:
        # Three thousand different instants over three days (up to four days, UTC).
        cursor.execute(
            "UPDATE payments_payment SET created = %s - mod(abs(hashtext(id)), 259200) * interval '1 second'", [now]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_payment")
        start, _ = dashboard.day_window(now)
        sql, params = dashboard.payments_by_day(start).query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = plan[0]["Plan"] if isinstance(plan, list) else __import__("json").loads(plan)[0]["Plan"]
    assert plan["Plan Rows"] <= 12, plan  # at most 4 days × 2 codes; thousands without them
