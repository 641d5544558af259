"""A well-formed report never fails a run: every line the platform cannot place is an exception for finance.

Issue 11, item 8: a charge and its return, or a dispute and its reversal, for a
reference the platform does not know (the sandbox keeps its own database, so this
happens after switching ``DATABASE_URL``) made two findings of one type on one
match key, and the run ended ``failed`` on an IntegrityError with no exception for
finance. A match key is only unique within a line type; so is a finding.
"""

import pytest
from django.db import transaction

from core.ids import new_id
from ledger import posting_rules
from reconciliation import services
from reconciliation.models import ReconciliationException, ReconciliationRun
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


def reconciled(tmp_path, lines) -> dict:
    """Reconcile today from ``lines``; the run must have succeeded and its figures must be the command's."""
    result = reconcile(today(), write_report(tmp_path, today(), lines))
    run = ReconciliationRun.objects.get(settlement_date=today())
    assert (run.status, run.error) == ("succeeded", "")
    assert (run.matched, run.exception_counts) == (result["matched"], result["exceptions"])
    return result


def found() -> dict[tuple[str, str, str], ReconciliationException]:
    """Today's exceptions by (type, line type, match key), each of which must be there once."""
    exceptions = list(ReconciliationException.objects.filter(settlement_date=today()))
    keyed = {(e.type, e.line_type, e.match_key): e for e in exceptions}
    assert len(keyed) == len(exceptions)
    return keyed


def described(exception: ReconciliationException) -> tuple:
    return (
        exception.line_type,
        exception.reference,
        exception.processor_id,
        exception.currency,
        exception.external_amount,
        exception.external_fee,
        exception.details["lines"],
    )


def test_a_charge_and_its_return_for_an_unknown_payment_are_two_exceptions(tmp_path):
    charge_id = new_id("ch")
    lines = [
        Line("charge", charge_id, "pay_unknown", "USD", 5_000),
        Line("return", charge_id, "pay_unknown", "USD", -5_000),
    ]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, {"missing_internal": 2})
    exceptions = found()
    assert described(exceptions["missing_internal", "charge", "pay_unknown"]) == (
        "charge",
        "pay_unknown",
        charge_id,
        "USD",
        5_000,
        150,
        [2],
    )
    assert described(exceptions["missing_internal", "return", "pay_unknown"]) == (
        "return",
        "pay_unknown",
        charge_id,
        "USD",
        -5_000,
        0,
        [3],
    )
    assert {e.status for e in exceptions.values()} == {"open"}
    assert {e.merchant_id for e in exceptions.values()} == {None}


def test_a_dispute_and_its_reversal_for_an_unknown_dispute_are_two_exceptions(tmp_path):
    dispute_id = new_id("dsp")
    lines = [
        Line("dispute", dispute_id, "pay_unknown", "EUR", -4_000),
        Line("dispute_reversal", dispute_id, "pay_unknown", "EUR", 4_000),
    ]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, {"missing_internal": 2})
    exceptions = found()
    assert described(exceptions["missing_internal", "dispute", dispute_id]) == (
        "dispute",
        "pay_unknown",
        dispute_id,
        "EUR",
        -4_000,
        1_500,
        [2],
    )
    assert described(exceptions["missing_internal", "dispute_reversal", dispute_id]) == (
        "dispute_reversal",
        "pay_unknown",
        dispute_id,
        "EUR",
        4_000,
        0,
        [3],
    )


def test_every_line_type_for_one_unknown_reference(tmp_path):
    charge_id, dispute_id = new_id("ch"), new_id("dsp")
    lines = [
        Line("charge", charge_id, "pay_gone", "USD", 9_000),
        Line("refund", new_id("rf"), "pay_gone", "USD", -1_000),  # a refund line naming the payment
        Line("dispute", dispute_id, "pay_gone", "USD", -8_000),
        Line("dispute_reversal", dispute_id, "pay_gone", "USD", 8_000),
        Line("return", charge_id, "pay_gone", "USD", -9_000),
    ]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, {"missing_internal": 5})
    exceptions = found()
    assert {(line_type, key) for _, line_type, key in exceptions} == {
        ("charge", "pay_gone"),
        ("refund", "pay_gone"),
        ("return", "pay_gone"),
        ("dispute", dispute_id),
        ("dispute_reversal", dispute_id),
    }
    assert sorted(e.details["lines"][0] for e in exceptions.values()) == [2, 3, 4, 5, 6]
    assert sorted(e.external_amount for e in exceptions.values()) == [-9_000, -8_000, -1_000, 8_000, 9_000]


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["return", "return"], {"duplicate_external": 1}),
        (["charge", "return", "return"], {"duplicate_external": 1, "missing_internal": 1}),
        (["charge", "charge", "return", "return"], {"duplicate_external": 2}),
        (["charge", "return", "charge", "return", "return"], {"duplicate_external": 2}),
    ],
)
def test_duplicated_lines_of_several_types_for_one_unknown_reference(tmp_path, types, expected):
    charge_id = new_id("ch")
    lines = [Line(kind, charge_id, "pay_unknown", "USD", 5_000 if kind == "charge" else -5_000) for kind in types]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, expected)
    exceptions = found()
    assert sum(e.details["line_count"] for e in exceptions.values()) == len(types)
    for (kind, line_type, _), exception in exceptions.items():
        numbers = [n + 2 for n, t in enumerate(types) if t == line_type]
        assert exception.details["lines"] == numbers
        assert exception.external_amount == sum(5_000 if line_type == "charge" else -5_000 for _ in numbers)


