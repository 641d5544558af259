"""Payout lines (issue 15) against the platform's paid payouts: matched like charges and refunds, each exception
kind, the automatic resolution of a payout the report shows paid while we hold it in transit, and re-runs."""

import datetime

import pytest
from django.core.management import call_command

from core.ids import new_id
from core.models import AuditEntry
from events.models import Event
from ledger.models import JournalEntry
from payouts.models import Payout
from reconciliation.models import ReconciliationException, ReconciliationRun, SettlementLine
from tests.reconciliation.helpers import (
    Line,
    charge_line,
    nonzero,
    payment,
    payout,
    payout_line,
    reconcile,
    today,
    write_report,
)

pytestmark = pytest.mark.django_db


def only(kind: str) -> ReconciliationException:
    exceptions = list(ReconciliationException.objects.filter(type=kind))
    assert len(exceptions) == 1, exceptions
    return exceptions[0]


def paid_entries(made: Payout) -> int:
    return JournalEntry.objects.filter(event_key=f"payout.paid:{made.id}").count()


def test_a_paid_payout_matches_its_line(merchant, tmp_path):
    paid_in = payment(merchant, 10_000)
    paid_out = payout(merchant, 6_000)
    # Payouts that are not paid have no entry on the processor's balance, so the report owes them no line.
    for status in ("pending", "sent", "in_transit", "failed", "canceled"):
        payout(merchant, 100, status=status)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid_in), payout_line(paid_out)]))
    assert (result["matched"], nonzero(result)) == (2, {})
    run = ReconciliationRun.objects.get(settlement_date=today())
    assert (run.lines, run.matched, run.internal_items) == (2, 2, 2)
    assert sorted(SettlementLine.objects.filter(run=run).values_list("type", flat=True)) == ["charge", "payout"]
    assert ReconciliationException.objects.count() == 0


def test_a_payout_line_we_know_nothing_of_is_missing_internal(merchant, tmp_path):
    stranger = Line("payout", new_id("po"), new_id("po"), "USD", -9_000)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [stranger]))) == {"missing_internal": 1}
    exception = only("missing_internal")
    assert (exception.line_type, exception.match_key, exception.reference, exception.processor_id) == (
        "payout",
        stranger.reference,
        stranger.reference,
        stranger.processor_id,
    )
    assert (exception.external_amount, exception.internal_amount, exception.merchant_id) == (-9_000, None, None)


def test_a_paid_payout_with_no_line_is_missing_external_with_the_ids_the_line_would_have(merchant, tmp_path):
    paid_out = payout(merchant, 4_200)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), []))) == {"missing_external": 1}
    exception = only("missing_external")
    assert (exception.line_type, exception.match_key, exception.reference, exception.processor_id) == (
        "payout",
        paid_out.id,
        paid_out.id,
        paid_out.processor_payout_id,
    )
    assert (exception.internal_amount, exception.currency, exception.merchant_id) == (-4_200, "USD", merchant.id)
    assert exception.details["ledger_entry"] == JournalEntry.objects.get(event_key=f"payout.paid:{paid_out.id}").id


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"amount": -4_000}, "amount_mismatch"),
        ({"currency": "EUR"}, "currency_mismatch"),
        ({"fee": 25}, "fee_mismatch"),
    ],
)
def test_a_payout_line_that_disagrees_with_the_paid_payout(merchant, tmp_path, changes, kind):
    paid_out = payout(merchant, 4_200)
    line = payout_line(paid_out, **changes)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {kind: 1}
    exception = only(kind)
    assert (exception.line_type, exception.match_key, exception.merchant_id) == ("payout", paid_out.id, merchant.id)
    assert (exception.internal_amount, exception.external_amount) == (-4_200, line.amount)
    assert (exception.expected_fee, exception.external_fee) == (0, changes.get("fee", 0))


def test_a_payout_twice_in_the_report_is_duplicate_external(merchant, tmp_path):
    paid_out = payout(merchant, 4_200)
    line = payout_line(paid_out)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line, line]))) == {"duplicate_external": 1}
    exception = only("duplicate_external")
    assert (exception.details["lines"], exception.external_amount, exception.internal_amount) == (
        [2, 3],
        -8_400,
        -4_200,
    )


