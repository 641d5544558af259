"""/metrics: Prometheus' text format, every family the operators alert on, counts that move, and no public access."""

import datetime
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from events.models import Event
from ledger.models import MaturingFunds
from payments.models import Payment, PaymentStatus
from reconciliation.models import ExceptionType, ReconciliationException, ReconciliationRun
from tests.payments.helpers import create_payment

TOKEN = "metrics-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]

# Every family docs/operations in the README lists (the names as the parser gives them: counters without _total).
FAMILIES = {
    "platform_http_requests",
    "platform_http_request_duration_seconds",
    "platform_processor_request_duration_seconds",
    "platform_processor_errors",
    "platform_webhook_delivery_attempts",
    "platform_payments",
    "platform_resolver_backlog",
    "platform_resolver_backlog_oldest_seconds",
    "platform_outbox_unpublished_events",
    "platform_outbox_lag_seconds",
    "platform_webhook_deliveries_pending",
    "platform_webhook_deliveries_overdue_seconds",
    "platform_payouts",
    "platform_reconciliation_exceptions_open",
    "platform_reconciliation_exceptions_oldest_seconds",
    "platform_maturing_funds_due",
    "platform_maturing_funds_overdue_seconds",
    "platform_metrics_collector_up",
    "platform_metrics_collector_duration_seconds",
}


@pytest.fixture
def scrape(client, settings):
    """``scrape()`` → ``{(sample name, frozenset(labels)): value}`` of one authorised GET /metrics, after checking
    that Prometheus' own parser reads it whole."""
    settings.METRICS_TOKEN = TOKEN

    def get() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        families = list(text_string_to_metric_families(response.content.decode()))
        samples = {}
        for family in families:
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        get.families = {family.name for family in families}
        return samples

    return get


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.django_db
def test_the_output_parses_and_holds_every_family(scrape, client):
    client.get("/healthz")  # at least one request, so the request families have a sample
    samples = scrape()
    assert FAMILIES <= scrape.families, FAMILIES - scrape.families
    # Every state collector answered
    for collector in ("payments", "events", "payouts", "reconciliation", "ledger"):
        assert value(samples, "platform_metrics_collector_up", collector=collector) == 1
    # Every status has a series, at 0 when no payment or payout is in it (an alert on absence is not needed)
    assert value(samples, "platform_payments", status="succeeded") == 0
    assert ("platform_payouts", frozenset({"status": "paid"}.items())) in samples
    assert ("platform_reconciliation_exceptions_open", frozenset({"type": "amount_mismatch"}.items())) in samples


@pytest.mark.django_db
def test_a_payment_moves_the_payment_request_and_processor_counts(scrape, api_client, sandbox):
    before = scrape()
    created = create_payment(api_client, confirm=True)
    assert created.status_code in (200, 201), created.content
    assert created.json()["status"] == "succeeded"
    after = scrape()

    assert (
        value(after, "platform_payments", status="succeeded")
        == value(before, "platform_payments", status="succeeded") + 1
    )
    # The processor call, timed under its acquirer and operation
    authorize = {"acquirer": "sandbox", "operation": "authorize"}
    name = "platform_processor_request_duration_seconds_count"
    assert value(after, name, **authorize) == value(before, name, **authorize) + 1
    # The request, under its route (the URL pattern) and status class
    request = {"route": "api/v1/payments", "method": "POST", "status": "2xx"}
    assert value(after, "platform_http_requests_total", **request) == (
        value(before, "platform_http_requests_total", **request) + 1
    )
    # Its event is in the outbox until drained (the drain is off in the tests)
    assert value(after, "platform_outbox_unpublished_events") >= 1


@pytest.mark.django_db
def test_a_decline_and_an_unreachable_acquirer_are_counted_by_kind(scrape, api_client, sandbox, settings):
    from tests.processors import configure_processor

    before = scrape()
    assert create_payment(api_client, token="tok_chargeDeclined", confirm=True).status_code == 402
    configure_processor(settings, base_url="http://127.0.0.1:9")  # nothing listens: never reached
    create_payment(api_client, confirm=True)
    after = scrape()

    def moved(kind, operations=("authorize",)):
        total = 0.0
        for operation in operations:
            labels = {"acquirer": "sandbox", "operation": operation, "kind": kind}
            total += value(after, "platform_processor_errors_total", **labels)
            total -= value(before, "platform_processor_errors_total", **labels)
        return total

    assert moved("declined") == 1
    # The first call of the second payment is refused at the connection: the token's card is asked first
    # unless a cache already holds it (then the authorisation is)
    assert moved("not_reached", ("retrieve_token", "authorize")) >= 1
    assert moved("unavailable", ("retrieve_token", "authorize")) == 0