def test_a_refund_for_an_unknown_payment(tmp_path):
    charge_id = new_id("ch")
    lines = [
        Line("charge", charge_id, "pay_unknown", "USD", 5_000),
        Line("refund", new_id("rf"), "re_unknown", "USD", -2_000),
        Line("return", charge_id, "pay_unknown", "USD", -5_000),
        Line("charge", new_id("ch"), "re_unknown", "USD", 2_000),
    ]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, {"missing_internal": 4})
    assert set(found()) == {
        ("missing_internal", "charge", "pay_unknown"),
        ("missing_internal", "return", "pay_unknown"),
        ("missing_internal", "refund", "re_unknown"),
        ("missing_internal", "charge", "re_unknown"),
    }


def test_lines_of_another_type_for_a_known_payment(merchant, tmp_path):
    paid = payment(merchant, 6_000)
    lines = [
        charge_line(paid),
        Line("return", paid.processor_charge_id, paid.id, "USD", -6_000),  # not returned in our ledger
        Line("refund", new_id("rf"), paid.id, "USD", -1_000),
    ]  # a refund line naming the payment
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (1, {"missing_internal": 2})
    exceptions = found()
    returned = exceptions["missing_internal", "return", paid.id]
    assert (returned.merchant_id, returned.details["object_status"], returned.external_amount) == (
        merchant.id,
        "succeeded",
        -6_000,
    )
    refunded = exceptions["missing_internal", "refund", paid.id]
    assert (refunded.merchant_id, refunded.details["object_status"], refunded.external_amount) == (None, None, -1_000)


def test_a_charge_and_a_return_of_a_payment_we_hold_as_failed(merchant, tmp_path):
    failed = payment(merchant, 5_000, status="failed")
    charge_id = failed.processor_charge_id
    lines = [Line("charge", charge_id, failed.id, "USD", 5_000), Line("return", charge_id, failed.id, "USD", -5_000)]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (0, {"status_mismatch": 2})
    exceptions = found()
    assert {line_type for _, line_type, _ in exceptions} == {"charge", "return"}
    assert {(e.merchant_id, e.details["object_status"]) for e in exceptions.values()} == {(merchant.id, "failed")}


def test_a_processing_payment_charged_and_returned_is_settled_from_its_charge_line_only(merchant, tmp_path):
    lost = payment(merchant, 2_500, status="processing")
    charge_id = new_id("ch")
    lines = [Line("charge", charge_id, lost.id, "USD", 2_500), Line("return", charge_id, lost.id, "USD", -2_500)]
    result = reconciled(tmp_path, lines)
    assert nonzero(result) == {"status_mismatch": 2}
    exceptions = found()
    charge = exceptions["status_mismatch", "charge", lost.id]
    returned = exceptions["status_mismatch", "return", lost.id]
    assert (charge.status, charge.resolution) == ("resolved", "auto_resolved")
    assert (returned.status, returned.external_amount) == ("open", -2_500)
    lost.refresh_from_db()
    assert lost.status == "succeeded"


def _charged_and_returned(merchant, amount: int):
    paid = payment(merchant, amount)
    with transaction.atomic():
        posting_rules.payment_returned(payment_id=paid.id, return_code="R01")
    return paid


def test_a_charge_and_a_return_missing_from_the_report(merchant, tmp_path):
    returned = _charged_and_returned(merchant, 7_000)
    result = reconciled(tmp_path, [])
    assert nonzero(result) == {"missing_external": 2}
    exceptions = found()
    assert exceptions["missing_external", "charge", returned.id].internal_amount == 7_000
    assert exceptions["missing_external", "return", returned.id].internal_amount == -7_000


