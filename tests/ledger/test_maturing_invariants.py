"""ledger_check's ``funds_mature``: passes on captures pending and matured, and names each corruption written
behind the engine's back (merchant_pending touched by something else, a capture matured twice or early,
one missing from the maturing work list)."""

import logging
import time

import pytest
from django.core.management import call_command
from django.test import Client

from core.ids import new_id
from ledger import invariants, posting_rules
from ledger.errors import LedgerError
from ledger.maturing import funds_mature_due
from ledger.models import JournalEntry, MaturingFunds, Posting
from ledger.services import accounts_get_or_create, ledger_check_run_record
from tests.ledger.helpers import new_payment_id
from tests.staff import verified_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def delay(settings):
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 1


def capture(merchant, amount=10_000) -> JournalEntry:
    return posting_rules.payment_captured(
        payment_id=new_payment_id(), merchant=merchant, amount_captured=amount, currency="USD", authorized=False
    )


@pytest.fixture
def matured_and_pending(merchant, delay):
    """One capture matured (and refunded in part), one still pending."""
    matured = capture(merchant)
    refund = new_id("re")
    posting_rules.refund_created(
        refund_id=refund, payment_id=matured.source, merchant=merchant, amount=1_000, currency="USD"
    )
    posting_rules.refund_succeeded(refund_id=refund)
    time.sleep(1.05)
    assert funds_mature_due() == 1
    pending = capture(merchant, 5_000)
    return matured, pending


def funds_mature(report):
    return next(result for result in report.results if result.name == "funds_mature")


def corrupt_entry(merchant, *, type="adjustment", source="x", event_key=None, **fields) -> JournalEntry:
    return JournalEntry.objects.create(
        event_key=event_key or new_id("evt"),
        type=type,
        source=source,
        merchant=merchant,
        currency="USD",
        status="posted",
        **fields,
    )


def test_a_sound_ledger_with_pending_and_matured_funds_passes(matured_and_pending):
    report = invariants.run_checks()
    assert report.ok, report.as_dict()
    assert funds_mature(report).status == "passed"


def test_funds_are_not_matured_before_their_available_on_nor_where_there_are_none(merchant, delay):
    entry = capture(merchant)
    with pytest.raises(LedgerError, match="not due"):
        posting_rules.funds_matured(entry=entry)
    assert funds_mature_due() == 0
    refund = new_id("re")
    posting_rules.refund_created(
        refund_id=refund, payment_id=entry.source, merchant=merchant, amount=100, currency="USD"
    )
    refunded = posting_rules.refund_succeeded(refund_id=refund)
    with pytest.raises(LedgerError, match="no pending funds"):
        posting_rules.funds_matured(entry=refunded)


