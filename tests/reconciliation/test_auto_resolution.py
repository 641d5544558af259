"""Automatic resolution: a processing payment the report shows captured, and only when nothing is guessed."""

from unittest import mock

import pytest
from django.core.management import call_command

from core.ids import new_id
from core.models import AuditEntry
from ledger.models import JournalEntry
from payments.models import Payment
from reconciliation.models import ReconciliationException, ReconciliationRun
from tests.reconciliation.helpers import charge_line, nonzero, payment, reconcile, today, write_report

pytestmark = pytest.mark.django_db


def test_a_processing_payment_settled_as_captured_succeeds_with_its_ledger_entries(merchant, tmp_path):
    lost = payment(merchant, 2_500, status="processing")
    line = charge_line(lost, processor_id=new_id("ch"), amount=2_500)
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    lost.refresh_from_db()
    assert (lost.status, lost.amount_captured, lost.processor_charge_id) == ("succeeded", 2_500, line.processor_id)
    exception = ReconciliationException.objects.get()
    assert (exception.status, exception.resolution, exception.details["object_status"]) == (
        "resolved",
        "auto_resolved",
        "processing",
    )
    assert "moved from processing to succeeded" in exception.note
    assert (
        AuditEntry.objects.filter(action="reconciliation_exception.auto_resolve", actor="system:reconciliation").count()
        == 1
    )
    assert ReconciliationRun.objects.get().auto_resolved == 1
    call_command("ledger_check")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": 2_000}, "the line settles 2000, the payment is for 2500"),
        ({"currency": "EUR"}, "the line is in EUR, the payment in USD"),
    ],
)
def test_no_guess_when_the_line_does_not_fit_the_payment(merchant, tmp_path, changes, reason):
    lost = payment(merchant, 2_500, status="processing")
    line = charge_line(lost, processor_id=new_id("ch"), **{"amount": 2_500, **changes})
    assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    assert Payment.objects.get(pk=lost.pk).status == "processing"
    exception = ReconciliationException.objects.get()
    assert (exception.status, exception.details["not_auto_resolved"]) == ("open", reason)
    assert not JournalEntry.objects.filter(source=lost.id).exists()


def test_an_attempt_that_fails_leaves_the_exception_open_and_the_run_succeeded(merchant, tmp_path):
    lost = payment(merchant, 2_500, status="processing")
    line = charge_line(lost, processor_id=new_id("ch"), amount=2_500)
    with mock.patch("reconciliation.services.payment_apply_charge", side_effect=RuntimeError("ledger is down")):
        assert nonzero(reconcile(today(), write_report(tmp_path, today(), [line]))) == {"status_mismatch": 1}
    exception = ReconciliationException.objects.get()
    assert exception.status == "open" and "ledger is down" in exception.details["not_auto_resolved"]
    assert ReconciliationRun.objects.get().status == "succeeded"
    # The next run tries again, and succeeds.
    reconcile(today(), write_report(tmp_path, today(), [line]))
    assert ReconciliationException.objects.get().resolution == "auto_resolved"


def test_a_payment_settled_meanwhile_by_the_resolver_is_resolved_too(merchant, tmp_path):
    lost = payment(merchant, 2_500, status="processing")
    line = charge_line(lost, processor_id=new_id("ch"), amount=2_500)
    from reconciliation import services

    real = services.payment_apply_charge

    def resolver_first(**kwargs):
        real(**{**kwargs, "actor": "system:resolver"})  # the resolver got there a moment earlier
        return real(**kwargs)

    with mock.patch("reconciliation.services.payment_apply_charge", side_effect=resolver_first):
        reconcile(today(), write_report(tmp_path, today(), [line]))
    assert ReconciliationException.objects.get().resolution == "auto_resolved"
    assert JournalEntry.objects.filter(source=lost.id, type="charge").count() == 1