@pytest.mark.django_db
def test_requests_are_labelled_by_route_never_by_path(scrape, api_client):
    api_client.get("/api/v1/payments/pay_doesnotexist0001")
    api_client.get("/no/such/page/123")
    samples = scrape()
    routes = {dict(labels).get("route") for name, labels in samples if name == "platform_http_requests_total"}
    assert not any("pay_doesnotexist0001" in route or "123" in route for route in routes)
    assert "<unmatched>" in routes
    assert any(route.startswith("api/v1/payments/<") for route in routes)
    assert value(samples, "platform_http_requests_total", route="<unmatched>", method="GET", status="4xx") >= 1


@pytest.mark.django_db
def test_the_state_gauges_follow_the_database(scrape, api_client, sandbox, merchant, settings):
    created = create_payment(api_client, confirm=True).json()
    now = timezone.now()
    # A payment whose charge has had no known outcome for ten minutes (the resolver's backlog)
    Payment.objects.filter(pk=created["id"]).update(
        status=PaymentStatus.PROCESSING, processing_since=now - datetime.timedelta(minutes=10)
    )
    # Its event recorded an hour ago and still unpublished
    Event.objects.filter(published_at__isnull=True).update(created=now - datetime.timedelta(hours=1))
    # Funds due to mature ten minutes ago
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 3600
    entry = create_payment(api_client, confirm=True).json()
    assert MaturingFunds.objects.count() == 1, entry
    MaturingFunds.objects.update(available_on=now - datetime.timedelta(minutes=10))
    # An open reconciliation exception, and one resolved (not counted)
    run = ReconciliationRun.objects.create(processor="sandbox", settlement_date=now.date())
    for match_key, status in (("a", "open"), ("b", "resolved")):
        ReconciliationException.objects.create(
            run=run,
            processor="sandbox",
            settlement_date=now.date(),
            type=ExceptionType.AMOUNT_MISMATCH,
            line_type="charge",
            match_key=match_key,
            status=status,
            resolution="" if status == "open" else "explained",
            resolved_at=None if status == "open" else now,
            created=now - datetime.timedelta(hours=2),
        )

    samples = scrape()
    assert value(samples, "platform_resolver_backlog", kind="charge") == 1
    assert 590 <= value(samples, "platform_resolver_backlog_oldest_seconds", kind="charge") <= 700
    assert value(samples, "platform_resolver_backlog", kind="capture_or_void") == 0
    assert value(samples, "platform_outbox_lag_seconds") >= 3590
    assert value(samples, "platform_maturing_funds_due") == 1
    assert value(samples, "platform_maturing_funds_overdue_seconds") >= 590
    assert value(samples, "platform_reconciliation_exceptions_open", type="amount_mismatch") == 1
    assert value(samples, "platform_reconciliation_exceptions_open", type="fee_mismatch") == 0
    assert value(samples, "platform_reconciliation_exceptions_oldest_seconds", type="amount_mismatch") >= 7190


@pytest.mark.django_db
def test_a_collector_that_fails_is_reported_and_the_rest_is_served(scrape, monkeypatch):
    from payouts import metrics as payout_metrics

    def broken():
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr("core.metrics._collectors", {"payouts": broken, "payments": _payments_collect()})
    samples = scrape()
    assert value(samples, "platform_metrics_collector_up", collector="payouts") == 0
    assert value(samples, "platform_metrics_collector_up", collector="payments") == 1
    assert "platform_payouts" not in scrape.families and "platform_payments" in scrape.families
    assert payout_metrics.collect  # the real one is untouched


def _payments_collect():
    from payments import metrics

    return metrics.collect


