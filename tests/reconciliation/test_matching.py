"""Each exception type, from crafted report files against a ledger written by the real posting rules."""

import datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.ids import new_id
from reconciliation.models import ReconciliationException, ReconciliationRun, SettlementLine
from tests.processors import configure_processor
from tests.reconciliation.helpers import (
    Line,
    charge_fee,
    charge_line,
    dispute,
    dispute_line,
    nonzero,
    payment,
    reconcile,
    refund,
    refund_line,
    today,
    write_report,
)

pytestmark = pytest.mark.django_db

TYPES = {
    "missing_internal",
    "missing_external",
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",
    "duplicate_external",
    "fee_mismatch",
}


def only(kind: str) -> ReconciliationException:
    exceptions = list(ReconciliationException.objects.filter(type=kind))
    assert len(exceptions) == 1, exceptions
    return exceptions[0]


def test_a_day_that_agrees_matches_every_line_and_reports_every_type_at_zero(merchant, tmp_path):
    paid, other = payment(merchant, 10_000), payment(merchant, 1_061)
    refunded = refund(paid, 2_500)
    disputed = payment(merchant, 4_000)
    won = dispute(disputed, won=True)
    lost = dispute(payment(merchant, 3_000), status="lost")
    lines = [
        charge_line(paid),
        charge_line(other),
        refund_line(refunded),
        charge_line(disputed),
        dispute_line(won),
        dispute_line(won, reversal=True),
        charge_line(lost.payment),
        dispute_line(lost),
    ]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert result["matched"] == 8
    assert set(result["exceptions"]) == TYPES and nonzero(result) == {}
    run = ReconciliationRun.objects.get(settlement_date=today())
    assert (run.status, run.lines, run.matched, run.internal_items) == ("succeeded", 8, 8, 8)
    assert SettlementLine.objects.filter(run=run).count() == 8
    assert ReconciliationException.objects.count() == 0


def test_missing_internal_is_a_line_we_have_no_record_of(merchant, tmp_path):
    paid = payment(merchant)
    stranger = Line("charge", new_id("ch"), "pay_unknown", "USD", 5_000)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid), stranger]))
    assert (result["matched"], nonzero(result)) == (1, {"missing_internal": 1})
    exception = only("missing_internal")
    assert (exception.match_key, exception.line_type, exception.merchant_id) == ("pay_unknown", "charge", None)
    assert (exception.external_amount, exception.internal_amount, exception.external_fee) == (5_000, None, 150)
    assert exception.details["lines"] == [3] and exception.status == "open"


def test_an_unknown_dispute_is_missing_internal(merchant, tmp_path):
    paid = payment(merchant)
    line = Line("dispute", new_id("dsp"), paid.id, "USD", -paid.amount)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid), line]))
    assert nonzero(result) == {"missing_internal": 1}
    assert only("missing_internal").match_key == line.processor_id  # disputes match on the processor's id


def test_missing_external_is_a_ledger_event_the_report_lacks(merchant, tmp_path):
    paid, forgotten = payment(merchant), payment(merchant, 7_000)
    refunded = refund(paid, 1_000)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid)]))
    assert (result["matched"], nonzero(result)) == (1, {"missing_external": 2})
    charge = ReconciliationException.objects.get(type="missing_external", line_type="charge")
    assert (charge.match_key, charge.reference, charge.processor_id) == (
        forgotten.id,
        forgotten.id,
        forgotten.processor_charge_id,
    )
    assert (charge.internal_amount, charge.external_amount, charge.merchant_id) == (7_000, None, merchant.id)
    assert charge.details["ledger_entry"].startswith("txn_") and charge.details["object_status"] == "succeeded"
    missing_refund = ReconciliationException.objects.get(type="missing_external", line_type="refund")
    assert (missing_refund.match_key, missing_refund.internal_amount) == (refunded.id, -1_000)


def test_a_missing_dispute_line_names_the_payment_as_reference(merchant, tmp_path):
    paid = payment(merchant)
    opened = dispute(paid)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid)]))
    assert nonzero(result) == {"missing_external": 1}
    exception = only("missing_external")
    assert (exception.line_type, exception.match_key, exception.reference, exception.processor_id) == (
        "dispute",
        opened.processor_dispute_id,
        paid.id,
        opened.processor_dispute_id,
    )
    assert exception.internal_amount == -paid.amount


def test_amount_mismatch(merchant, tmp_path):
    paid = payment(merchant, 10_000)
    line = charge_line(paid, amount=9_000)
    result = reconcile(today(), write_report(tmp_path, today(), [line]))
    assert (result["matched"], nonzero(result)) == (0, {"amount_mismatch": 1})
    exception = only("amount_mismatch")
    assert (exception.internal_amount, exception.external_amount, exception.merchant_id) == (10_000, 9_000, merchant.id)
    assert (exception.reference, exception.processor_id) == (paid.id, paid.processor_charge_id)


