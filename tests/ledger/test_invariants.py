"""ledger_check: passes on a sound ledger, and finds each kind of corruption written behind the engine's back."""

import json
import logging
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from core.ids import new_id
from ledger import invariants, posting_rules
from ledger.models import JournalEntry, LedgerCheckRun, Posting
from ledger.services import accounts_get_or_create
from ledger.tasks import ledger_check
from tests.ledger.helpers import new_payment_id

pytestmark = pytest.mark.django_db


def statuses(report) -> dict[str, str]:
    return {result.name: result.status for result in report.results}


@pytest.fixture
def busy_ledger(merchant):
    """A little of everything: captures, an authorisation captured in part, one voided, refunds, a dispute."""
    pay = new_payment_id()
    posting_rules.payment_captured(
        payment_id=pay, merchant=merchant, amount_captured=10_000, currency="USD", authorized=False
    )
    auth = new_payment_id()
    posting_rules.payment_authorized(payment_id=auth, merchant=merchant, amount=5_000, currency="USD")
    posting_rules.payment_captured(
        payment_id=auth, merchant=merchant, amount_captured=2_000, currency="USD", authorized=True
    )
    voided = new_payment_id()
    posting_rules.payment_authorized(payment_id=voided, merchant=merchant, amount=700, currency="USD")
    posting_rules.payment_authorization_released(payment_id=voided, reason="expired")
    open_auth = new_payment_id()
    posting_rules.payment_authorized(payment_id=open_auth, merchant=merchant, amount=900, currency="USD")
    refund = new_id("re")
    posting_rules.refund_created(refund_id=refund, payment_id=pay, merchant=merchant, amount=1_000, currency="USD")
    posting_rules.refund_succeeded(refund_id=refund)
    dispute = new_id("dp")
    posting_rules.dispute_opened(
        dispute_id=dispute, payment_id=pay, merchant=merchant, amount=3_000, fee=1_500, currency="USD"
    )
    return merchant


def _corrupt_entry(merchant, *, status="posted", type="adjustment", **kwargs) -> JournalEntry:  # noqa: A002
    return JournalEntry.objects.create(
        event_key=new_id("evt"),
        type=type,
        source="x",
        merchant=merchant,
        currency="USD",
        status=status,
        **kwargs,
    )


def test_a_sound_ledger_passes(busy_ledger):
    report = invariants.run_checks()
    assert report.ok, report.as_dict()
    result = statuses(report)
    assert result["entries_balance"] == result["totals_zero"] == "passed"
    assert result["balance_limits"] == result["pending_resolved_once"] == "passed"
    assert result["cached_balances"] == "skipped"
    expected_triggers = "passed" if connection.vendor == "postgresql" else "skipped"
    assert result["immutability_triggers"] == expected_triggers


def test_the_command_prints_a_summary_and_exits_zero(busy_ledger):
    out = StringIO()
    call_command("ledger_check", stdout=out)
    text = out.getvalue()
    assert "entries_balance" in text and "ledger check passed" in text


