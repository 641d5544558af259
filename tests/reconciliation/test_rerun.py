"""Re-running a day replaces its run: no duplicate exceptions or ledger entries, resolved ones stay resolved."""

import datetime

import pytest
from django.core.management import call_command

from core.ids import new_id
from core.models import AuditEntry
from ledger.models import JournalEntry
from payments.models import Payment
from reconciliation import services
from reconciliation.models import ReconciliationException, ReconciliationRun, SettlementLine
from tests.reconciliation.helpers import Line, charge_line, nonzero, payment, reconcile, today, write_report

pytestmark = pytest.mark.django_db


def snapshot():
    return sorted(ReconciliationException.objects.values_list("id", "type", "match_key", "status"))


def test_running_a_day_twice_changes_nothing(merchant, tmp_path):
    ok, wrong, forgotten = payment(merchant), payment(merchant, 2_000), payment(merchant, 3_000)
    stranger = Line("charge", new_id("ch"), "pay_stranger", "USD", 100)
    path = write_report(tmp_path, today(), [charge_line(ok), charge_line(wrong, amount=1_999), stranger, stranger])
    first = reconcile(today(), path)
    assert (first["matched"], nonzero(first)) == (
        1,
        {"amount_mismatch": 1, "missing_external": 1, "duplicate_external": 1},
    )
    before, entries = snapshot(), JournalEntry.objects.count()
    assert reconcile(today(), path) == first
    assert snapshot() == before  # the same rows: same ids, nothing duplicated
    assert JournalEntry.objects.count() == entries
    assert ReconciliationRun.objects.count() == 1
    assert SettlementLine.objects.count() == 4
    assert forgotten.id in {match_key for _, _, match_key, _ in before}


def test_open_exceptions_are_replaced_and_resolved_ones_stay_resolved(merchant, finance, tmp_path):
    a, b, c = payment(merchant, 1_000), payment(merchant, 2_000), payment(merchant, 3_000)
    first = reconcile(
        today(),
        write_report(tmp_path, today(), [charge_line(a, amount=1), charge_line(b, amount=2), charge_line(c, amount=3)]),
    )
    assert nonzero(first) == {"amount_mismatch": 3}
    of = {e.match_key: e for e in ReconciliationException.objects.all()}
    services.exception_write_off(exception=of[a.id], user=finance, note="processor error, credited next week")
    created_b = of[b.id].created

    # The processor corrects b, c is still wrong with another amount, a is as before.
    second = reconcile(
        today(), write_report(tmp_path, today(), [charge_line(a, amount=1), charge_line(b), charge_line(c, amount=4)])
    )
    assert (second["matched"], nonzero(second)) == (1, {"amount_mismatch": 2})  # a is still a difference…
    now = {e.match_key: e for e in ReconciliationException.objects.all()}
    assert set(now) == {a.id, c.id}  # b's open exception is gone: it matches now
    assert (now[a.id].pk, now[a.id].status, now[a.id].resolution) == (of[a.id].pk, "resolved", "written_off")
    assert now[a.id].note == "processor error, credited next week"  # …but stays resolved, not re-created
    assert (now[c.id].pk, now[c.id].external_amount, now[c.id].status) == (of[c.id].pk, 4, "open")
    assert not ReconciliationException.objects.filter(pk=of[b.id].pk).exists() and created_b
    assert AuditEntry.objects.filter(action="reconciliation_exception.written_off").count() == 1


def test_adjustments_are_not_posted_again_by_a_rerun(merchant, finance, tmp_path):
    paid = payment(merchant, 5_000)
    path = write_report(tmp_path, today(), [charge_line(paid, amount=4_000)])
    reconcile(today(), path)
    exception = ReconciliationException.objects.get()
    services.exception_adjust(exception=exception, user=finance, note="processor kept 10.00", amount=-1_000)
    entries = JournalEntry.objects.count()
    for _ in range(2):
        assert nonzero(reconcile(today(), path)) == {"amount_mismatch": 1}
    assert JournalEntry.objects.count() == entries
    assert ReconciliationException.objects.get().resolution == "adjusted"
    call_command("ledger_check")


def test_a_lost_answer_settled_by_yesterdays_report_counts_on_yesterday(merchant, tmp_path):
    """The charge entry posted today by the automatic resolution belongs to yesterday's report."""
    yesterday = today() - datetime.timedelta(days=1)
    lost = payment(merchant, 2_000, status="processing")
    line = charge_line(lost, processor_id=new_id("ch"), amount=2_000)
    result = reconcile(yesterday, write_report(tmp_path, yesterday, [line], name="yesterday.csv"))
    assert nonzero(result) == {"status_mismatch": 1}
    exception = ReconciliationException.objects.get()
    assert (exception.status, exception.resolution) == ("resolved", "auto_resolved")
    assert Payment.objects.get(pk=lost.pk).status == "succeeded"
    assert exception.ledger_entry.source == lost.id

    # Today's report does not have it, and today's run does not count it as missing from the report.
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [], name="today.csv"))) == {}
    # Yesterday again: the entry is yesterday's, so the line matches and nothing is re-created or re-posted.
    again = reconcile(yesterday, write_report(tmp_path, yesterday, [line], name="yesterday.csv"))
    assert (again["matched"], nonzero(again)) == (1, {})
    assert ReconciliationException.objects.get().pk == exception.pk
    assert JournalEntry.objects.filter(source=lost.id, type="charge").count() == 1
    call_command("ledger_check")
