"""The back-office services: thresholds, maker-checker, permissions, ledger adjustments, and their audit rows."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice import services
from backoffice.errors import RefundRequestAlreadyDecided, RefundRequestSelfDecision
from backoffice.models import LedgerAdjustment, RefundRequest
from core.errors import InvalidRequestError
from core.models import AuditEntry
from core.staff import StaffPermissionDenied
from ledger.models import JournalEntry
from payments.models import Refund
from tests.backoffice.conftest import payment_row, requires_processor_refunds, sandbox_payment

pytestmark = pytest.mark.django_db

THRESHOLD = 50_000  # USD, the default REFUND_APPROVAL_THRESHOLD


def audit_of(obj) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.pk)).order_by("id"))


# --- The threshold ------------------------------------------------------------------------------


def test_threshold_per_currency_with_a_default(settings):
    settings.REFUND_APPROVAL_THRESHOLD = {"USD": 50_000, "JPY": 70_000}
    settings.REFUND_APPROVAL_THRESHOLD_DEFAULT = 10_000
    assert services.refund_approval_threshold("USD") == 50_000
    assert services.refund_approval_threshold("JPY") == 70_000
    assert services.refund_approval_threshold("EUR") == 10_000


def test_support_above_the_threshold_gets_a_request_not_a_refund(merchant, support):
    # Given a succeeded payment larger than the threshold
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000)
    # When Support refunds more than the threshold
    outcome = services.staff_refund(
        payment=payment, amount=THRESHOLD + 1, reason="requested_by_customer", note="customer called", user=support
    )
    # Then no refund exists, a pending request does, with its audit row
    assert outcome.refund is None and Refund.objects.count() == 0
    request = outcome.request
    assert (request.status, request.amount, request.currency, request.requested_by) == (
        "pending",
        THRESHOLD + 1,
        "USD",
        support,
    )
    [entry] = audit_of(request)
    assert (entry.actor, entry.action) == ("staff:sam.support", "refund_request.create")
    assert entry.reason == "customer called"
    assert entry.after["amount"] == THRESHOLD + 1 and entry.after["payment"] == payment.id
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


def test_a_request_is_refused_when_it_exceeds_what_is_left(merchant, support):
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000, amount_refunded=20_000)
    with pytest.raises(InvalidRequestError) as error:
        services.staff_refund(payment=payment, amount=70_000, reason="duplicate", note="", user=support)
    assert error.value.code == "refund_exceeds_captured"
    assert RefundRequest.objects.count() == 0


def test_a_request_is_refused_for_a_payment_that_did_not_succeed(merchant, support):
    payment = payment_row(merchant, amount=80_000, amount_captured=0, status="requires_capture")
    with pytest.raises(InvalidRequestError) as error:
        services.staff_refund(payment=payment, amount=60_000, reason="duplicate", note="", user=support)
    assert error.value.code == "payment_unexpected_state"


def test_a_double_submitted_form_makes_one_request(merchant, support):
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000)
    first = services.staff_refund(
        payment=payment, amount=60_000, reason="duplicate", note="", user=support, creation_key="form-token-1"
    ).request
    again = services.staff_refund(
        payment=payment, amount=60_000, reason="duplicate", note="", user=support, creation_key="form-token-1"
    ).request
    assert first.pk == again.pk and RefundRequest.objects.count() == 1
    assert len(audit_of(first)) == 1


def test_without_the_refund_permission_nothing_happens(merchant, operations):
    payment = payment_row(merchant)
    with pytest.raises(StaffPermissionDenied):
        services.staff_refund(payment=payment, amount=100, reason="duplicate", note="", user=operations)
    assert RefundRequest.objects.count() == 0 and AuditEntry.objects.count() == 0


# --- Maker-checker --------------------------------------------------------------------------------


@pytest.fixture
def pending_request(merchant, support):
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000)
    return services.staff_refund(
        payment=payment, amount=60_000, reason="fraudulent", note="stolen card", user=support
    ).request


def test_support_cannot_approve(pending_request, support2):
    with pytest.raises(StaffPermissionDenied):
        services.refund_request_approve(request=pending_request, user=support2, note="")
    pending_request.refresh_from_db()
    assert pending_request.status == "pending"


def test_a_maker_cannot_approve_their_own_request(merchant, finance):
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000)
    own = services.staff_refund(payment=payment, amount=60_000, reason="duplicate", note="", user=finance).request
    with pytest.raises(RefundRequestSelfDecision):
        services.refund_request_approve(request=own, user=finance, note="looks fine")
    with pytest.raises(RefundRequestSelfDecision):
        services.refund_request_reject(request=own, user=finance, note="never mind")
    own.refresh_from_db()
    assert own.status == "pending" and own.decided_by is None
    assert [e.action for e in audit_of(own)] == ["refund_request.create"]


def test_the_database_refuses_a_decision_by_the_requester(pending_request, support):
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundRequest.objects.filter(pk=pending_request.pk).update(
            status="approved", decided_by=support, decided_at=timezone.now()
        )


def test_finance_rejects_another_users_request(pending_request, finance):
    rejected = services.refund_request_reject(request=pending_request, user=finance, note="not our customer")
    assert (rejected.status, rejected.decided_by, rejected.decision_note) == ("rejected", finance, "not our customer")
    assert rejected.refund is None and Refund.objects.count() == 0
    entry = audit_of(rejected)[-1]
    assert (entry.actor, entry.action, entry.before, entry.after, entry.reason) == (
        "staff:fay.finance",
        "refund_request.reject",
        {"status": "pending"},
        {"status": "rejected"},
        "not our customer",
    )


def test_rejecting_needs_a_reason(pending_request, finance):
    with pytest.raises(InvalidRequestError):
        services.refund_request_reject(request=pending_request, user=finance, note="  ")


def test_a_decided_request_cannot_be_decided_again(pending_request, finance, finance2):
    services.refund_request_reject(request=pending_request, user=finance, note="no")
    with pytest.raises(RefundRequestAlreadyDecided, match="already rejected by fay.finance"):
        services.refund_request_approve(request=pending_request, user=finance2, note="yes")
    with pytest.raises(RefundRequestAlreadyDecided):
        services.refund_request_reject(request=pending_request, user=finance2, note="no")
    assert Refund.objects.count() == 0


@requires_processor_refunds
def test_finance_approves_another_users_request_and_the_refund_is_made(api_client, sandbox, support, finance):
    # Given Support asked for a refund above the threshold
    payment = sandbox_payment(api_client, amount=90_000)
    request = services.staff_refund(
        payment=payment, amount=70_000, reason="requested_by_customer", note="goods returned", user=support
    ).request
    # When another (Finance) user approves it
    approved = services.refund_request_approve(request=request, user=finance, note="checked the return")
    # Then the refund was made through refund_create, as the approver, and linked to the request
    assert approved.status == "approved" and approved.decided_by == finance
    refund = approved.refund
    assert (refund.amount, refund.status, refund.requested_by) == (70_000, "succeeded", "staff:fay.finance")
    assert refund.creation_idempotency_key == services.refund_request_key(request)
    payment.refresh_from_db()
    assert payment.amount_refunded == 70_000
    assert [e.action for e in audit_of(request)] == [
        "refund_request.create",
        "refund_request.approve",
        "refund_request.refund",
    ]
    assert {e.actor for e in audit_of(refund)} == {"staff:fay.finance"}
    assert JournalEntry.objects.filter(source=refund.id).exists()
    # And approving again is refused, with no second refund
    with pytest.raises(RefundRequestAlreadyDecided):
        services.refund_request_approve(request=request, user=finance, note="again")
    assert Refund.objects.filter(payment=payment).count() == 1


@requires_processor_refunds
def test_an_approval_whose_refund_is_refused_marks_the_request_failed(api_client, sandbox, support, finance):
    payment = sandbox_payment(api_client, amount=90_000)
    request = services.staff_refund(payment=payment, amount=70_000, reason="duplicate", note="", user=support).request
    # Meanwhile the merchant refunded most of it through the API
    services.staff_refund(payment=payment, amount=40_000, reason="duplicate", note="", user=finance)
    payment.refresh_from_db()
    failed = services.refund_request_approve(request=request, user=finance, note="")
    assert failed.status == "failed" and failed.refund is None
    assert "50000 is left" in failed.failure_message
    assert audit_of(request)[-1].action == "refund_request.fail"


@requires_processor_refunds
def test_support_refunds_at_the_threshold_at_once(api_client, sandbox, support):
    payment = sandbox_payment(api_client, amount=90_000)
    outcome = services.staff_refund(
        payment=payment,
        amount=THRESHOLD,
        reason="requested_by_customer",
        note="late delivery",
        user=support,
        creation_key="tok-1",
    )
    refund = outcome.refund
    assert outcome.request is None
    assert (refund.amount, refund.status, refund.requested_by) == (THRESHOLD, "succeeded", "staff:sam.support")
    # the same form submitted again finds the same refund
    again = services.staff_refund(
        payment=payment,
        amount=THRESHOLD,
        reason="requested_by_customer",
        note="late delivery",
        user=support,
        creation_key="tok-1",
    )
    assert again.refund.pk == refund.pk and Refund.objects.count() == 1
    staff_entries = AuditEntry.objects.filter(action="staff.refund", object_id=payment.id)
    assert [(e.actor, e.reason, e.after["refund"]) for e in staff_entries] == [
        ("staff:sam.support", "late delivery", refund.id)
    ]
    assert audit_of(refund)[0].action == "refund.create"


@requires_processor_refunds
def test_splitting_a_large_refund_into_small_ones_still_needs_approval(api_client, sandbox, support, finance):
    payment = sandbox_payment(api_client, amount=90_000)
    first = services.staff_refund(payment=payment, amount=30_000, reason="duplicate", note="", user=support)
    assert first.refund is not None
    payment.refresh_from_db()
    # 30 000 + 30 000 is above the 50 000 threshold, whoever asks
    second = services.staff_refund(payment=payment, amount=30_000, reason="duplicate", note="", user=support)
    assert second.refund is None and second.request.amount == 30_000
    assert services.staff_refunded_without_approval(payment) == 30_000
    # a refund made through an approved request does not count against the threshold
    approved = services.refund_request_approve(request=second.request, user=finance, note="ok")
    assert approved.refund.status == "succeeded"
    assert services.staff_refunded_without_approval(payment) == 30_000


# --- Ledger adjustments ----------------------------------------------------------------------------


def test_support_cannot_adjust_the_ledger(merchant, support):
    with pytest.raises(StaffPermissionDenied):
        services.ledger_adjustment_make(merchant=merchant, amount=500, currency="USD", memo="goodwill", user=support)
    assert LedgerAdjustment.objects.count() == 0 and JournalEntry.objects.count() == 0


def test_finance_adjusts_the_ledger_with_an_entry_and_an_audit_row(merchant, finance):
    adjustment = services.ledger_adjustment_make(
        merchant=merchant,
        amount=-1_250,
        currency="USD",
        memo="chargeback fee waived twice",
        user=finance,
        creation_key="adj-form-1",
    )
    entry = adjustment.journal_entry
    assert (entry.type, entry.source, entry.status, entry.memo) == (
        "adjustment",
        adjustment.id,
        "posted",
        "chargeback fee waived twice",
    )
    assert sorted(p.amount for p in entry.postings.all()) == [-1_250, 1_250]
    [audit] = audit_of(adjustment)
    assert (audit.actor, audit.action, audit.after["amount"], audit.after["journal_entry"]) == (
        "staff:fay.finance",
        "ledger_adjustment.make",
        -1_250,
        entry.id,
    )
    # a double-submitted form posts once
    again = services.ledger_adjustment_make(
        merchant=merchant,
        amount=-1_250,
        currency="USD",
        memo="chargeback fee waived twice",
        user=finance,
        creation_key="adj-form-1",
    )
    assert again.pk == adjustment.pk and JournalEntry.objects.filter(type="adjustment").count() == 1


@pytest.mark.parametrize(("amount", "currency", "memo"), [(0, "USD", "x"), (100, "XXX", "x"), (100, "USD", " ")])
def test_a_bad_adjustment_is_refused(merchant, finance, amount, currency, memo):
    with pytest.raises(InvalidRequestError):
        services.ledger_adjustment_make(merchant=merchant, amount=amount, currency=currency, memo=memo, user=finance)
    assert JournalEntry.objects.count() == 0