@pytest.mark.parametrize("status", ["in_transit", "sent"])
def test_a_payout_line_for_a_payout_in_flight_pays_it_through_the_payouts_service(merchant, tmp_path, status):
    """The report is the processor's record that the money reached the bank: a lost ``payout.paid`` webhook."""
    in_flight = payout(merchant, 3_300, status=status)
    line = payout_line(in_flight)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    in_flight.refresh_from_db()
    assert (in_flight.status, in_flight.processor_payout_id) == ("paid", line.processor_id)
    exception = ReconciliationException.objects.get()
    assert (exception.status, exception.resolution, exception.details["object_status"]) == (
        "resolved",
        "auto_resolved",
        "pending" if status == "sent" else "in_transit",
    )
    assert exception.ledger_entry.event_key == f"payout.paid:{in_flight.id}"
    assert f"moved from {'pending' if status == 'sent' else 'in_transit'} to paid" in exception.note
    assert AuditEntry.objects.filter(action="reconciliation_exception.auto_resolve").count() == 1
    assert Event.objects.filter(type="payout.paid").count() == 1
    assert ReconciliationRun.objects.get().auto_resolved == 1

    # Again: the line now matches the payout's entry, nothing is posted or created twice.
    again = reconcile(today(), write_report(tmp_path, today(), [line]))
    assert (again["matched"], nonzero(again)) == (1, {})
    assert ReconciliationException.objects.get().pk == exception.pk
    assert paid_entries(in_flight) == 1 and Event.objects.filter(type="payout.paid").count() == 1
    call_command("ledger_check")


def test_an_in_transit_payout_paid_by_yesterdays_report_counts_on_yesterday(merchant, tmp_path):
    yesterday = today() - datetime.timedelta(days=1)
    in_flight = payout(merchant, 3_300, status="in_transit")
    line = payout_line(in_flight)
    assert nonzero(reconcile(yesterday, write_report(tmp_path, yesterday, [line], name="y.csv"))) == {
        "status_mismatch": 1
    }
    assert Payout.objects.get(pk=in_flight.pk).status == "paid"
    # Today's report does not have it, and today's run does not count its entry as missing from the report.
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [], name="t.csv"))) == {}
    again = reconcile(yesterday, write_report(tmp_path, yesterday, [line], name="y.csv"))
    assert (again["matched"], nonzero(again)) == (1, {})
    assert paid_entries(in_flight) == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("failed", "the payout failed (account_closed) and its amount went back to the merchant's available balance"),
        ("canceled", "the payout is canceled and was never sent"),
        ("pending", "the payout is pending and was never sent"),
    ],
)
def test_a_payout_line_for_a_payout_we_hold_failed_or_never_sent_waits_for_staff(merchant, tmp_path, status, reason):
    held = payout(merchant, 3_300, status=status)
    line = payout_line(held, processor_id=held.processor_payout_id or new_id("po"))
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    exception = only("status_mismatch")
    assert (exception.status, exception.details["object_status"], exception.merchant_id) == (
        "open",
        status,
        merchant.id,
    )
    assert exception.details["not_auto_resolved"].startswith(reason)
    assert Payout.objects.get(pk=held.pk).status == status and paid_entries(held) == 0
    # A re-run finds the same exception, still open, with the same id.
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    assert only("status_mismatch").pk == exception.pk
    call_command("ledger_check")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": -3_000}, "the line pays out -3000, the payout is for 3300"),
        ({"currency": "EUR"}, "the line is in EUR, the payout in USD"),
        ({"processor_id": "po_other"}, "the payout is the processor's "),
    ],
)
def test_no_guess_when_the_line_does_not_fit_the_payout_in_transit(merchant, tmp_path, changes, reason):
    in_flight = payout(merchant, 3_300, status="in_transit")
    line = payout_line(in_flight, **changes)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    exception = only("status_mismatch")
    assert exception.status == "open" and exception.details["not_auto_resolved"].startswith(reason)
    assert Payout.objects.get(pk=in_flight.pk).status == "in_transit" and paid_entries(in_flight) == 0


def test_a_payout_of_another_processor_is_not_in_this_processors_day(merchant, tmp_path):
    paid_out = payout(merchant, 4_200)
    Payout.objects.filter(pk=paid_out.pk).update(processor="sandbox_eu")
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), []))) == {}