def test_a_charge_and_a_return_both_with_other_amounts_and_fees(merchant, tmp_path):
    returned = _charged_and_returned(merchant, 7_000)
    charge_id = returned.processor_charge_id
    result = reconciled(
        tmp_path,
        [Line("charge", charge_id, returned.id, "USD", 7_001), Line("return", charge_id, returned.id, "USD", -7_001)],
    )
    assert nonzero(result) == {"amount_mismatch": 2}
    result = reconciled(
        tmp_path,
        [
            Line("charge", charge_id, returned.id, "USD", 7_000, fee=1),
            Line("return", charge_id, returned.id, "USD", -7_000, fee=1),
        ],
    )
    assert nonzero(result) == {"fee_mismatch": 2}
    assert {(line_type, e.expected_fee) for (_, line_type, _), e in found().items()} == {
        ("charge", charge_fee(7_000)),
        ("return", 0),
    }


def test_lines_whose_reference_is_a_refund_id(merchant, tmp_path):
    paid = payment(merchant)
    made = refund(paid, 1_000)
    lines = [
        charge_line(paid),
        refund_line(made),
        Line("charge", new_id("ch"), made.id, "USD", 1_000),
        Line("return", new_id("ch"), made.id, "USD", -1_000),
        Line("refund", new_id("rf"), "re_unknown", "USD", -300),
        Line("charge", new_id("ch"), "re_unknown", "USD", 300),
    ]
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (2, {"missing_internal": 4})
    assert set(found()) == {
        ("missing_internal", "charge", made.id),
        ("missing_internal", "return", made.id),
        ("missing_internal", "refund", "re_unknown"),
        ("missing_internal", "charge", "re_unknown"),
    }


def test_a_known_dispute_and_an_unknown_reversal_line_of_another_dispute_id(merchant, tmp_path):
    paid = payment(merchant, 4_000)
    opened = dispute(paid)
    lines = [
        charge_line(paid),
        dispute_line(opened, amount=-3_999),
        Line("dispute_reversal", opened.processor_dispute_id, paid.id, "USD", 3_999),
        Line("dispute", paid.id, paid.id, "USD", -4_000),
    ]  # a dispute line whose processor id is the payment's
    result = reconciled(tmp_path, lines)
    assert (result["matched"], nonzero(result)) == (
        1,
        {"amount_mismatch": 1, "status_mismatch": 1, "missing_internal": 1},
    )
    assert set(found()) == {
        ("amount_mismatch", "dispute", opened.processor_dispute_id),
        ("status_mismatch", "dispute_reversal", opened.processor_dispute_id),
        ("missing_internal", "dispute", paid.id),
    }


def test_a_rerun_keeps_each_line_types_exception_and_a_resolved_one_does_not_hide_another(finance, tmp_path):
    charge_id = new_id("ch")
    charge = Line("charge", charge_id, "pay_unknown", "USD", 5_000)
    returned = Line("return", charge_id, "pay_unknown", "USD", -5_000)
    reconciled(tmp_path, [charge])
    first = found()["missing_internal", "charge", "pay_unknown"]
    services.exception_explain(exception=first, user=finance, note="the sandbox's own database")

    result = reconciled(tmp_path, [charge, returned])
    assert nonzero(result) == {"missing_internal": 2}  # found again: counted, but it stays resolved…
    exceptions = found()
    again = exceptions["missing_internal", "charge", "pay_unknown"]
    assert (again.pk, again.status, again.resolution) == (first.pk, "resolved", "explained")
    new = exceptions["missing_internal", "return", "pay_unknown"]  # …and does not hide the return
    assert (new.status, new.external_amount) == ("open", -5_000)

    assert reconciled(tmp_path, [charge, returned]) == result
    assert found()["missing_internal", "return", "pay_unknown"].pk == new.pk  # the same open row, updated
    reconciled(tmp_path, [charge])
    assert set(found()) == {("missing_internal", "charge", "pay_unknown")}  # the return's exception is gone


def test_duplicated_lines_whose_sum_does_not_fit_64_bits(tmp_path):
    # Each amount fits (16 digits at most); 1 000 of them add up beyond 2^63. Still a duplicate for finance.
    huge = 9_999_999_999_999_999
    lines = [Line("refund", new_id("rf"), "re_huge", "USD", huge, fee=huge) for _ in range(1_000)]
    lines.append(Line("refund", new_id("rf"), "re_small", "USD", -huge))
    lines.append(Line("refund", new_id("rf"), "re_small", "USD", -huge))
    result = reconciled(tmp_path, lines)
    assert nonzero(result) == {"duplicate_external": 2}
    exceptions = found()
    too_large = exceptions["duplicate_external", "refund", "re_huge"]
    assert (too_large.external_amount, too_large.external_fee, too_large.details["line_count"]) == (None, None, 1_000)
    assert too_large.details["lines"] == list(range(2, 1_002))
    small = exceptions["duplicate_external", "refund", "re_small"]
    assert (small.external_amount, small.external_fee) == (-2 * huge, 0)