def test_a_refund_of_another_amount_is_an_amount_mismatch(merchant, tmp_path):
    paid = payment(merchant)
    refunded = refund(paid, 2_500)
    result = reconcile(
        today(), write_report(tmp_path, today(), [charge_line(paid), refund_line(refunded, amount=-2_000)])
    )
    assert (result["matched"], nonzero(result)) == (1, {"amount_mismatch": 1})
    assert only("amount_mismatch").internal_amount == -2_500


def test_currency_mismatch_wins_over_amount_and_fee(merchant, tmp_path):
    paid = payment(merchant, 10_000)
    line = charge_line(paid, currency="EUR", amount=9_000, fee=1)
    result = reconcile(today(), write_report(tmp_path, today(), [line]))
    assert nonzero(result) == {"currency_mismatch": 1}
    exception = only("currency_mismatch")
    assert (exception.currency, exception.details["internal_currency"]) == ("EUR", "USD")


def test_amount_mismatch_wins_over_fee(merchant, tmp_path):
    paid = payment(merchant, 10_000)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid, amount=9_999, fee=1)]))
    assert nonzero(result) == {"amount_mismatch": 1}


def test_fee_mismatch(merchant, tmp_path):
    paid, disputed = payment(merchant, 10_000), payment(merchant, 5_000)
    opened = dispute(disputed)
    lines = [charge_line(paid, fee=300), charge_line(disputed), dispute_line(opened, fee=2_000)]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (1, {"fee_mismatch": 2})
    charge = ReconciliationException.objects.get(type="fee_mismatch", line_type="charge")
    assert (charge.expected_fee, charge.external_fee) == (275, 300)
    assert ReconciliationException.objects.get(type="fee_mismatch", line_type="dispute").expected_fee == 1_500


def test_expected_fees_come_from_settings(merchant, tmp_path, settings):
    configure_processor(settings, fee_bps=300, fee_fixed=30, dispute_fee=1_000)
    paid = payment(merchant, 1_050)
    opened = dispute(payment(merchant, 2_000))
    # 1 050 × 3 % = 31.5, rounded half to even: 32; + 30.
    lines = [
        charge_line(paid, fee=62),
        charge_line(opened.payment, fee=charge_fee(2_000, 300, 30)),
        dispute_line(opened, fee=1_000),
    ]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (3, {})
    result = reconcile(today(), write_report(tmp_path, today(), [*lines[:2], dispute_line(opened)]))
    assert nonzero(result) == {"fee_mismatch": 1}  # the default 1 500 no longer is what we expect


def test_a_refund_is_expected_to_cost_nothing(merchant, tmp_path):
    paid = payment(merchant)
    refunded = refund(paid, 1_000)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid), refund_line(refunded, fee=5)]))
    assert nonzero(result) == {"fee_mismatch": 1}
    assert only("fee_mismatch").expected_fee == 0


@pytest.mark.parametrize("status", ["processing", "failed", "canceled", "requires_capture"])
def test_a_settled_charge_of_a_payment_we_do_not_hold_as_succeeded_is_a_status_mismatch(merchant, tmp_path, status):
    held = payment(merchant, 5_000, status=status, capture_method="manual" if status == "processing" else "automatic")
    line = charge_line(held, processor_id=held.processor_charge_id or new_id("ch"), amount=5_000)
    result = reconcile(today(), write_report(tmp_path, today(), [line]))
    assert nonzero(result) == {"status_mismatch": 1}
    exception = only("status_mismatch")
    assert (exception.details["object_status"], exception.merchant_id, exception.status) == (
        status,
        merchant.id,
        "open",
    )
    if status == "processing":  # manual capture: the processor should not have captured it, so no guess is made
        assert "captured manually" in exception.details["not_auto_resolved"]


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_a_settled_refund_we_hold_as_pending_or_failed_is_a_status_mismatch(merchant, tmp_path, status):
    paid = payment(merchant)
    held = refund(paid, 1_000, status=status)
    result = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid), refund_line(held)]))
    assert (result["matched"], nonzero(result)) == (1, {"status_mismatch": 1})
    assert only("status_mismatch").details["object_status"] == status


def test_a_reversal_of_a_dispute_we_hold_as_lost_is_a_status_mismatch(merchant, tmp_path):
    paid = payment(merchant)
    lost = dispute(paid, status="lost")
    lines = [charge_line(paid), dispute_line(lost), dispute_line(lost, reversal=True)]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (2, {"status_mismatch": 1})


def test_a_line_twice_is_one_duplicate_and_nothing_else(merchant, tmp_path):
    paid, twice = payment(merchant), payment(merchant, 3_000)
    lines = [charge_line(paid), charge_line(twice), charge_line(twice), charge_line(twice, amount=1)]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (1, {"duplicate_external": 1})
    exception = only("duplicate_external")
    assert (exception.match_key, exception.details["lines"], exception.details["line_count"]) == (
        twice.id,
        [3, 4, 5],
        3,
    )
    assert (exception.internal_amount, exception.external_amount, exception.merchant_id) == (3_000, 6_001, merchant.id)