def test_something_else_posting_to_merchant_pending_is_found(matured_and_pending, merchant):
    accounts = accounts_get_or_create(merchant=merchant, currency="USD", codes=["merchant_pending", "adjustments"])
    entry = corrupt_entry(merchant)
    Posting.objects.create(entry=entry, account=accounts["merchant_pending"], amount=-700, phase="posted")
    Posting.objects.create(entry=entry, account=accounts["adjustments"], amount=700, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["foreign_posting", entry.pk] in result.sample
    assert ["pending_mismatch", accounts["merchant_pending"].pk] in result.sample


def test_a_capture_matured_twice_is_found(matured_and_pending, merchant):
    matured, _ = matured_and_pending
    accounts = accounts_get_or_create(
        merchant=merchant, currency="USD", codes=["merchant_pending", "merchant_available"]
    )
    again = corrupt_entry(merchant, type="funds_matured", source=matured.source, event_key=f"again:{matured.pk}")
    amount = JournalEntry.objects.get(event_key=f"funds.matured:{matured.pk}").postings.get(amount__gt=0).amount
    Posting.objects.create(entry=again, account=accounts["merchant_pending"], amount=amount, phase="posted")
    Posting.objects.create(entry=again, account=accounts["merchant_available"], amount=-amount, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["matured_twice", matured.source] in result.sample
    assert ["maturing_without_source", again.pk] in result.sample
    assert ["pending_mismatch", accounts["merchant_pending"].pk] in result.sample


def test_a_capture_matured_before_its_available_on_is_found(matured_and_pending, merchant):
    _, pending = matured_and_pending
    accounts = accounts_get_or_create(
        merchant=merchant, currency="USD", codes=["merchant_pending", "merchant_available"]
    )
    early = corrupt_entry(
        merchant, type="funds_matured", source=pending.source, event_key=f"funds.matured:{pending.pk}"
    )
    amount = -pending.postings.get(account__code="merchant_pending").amount
    Posting.objects.create(entry=early, account=accounts["merchant_pending"], amount=amount, phase="posted")
    Posting.objects.create(entry=early, account=accounts["merchant_available"], amount=-amount, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["matured_early", early.pk] in result.sample
    assert result.failures == 1  # the amounts agree: only its timing is wrong


def test_unmatured_funds_missing_from_the_work_list_are_found(matured_and_pending):
    _, pending = matured_and_pending
    MaturingFunds.objects.filter(entry=pending).delete()

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert result.sample == [["unscheduled", pending.pk]]


# --- Funds left pending past their available_on: an alert where operators look -------------------------------


@pytest.fixture
def admin_client(admin_user):
    """pytest-django's superuser, its login verified by a second factor as the admin requires."""
    return verified_login(Client(), admin_user)


@pytest.fixture
def overdue(merchant, delay, settings):
    """A capture whose funds were due a second ago and have not matured (no mature_funds ran): overdue at once."""
    settings.LEDGER_MATURING_OVERDUE_SECONDS = 0
    entry = capture(merchant)
    time.sleep(1.05)
    return entry


def on_time(report):
    return next(result for result in report.results if result.name == "funds_mature_on_time")


def test_funds_pending_past_their_available_on_are_a_warning_of_ledger_check_not_a_failure(overdue, merchant):
    report = invariants.run_checks()
    result = on_time(report)
    assert result.status == "warning" and result.failures == 1
    assert result.sample[0][0] == overdue.id
    assert "mature_funds beat running" in result.detail
    # The books are right: the run is ok, and names its warning.
    assert report.ok and report.warnings == ["funds_mature_on_time"]
    assert report.as_dict()["warnings"] == ["funds_mature_on_time"]
    # Once the funds matured (the beat is back), the check passes.
    assert funds_mature_due() == 1
    after = invariants.run_checks()
    assert on_time(after).status == "passed" and after.warnings == []


def test_funds_not_yet_overdue_pass(merchant, delay, settings):
    settings.LEDGER_MATURING_OVERDUE_SECONDS = 600
    capture(merchant)
    time.sleep(1.05)  # due, but only just: mature_funds runs every minute
    assert on_time(invariants.run_checks()).status == "passed"


def test_the_command_prints_the_warning_and_exits_0(overdue, capsys):
    call_command("ledger_check")
    out = capsys.readouterr().out
    assert "WARNING funds_mature_on_time" in out and overdue.id in out
    assert "ledger check passed (warnings: funds_mature_on_time)" in out


def test_the_stored_run_and_its_admin_page_show_the_warning(overdue, admin_client, caplog):
    with caplog.at_level(logging.WARNING, logger="ledger.services"):
        run = ledger_check_run_record()
    assert run.ok and run.results["warnings"] == ["funds_mature_on_time"]
    assert any("funds_mature_on_time" in record.getMessage() for record in caplog.records)
    listing = admin_client.get("/admin/ledger/ledgercheckrun/").content.decode()
    assert "funds_mature_on_time" in listing
    page = admin_client.get(f"/admin/ledger/ledgercheckrun/{run.pk}/change/").content.decode()
    assert "funds_mature_on_time" in page and "mature_funds beat running" in page


def test_healthz_reports_overdue_funds_without_judging_the_platform(overdue, client):
    body = client.get("/healthz").json()
    maturing = body["ledger"]["funds_maturing"]
    assert (maturing["status"], maturing["overdue"]) == ("overdue", 1)
    assert maturing["oldest_available_on"] == MaturingFunds.objects.get(pk=overdue.id).available_on.isoformat()
    assert body["status"] in ("ok", "degraded")  # what Redis says; funds maturing late do not change it
    funds_mature_due()
    assert client.get("/healthz").json()["ledger"] == {"funds_maturing": {"status": "ok"}}