# --- Who may scrape ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_the_token_the_scrape_is_refused(client, settings):
    settings.METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] == "token_missing"
    assert b"platform_" not in missing.content

    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "token_invalid"
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert basic.status_code == 401
    # The token in the query string is not a token
    assert client.get(f"/metrics?token={TOKEN}").status_code == 401


@pytest.mark.django_db
def test_unset_token_is_404_in_production_and_served_in_debug(client, settings):
    settings.METRICS_TOKEN = None
    settings.DEBUG = False
    hidden = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert hidden.status_code == 404 and hidden.json()["error"]["type"] == "invalid_request_error"
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_the_address_allow_list_refuses_others_even_with_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    authorised = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    refused = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **authorised)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **authorised).status_code == 200
    # The list without the token: the address alone decides; the token is still required when set
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    settings.METRICS_TOKEN = None
    settings.DEBUG = True
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403


@pytest.mark.django_db
def test_only_get_is_allowed(client, settings):
    settings.METRICS_TOKEN = TOKEN
    refused = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert refused.status_code == 405 and refused["Allow"] == "GET"
    assert refused.json()["error"]["code"] == "method_not_allowed"


# --- Several processes ------------------------------------------------------------------------------------------


def test_in_multiprocess_mode_a_scrape_adds_up_every_process_of_the_host(tmp_path):
    """The web runs several workers and the Celery worker several children (scripts/run sets
    PROMETHEUS_MULTIPROC_DIR): what each counted is in the one scrape, after the process that counted it exited."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = textwrap.dedent(
        """
        import sys
        from core.metrics import processor_errors, processor_request_duration
        for _ in range(int(sys.argv[1])):
            processor_errors.labels("sandbox", "capture", "unavailable").inc()
            processor_request_duration.labels("sandbox", "capture").observe(0.2)
        """
    )
    for times in (2, 3):
        subprocess.run([sys.executable, "-c", count, str(times)], env=env, cwd=ROOT, check=True)
    scrape = "import sys; from core.metrics import metrics_exposition; sys.stdout.write(metrics_exposition().decode())"
    output = subprocess.run(
        [sys.executable, "-c", scrape], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(output)
        for sample in family.samples
    }
    labels = {"acquirer": "sandbox", "operation": "capture"}
    assert value(samples, "platform_processor_errors_total", **labels, kind="unavailable") == 5
    assert value(samples, "platform_processor_request_duration_seconds_count", **labels) == 5
    assert len(list(tmp_path.iterdir())) >= 2  # one file per process and kind of metric


@pytest.mark.django_db
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL's timeout")
def test_a_collector_slower_than_the_query_timeout_is_cut_off(scrape, settings, monkeypatch):
    from django.db import connection

    def slow():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        yield from ()

    def statement_timeout() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            return cursor.fetchone()[0]

    before = statement_timeout()
    settings.METRICS_QUERY_TIMEOUT_MS = 200
    monkeypatch.setattr("core.metrics._collectors", {"slow": slow, "payments": _payments_collect()})
    samples = scrape()
    assert value(samples, "platform_metrics_collector_up", collector="slow") == 0
    assert value(samples, "platform_metrics_collector_duration_seconds", collector="slow") < 2
    assert value(samples, "platform_metrics_collector_up", collector="payments") == 1
    # The scrape's timeout did not outlive it (here, inside the test's transaction)
    assert statement_timeout() == before


def test_a_method_replaced_on_the_class_after_instrumenting_is_the_one_called_and_timed(monkeypatch):
    from core.metrics import processor_errors
    from gateways.base import ProcessorUnavailable
    from gateways.metrics import instrument
    from gateways.sandbox_acquirer.client import SandboxProcessor

    adapter = instrument(SandboxProcessor.__new__(SandboxProcessor), "class-patch-test")
    counted = processor_errors.labels("class-patch-test", "lookup_payout", "unavailable")
    before = counted._value.get()

    def lost(self, **kwargs):
        raise ProcessorUnavailable("lost on the way")

    monkeypatch.setattr(SandboxProcessor, "lookup_payout", lost)
    with pytest.raises(ProcessorUnavailable):
        adapter.lookup_payout(idempotency_key="k")
    assert counted._value.get() == before + 1