def test_an_unknown_line_twice_is_a_duplicate(merchant, tmp_path):
    stranger = Line("refund", new_id("rf"), "re_unknown", "USD", -100)
    result = reconcile(today(), write_report(tmp_path, today(), [stranger, stranger]))
    assert (result["matched"], nonzero(result)) == (0, {"duplicate_external": 1})


def test_ledger_events_of_another_day_are_not_the_days(merchant, tmp_path):
    paid = payment(merchant)
    yesterday = today() - datetime.timedelta(days=1)
    result = reconcile(yesterday, write_report(tmp_path, yesterday, [charge_line(paid)]))
    assert nonzero(result) == {"missing_internal": 1}  # captured today, not yesterday
    assert only("missing_internal").details["object_status"] == "succeeded"
    result = reconcile(today(), write_report(tmp_path, today(), []))
    assert nonzero(result) == {"missing_external": 1}


def test_entries_posted_after_the_run_started_are_left_for_the_next_run(merchant, tmp_path):
    paid = payment(merchant)
    path = write_report(tmp_path, today(), [])
    earlier = timezone.now() - datetime.timedelta(seconds=5)
    with mock.patch("reconciliation.services.timezone.now", return_value=earlier):
        call_command("reconcile", "--date", today().isoformat(), "--file", str(path), stdout=mock.Mock())
    assert ReconciliationException.objects.count() == 0  # the capture came after the report was fetched
    assert nonzero(reconcile(today(), path)) == {"missing_external": 1}
    assert only("missing_external").match_key == paid.id


def test_several_currencies_and_merchants_in_one_report(merchant, other_merchant, tmp_path):
    usd, eur = payment(merchant, 10_000), payment(other_merchant, 8_000, currency="EUR")
    jpy = payment(other_merchant, 500, currency="JPY")
    lines = [charge_line(usd), charge_line(eur), charge_line(jpy, amount=501)]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (2, {"amount_mismatch": 1})
    assert only("amount_mismatch").merchant_id == other_merchant.id


def test_ids_with_commas_quotes_and_unicode_survive_the_import(merchant, tmp_path):
    odd = 'pay_"odd", ref é\ttab\\slash'
    result = reconcile(today(), write_report(tmp_path, today(), [Line("charge", "ch,1", odd, "USD", 100)]))
    assert nonzero(result) == {"missing_internal": 1}
    exception = only("missing_internal")
    assert (exception.reference, exception.processor_id, exception.match_key) == (odd, "ch,1", odd)


def test_a_returned_bank_transfer_matches_its_return_line(merchant, tmp_path):
    from django.db import transaction

    from ledger import posting_rules

    if not hasattr(posting_rules, "payment_returned"):
        pytest.skip("the ledger has no payment returns yet")
    returned, not_returned, unreported = payment(merchant, 5_000), payment(merchant, 6_000), payment(merchant, 7_000)
    with transaction.atomic():
        posting_rules.payment_returned(payment_id=returned.id, return_code="R01")
        posting_rules.payment_returned(payment_id=unreported.id, return_code="R01")
    lines = [
        charge_line(returned),
        charge_line(not_returned),
        charge_line(unreported),
        Line("return", returned.processor_charge_id, returned.id, "USD", -5_000),
        Line("return", not_returned.processor_charge_id, not_returned.id, "USD", -6_000),
    ]
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    assert (result["matched"], nonzero(result)) == (4, {"missing_internal": 1, "missing_external": 1})
    missing = only("missing_internal")
    assert (missing.line_type, missing.match_key, missing.merchant_id) == ("return", not_returned.id, merchant.id)
    assert missing.details["object_status"] == "succeeded"
    unmatched = only("missing_external")
    assert (unmatched.line_type, unmatched.match_key, unmatched.processor_id, unmatched.internal_amount) == (
        "return",
        unreported.id,
        unreported.processor_charge_id,
        -7_000,
    )


def test_a_converted_payment_is_matched_in_the_currency_the_processor_settled(merchant, tmp_path):
    import inspect
    from decimal import Decimal

    from ledger import posting_rules

    if "fx_rate" not in inspect.signature(posting_rules.payment_captured).parameters:
        pytest.skip("the ledger does not convert currencies yet")
    converted = payment(
        merchant,
        10_000,
        currency="EUR",
        processor_charge_id="ch_fx",
        settlement_currency="USD",
        fx_rate=Decimal("1.08"),
    )
    line = Line("charge", "ch_fx", converted.id, "EUR", 10_000)
    result = reconcile(today(), write_report(tmp_path, today(), [line]))
    assert (result["matched"], nonzero(result)) == (1, {})