def test_the_command_speaks_json(busy_ledger):
    out = StringIO()
    call_command("ledger_check", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["ok"] is True
    assert {check["name"] for check in body["checks"]} >= {
        "entries_balance",
        "totals_zero",
        "balance_limits",
        "pending_resolved_once",
        "payments_captured_once",
    }


def test_an_unbalanced_entry_is_found_and_the_command_fails(busy_ledger):
    accounts = accounts_get_or_create(merchant=busy_ledger, currency="USD", codes=["merchant_available"])
    entry = _corrupt_entry(busy_ledger)
    Posting.objects.create(entry=entry, account=accounts["merchant_available"], amount=-500, phase="posted")

    report = invariants.run_checks()
    assert not report.ok
    result = {r.name: r for r in report.results}
    assert result["entries_balance"].status == "failed"
    assert result["entries_balance"].failures == 1 and result["entries_balance"].sample[0][0] == entry.pk
    assert result["totals_zero"].status == "failed"
    out = StringIO()
    with pytest.raises(CommandError, match="entries_balance"):
        call_command("ledger_check", "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is False


def test_a_broken_balance_limit_is_found(busy_ledger):
    accounts = accounts_get_or_create(merchant=busy_ledger, currency="USD", codes=["merchant_pending", "adjustments"])
    entry = _corrupt_entry(busy_ledger)
    Posting.objects.create(entry=entry, account=accounts["merchant_pending"], amount=50, phase="posted")
    Posting.objects.create(entry=entry, account=accounts["adjustments"], amount=-50, phase="posted")

    result = statuses(invariants.run_checks())
    assert result["balance_limits"] == "failed"
    assert result["entries_balance"] == "passed"


def test_a_pending_entry_resolved_without_a_resolver_is_found(busy_ledger):
    open_auth = JournalEntry.objects.get(type="authorization", status="pending")
    JournalEntry.objects.filter(pk=open_auth.pk).update(status="voided")

    report = invariants.run_checks()
    result = {r.name: r for r in report.results}
    assert result["pending_resolved_once"].status == "failed"
    assert ["status_mismatch", open_auth.pk] in result["pending_resolved_once"].sample


def test_a_resolver_that_does_not_reverse_the_reservation_is_found(merchant):
    pay = new_payment_id()
    auth = posting_rules.payment_authorized(payment_id=pay, merchant=merchant, amount=5_000, currency="USD")
    accounts = accounts_get_or_create(
        merchant=merchant, currency="USD", codes=["processor_receivable", "merchant_pending"]
    )
    JournalEntry.objects.filter(pk=auth.pk).update(status="voided")
    resolver = _corrupt_entry(merchant, status="voided", pending_entry=auth)
    Posting.objects.create(entry=resolver, account=accounts["processor_receivable"], amount=-4_000, phase="pending")
    Posting.objects.create(entry=resolver, account=accounts["merchant_pending"], amount=4_000, phase="pending")

    result = {r.name: r for r in invariants.run_checks().results}
    assert result["pending_resolved_once"].status == "failed"
    assert ["not_reversed", auth.pk] in result["pending_resolved_once"].sample


# --- Every succeeded payment's capture, posted exactly once ---------------------------------


@pytest.fixture
def payments_table(monkeypatch):
    """A stand-in for payments.Payment with the columns the check reads."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE ledger_test_payment (id varchar(40) PRIMARY KEY, merchant_id varchar(40), "
            "status varchar(32), amount_captured bigint, currency varchar(3))"
        )
    columns = {
        "status": "status",
        "amount_captured": "amount_captured",
        "currency": "currency",
        "merchant": "merchant_id",
    }
    meta = SimpleNamespace(
        db_table="ledger_test_payment",
        pk=SimpleNamespace(column="id"),
        get_field=lambda name: SimpleNamespace(column=columns[name]),
    )
    real_get_model = apps.get_model

    def get_model(app_label, model_name=None, **kwargs):
        if (app_label, model_name) == ("payments", "Payment"):
            return SimpleNamespace(_meta=meta)
        return real_get_model(app_label, model_name, **kwargs)

    monkeypatch.setattr(invariants.apps, "get_model", get_model)

    def add(pay_id, merchant, status, amount_captured, currency="USD"):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ledger_test_payment VALUES (%s, %s, %s, %s, %s)",
                [pay_id, merchant.pk, status, amount_captured, currency],
            )

    yield add
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE ledger_test_payment")


def test_succeeded_payments_are_captured_exactly_once(merchant, other_merchant, payments_table):
    auto, manual, failed = new_payment_id(), new_payment_id(), new_payment_id()
    posting_rules.payment_captured(
        payment_id=auto, merchant=merchant, amount_captured=1_000, currency="USD", authorized=False
    )
    posting_rules.payment_authorized(payment_id=manual, merchant=merchant, amount=5_000, currency="USD")
    posting_rules.payment_captured(
        payment_id=manual, merchant=merchant, amount_captured=3_000, currency="USD", authorized=True
    )
    payments_table(auto, merchant, "succeeded", 1_000)
    payments_table(manual, merchant, "succeeded", 3_000)
    payments_table(failed, merchant, "failed", 0)
    assert statuses(invariants.run_checks())["payments_captured_once"] == "passed"

    missing, wrong_amount = new_payment_id(), new_payment_id()
    payments_table(missing, merchant, "succeeded", 500)  # no charge entry at all
    posting_rules.payment_captured(
        payment_id=wrong_amount, merchant=merchant, amount_captured=900, currency="USD", authorized=False
    )
    payments_table(wrong_amount, merchant, "succeeded", 1_000)  # posted 900, captured 1 000
    canceled = new_payment_id()
    posting_rules.payment_captured(
        payment_id=canceled, merchant=merchant, amount_captured=100, currency="USD", authorized=False
    )
    payments_table(canceled, merchant, "canceled", 0)  # a charge for a payment that did not succeed
    other = new_payment_id()
    posting_rules.payment_captured(
        payment_id=other, merchant=other_merchant, amount_captured=100, currency="USD", authorized=False
    )
    payments_table(other, merchant, "succeeded", 100)  # posted for the wrong merchant

    result = {r.name: r for r in invariants.run_checks().results}["payments_captured_once"]
    assert result.status == "failed" and result.failures == 4
    assert {row[0] for row in result.sample} == {missing, wrong_amount, canceled, other}


def test_the_payments_check_is_skipped_without_the_payments_model(busy_ledger, monkeypatch):
    def get_model(*args, **kwargs):
        raise LookupError("no payments app")

    monkeypatch.setattr(invariants.apps, "get_model", get_model)
    report = invariants.run_checks()
    assert statuses(report)["payments_captured_once"] == "skipped"
    assert report.ok


# --- The task ---------------------------------------------------------------------------------


def test_the_task_stores_a_run(busy_ledger):
    outcome = ledger_check.apply().get()
    run = LedgerCheckRun.objects.get()
    assert outcome == {"run": run.pk, "ok": True}
    assert run.ok and run.finished >= run.started
    assert run.results["ok"] is True and len(run.results["checks"]) >= 5


def test_the_task_logs_a_failure_at_error(busy_ledger, caplog):
    accounts = accounts_get_or_create(merchant=busy_ledger, currency="USD", codes=["merchant_available"])
    Posting.objects.create(
        entry=_corrupt_entry(busy_ledger), account=accounts["merchant_available"], amount=-1, phase="posted"
    )
    with caplog.at_level(logging.ERROR, logger="ledger.services"):
        outcome = ledger_check.apply().get()
    assert outcome["ok"] is False and LedgerCheckRun.objects.get().ok is False
    assert any(
        record.levelno == logging.ERROR and "entries_balance" in record.getMessage() for record in caplog.records
    )


def test_money_paid_out_by_the_ledger_but_not_by_a_payout_is_found(busy_ledger):
    posting_rules.manual_adjustment(adjustment_id="a", merchant=busy_ledger, amount=5_000, currency="USD", memo="")
    posting_rules.payout_created(payout_id="po_ghost", merchant=busy_ledger, amount=1_000, currency="USD")
    posting_rules.payout_paid(payout_id="po_ghost")  # no payouts.Payout row says it was paid

    result = {r.name: r for r in invariants.run_checks().results}["merchant_funds_explained"]
    assert result.status == "failed"
    assert result.sample == [["paid_out_mismatch", busy_ledger.pk, "USD", 1_000, 0]]


def test_a_merchants_money_moved_by_an_unexpected_entry_type_is_found(busy_ledger):
    accounts = accounts_get_or_create(
        merchant=busy_ledger, currency="USD", codes=["merchant_available", "processor_receivable"]
    )
    entry = _corrupt_entry(busy_ledger, type="authorization")
    Posting.objects.create(entry=entry, account=accounts["merchant_available"], amount=-500, phase="posted")
    Posting.objects.create(entry=entry, account=accounts["processor_receivable"], amount=500, phase="posted")

    result = {r.name: r for r in invariants.run_checks().results}["merchant_funds_explained"]
    assert (result.status, result.sample) == ("failed", [["unexplained", entry.pk, "USD", 0, 0]])
