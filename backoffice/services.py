"""Every write the back office makes. The admin's views and actions call these and nothing else.

Staff go through the same services as the API (``refund_create``, ``payment_capture``,
``dispute_submit_evidence``…), acting as ``staff:<username>``. What the back office
adds is written here, each with its audit entry in the same transaction:

- refunds above ``REFUND_APPROVAL_THRESHOLD`` become a ``RefundRequest`` that a
  different user with ``approve_refund_request`` approves or rejects (maker-checker),
  decided under the payment's row lock together with the refund rules themselves
  (``refund_services.refund_check``, the one place they are written);
- ledger adjustments, posted to the ledger with their record and audit entry;
- holds on a merchant's payouts (Finance), through ``payouts.payout_services``.

No function here opens a transaction around a processor call: ``refund_create``
and the payment and dispute services call the processor holding nothing.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from backoffice.errors import RefundRequestAlreadyDecided, RefundRequestSelfDecision
from backoffice.models import LedgerAdjustment, RefundRequest, new_ledger_adjustment_id
from core.audit import audit_record
from core.errors import InvalidRequestError
from core.money import MAX_AMOUNT, format_amount, is_known_currency
from core.staff import require_staff_permission, staff_actor
from ledger import posting_rules
from merchants.models import Merchant
from payments import dispute_services, refund_services, services
from payments.models import EVIDENCE_FIELDS, Dispute, Payment, Refund, RefundReason, RefundStatus
from payouts import payout_services
from payouts.models import Payout, PayoutHold

Status = RefundRequest.Status


def refund_approval_threshold(currency: str) -> int:
    """The largest refund (minor units) staff may make without a second person's approval."""
    return settings.REFUND_APPROVAL_THRESHOLD.get(currency, settings.REFUND_APPROVAL_THRESHOLD_DEFAULT)


def staff_refunded_without_approval(payment: Payment) -> int:
    """What staff refunded on ``payment`` on their own (pending or succeeded, not through an approved request).

    A refund made by an approval is known by its key (``refund_request_key``), written with the
    refund itself: its link to the request is only set afterwards, and in between it must not
    count as refunded without approval. Pending requests do not count either: no money moves
    before a second person approves them, and the threshold bounds what moves without one.
    """
    total = (
        Refund.objects.filter(payment=payment, requested_by__startswith="staff:", request__isnull=True)
        .exclude(status=RefundStatus.FAILED)
        .exclude(creation_idempotency_key__startswith=_REQUEST_KEY_PREFIX)
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or 0


def refund_request_key(request: RefundRequest) -> str:
    """The idempotency key of the refund an approved request makes: one refund per request, however often it runs."""
    return f"backoffice:{request.id}"


# Every request id is "rr_…" (``new_refund_request_id``), so every approved refund's key starts with this.
_REQUEST_KEY_PREFIX = "backoffice:rr_"


def _form_key(creation_key: str | None) -> str | None:
    return f"backoffice:form:{creation_key}" if creation_key else None


# --- Refunds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffRefundOutcome:
    """Exactly one is set: the refund made now, or the request waiting for approval."""

    refund: Refund | None = None
    request: RefundRequest | None = None


def staff_refund(
    *, payment: Payment, amount: int | None, reason: str, note: str, user, creation_key: str | None = None
) -> StaffRefundOutcome:
    """Refund ``amount`` (default: all that is left) of ``payment`` for a staff member.

    Goes through the API's ``refund_reserve`` and ``refund_send``, so every refund rule holds
    (``refund_check``: a succeeded payment, not disputed, not returned, never more than is left)
    and a refused refund writes nothing. Under the same payment row lock it decides
    maker-checker: when what staff already refunded on this payment without approval plus
    ``amount`` stays within the currency's threshold the refund is made now (the processor
    called holding nothing); above it, a ``RefundRequest`` is made instead, for another user to
    approve. Because the sum and the decision happen under the lock, concurrent staff refunds
    are decided one after the other: two of 40 000 on a threshold of 50 000 give one refund and
    one request, never two refunds; splitting a large refund into small ones still needs a
    second person. ``creation_key`` (the form's one-time token) makes a double-submitted form
    find its first refund or request instead of making a second. Raises ``StaffPermissionDenied``
    without ``refund_within_threshold``, ``reason_invalid``, and ``refund_check``'s 400s.
    """
    require_staff_permission(user, "refund_within_threshold", "refund payments")
    if reason not in RefundReason.values:
        raise InvalidRequestError(f"Unknown refund reason {reason!r}.", code="reason_invalid", param="reason")
    actor = staff_actor(user)
    creation_key = creation_key or None
    key = _form_key(creation_key)
    if creation_key is not None:
        made = Refund.objects.filter(merchant_id=payment.merchant_id, creation_idempotency_key=key).first()
        if made is not None:
            return StaffRefundOutcome(refund=made)  # the same form again: its refund, nothing more
        requested = RefundRequest.objects.filter(creation_key=creation_key).first()
        if requested is not None:
            return StaffRefundOutcome(request=requested)
    threshold = refund_approval_threshold(payment.currency)
    decided = {}

    def approval_needed(locked: Payment, amount: int) -> RefundRequest | None:
        # Under the payment's row lock, after every refund rule passed: no other refund of this payment
        # can be reserved between this sum and this decision.
        if creation_key is not None:
            requested = RefundRequest.objects.filter(creation_key=creation_key).first()
            if requested is not None:
                return requested  # a concurrent twin of this form made it
        decided["already"] = already = staff_refunded_without_approval(locked)
        if already + amount <= threshold:
            return None
        return _refund_request_create(
            payment=locked,
            amount=amount,
            reason=reason,
            note=note,
            user=user,
            creation_key=creation_key,
            already=already,
        )

    made = refund_services.refund_reserve(
        merchant=payment.merchant,
        payment=payment,
        amount=amount,
        reason=reason,
        actor=actor,
        idempotency_key=key,
        divert=approval_needed,
    )
    if isinstance(made, RefundRequest):
        return StaffRefundOutcome(request=made)
    if "already" not in decided:
        return StaffRefundOutcome(refund=made)  # a concurrent twin of this form made it and sends it
    refund = refund_services.refund_send(made, actor=actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="staff.refund",
            obj=payment,
            before={"staff_refunded": decided["already"]},
            after={"refund": refund.id, "amount": refund.amount, "status": refund.status},
            reason=note or reason,
        )
    return StaffRefundOutcome(refund=refund)


def _refund_request_create(*, payment, amount, reason, note, user, creation_key, already) -> RefundRequest:
    """The request for approval, written in ``refund_reserve``'s transaction (under the payment's lock),
    after the refund rules passed; approval checks them again, under the lock, before the refund."""
    request = RefundRequest.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        note=note,
        requested_by=user,
        creation_key=creation_key,
    )
    audit_record(
        actor=staff_actor(user),
        action="refund_request.create",
        obj=request,
        after={
            "status": request.status,
            "payment": payment.id,
            "amount": amount,
            "currency": payment.currency,
            "threshold": refund_approval_threshold(payment.currency),
            "staff_refunded": already,
        },
        reason=note or reason,
    )
    return request


def _decide(*, request: RefundRequest, user, status: str, note: str) -> RefundRequest:
    """Move a pending request to ``status`` once: the conditional update is the lock."""
    require_staff_permission(user, "approve_refund_request", "approve or reject refund requests")
    if request.requested_by_id == user.pk:
        raise RefundRequestSelfDecision("You made this refund request; another Finance user must approve or reject it.")
    verb = "approve" if status == Status.APPROVED else "reject"
    with transaction.atomic():
        decided = (
            RefundRequest.objects.filter(pk=request.pk, status=Status.PENDING)
            .exclude(requested_by=user)
            .update(status=status, decided_by=user, decided_at=timezone.now(), decision_note=note)
        )
        if not decided:
            current = RefundRequest.objects.select_related("decided_by").get(pk=request.pk)
            who = current.decided_by.get_username() if current.decided_by else "someone"
            raise RefundRequestAlreadyDecided(f"This refund request was already {current.status} by {who}.")
        audit_record(
            actor=staff_actor(user),
            action=f"refund_request.{verb}",
            obj=request,
            before={"status": Status.PENDING},
            after={"status": status},
            reason=note,
        )
    return RefundRequest.objects.get(pk=request.pk)


def refund_request_approve(*, request: RefundRequest, user, note: str = "") -> RefundRequest:
    """Approve another user's refund request and make the refund, acting as the approver.

    The approval commits first (at most once: a second approval is refused with
    ``refund_request_already_decided``); then the refund is made through ``refund_create``
    with a key derived from the request, so running this again can never refund twice.
    If the refund is refused (the payment was refunded meanwhile), the request is
    ``failed`` with the reason. Raises ``StaffPermissionDenied`` and ``RefundRequestSelfDecision``.
    """
    try:
        approved = _decide(request=request, user=user, status=Status.APPROVED, note=note)
    except RefundRequestAlreadyDecided:
        current = RefundRequest.objects.get(pk=request.pk)
        # An approval whose refund was never made (the process died in between): finish it.
        if not (current.status == Status.APPROVED and current.refund_id is None and current.decided_by_id == user.pk):
            raise
        approved = current
    return _refund_request_execute(request=approved, user=user)


def _refund_request_execute(*, request: RefundRequest, user) -> RefundRequest:
    payment = Payment.objects.select_related("merchant").get(pk=request.payment_id)
    actor = staff_actor(user)
    try:
        refund = refund_services.refund_create(
            merchant=payment.merchant,
            payment=payment,
            amount=request.amount,
            reason=request.reason,
            actor=actor,
            idempotency_key=refund_request_key(request),
        )
    except InvalidRequestError as refused:
        with transaction.atomic():
            failed = RefundRequest.objects.filter(pk=request.pk, status=Status.APPROVED, refund__isnull=True).update(
                status=Status.FAILED, failure_message=refused.message
            )
            if failed:
                audit_record(
                    actor=actor,
                    action="refund_request.fail",
                    obj=request,
                    before={"status": Status.APPROVED},
                    after={"status": Status.FAILED},
                    reason=refused.message,
                )
        return RefundRequest.objects.get(pk=request.pk)
    with transaction.atomic():
        if RefundRequest.objects.filter(pk=request.pk, refund__isnull=True).update(refund=refund):
            audit_record(
                actor=actor,
                action="refund_request.refund",
                obj=request,
                before={"refund": None},
                after={"refund": refund.id, "refund_status": refund.status},
            )
    return RefundRequest.objects.select_related("refund").get(pk=request.pk)


def refund_request_reject(*, request: RefundRequest, user, note: str) -> RefundRequest:
    """Reject another user's refund request; nothing is refunded. Same refusals as approving."""
    if not note.strip():
        raise InvalidRequestError("Say why the request is rejected.", code="note_missing", param="note")
    return _decide(request=request, user=user, status=Status.REJECTED, note=note)


# --- Payments and disputes: the API's services, with the staff member as the actor ----------------


def _payment_state(payment: Payment) -> dict:
    return {
        "status": payment.status,
        "amount_capturable": payment.amount_capturable,
        "amount_captured": payment.amount_captured,
    }


def _audit_payment_operation(*, user, action: str, before: dict, payment: Payment, reason: str = "") -> None:
    """The staff member's request in the audit trail, beside the transition the service recorded.

    Written once the service has returned: the service calls the processor with no
    transaction open and records the transition (with this actor) in its own.
    """
    with transaction.atomic():
        audit_record(
            actor=staff_actor(user),
            action=action,
            obj=payment,
            before=before,
            after=_payment_state(payment),
            reason=reason,
        )


def staff_payment_capture(*, payment: Payment, amount: int | None, user) -> Payment:
    """Capture an authorised payment (all of it, or ``amount``) through ``payment_capture``."""
    require_staff_permission(user, "capture_or_cancel_payment", "capture payments")
    before = _payment_state(payment)
    captured = services.payment_capture(payment=payment, amount=amount, actor=staff_actor(user))
    _audit_payment_operation(user=user, action="staff.capture", before=before, payment=captured)
    return captured


def staff_payment_cancel(*, payment: Payment, reason: str | None, user) -> Payment:
    """Cancel a payment or release its authorisation through ``payment_cancel``."""
    require_staff_permission(user, "capture_or_cancel_payment", "cancel payments")
    before = _payment_state(payment)
    canceled = services.payment_cancel(payment=payment, reason=reason, actor=staff_actor(user))
    _audit_payment_operation(user=user, action="staff.cancel", before=before, payment=canceled, reason=reason or "")
    return canceled


def staff_dispute_submit_evidence(*, dispute: Dispute, evidence: dict, user) -> Dispute:
    """Send evidence through ``dispute_submit_evidence``; its audit entry names the staff member."""
    require_staff_permission(user, "submit_dispute_evidence", "submit dispute evidence")
    evidence = {field: evidence.get(field, "") for field in EVIDENCE_FIELDS}
    if not any(text.strip() for text in evidence.values()):
        raise InvalidRequestError("Submit at least one evidence field with text.", code="evidence_missing")
    return dispute_services.dispute_submit_evidence(dispute=dispute, evidence=evidence, actor=staff_actor(user))


def staff_dispute_accept(*, dispute: Dispute, reason: str, user) -> Dispute:
    """Concede a dispute through ``dispute_accept``: it is lost."""
    require_staff_permission(user, "accept_dispute", "accept disputes")
    return dispute_services.dispute_accept(dispute=dispute, actor=staff_actor(user), reason=reason or "accepted")


# --- Ledger adjustments ----------------------------------------------------------------------


def ledger_adjustment_make(
    *, merchant: Merchant, amount: int, currency: str, memo: str, user, creation_key: str | None = None
) -> LedgerAdjustment:
    """Correct a merchant's available balance by the signed ``amount`` (positive credits the merchant).

    The adjustment, its journal entry (``posting_rules.manual_adjustment``) and its
    audit entry commit together or not at all. ``creation_key`` makes a
    double-submitted form return the first adjustment.
    """
    require_staff_permission(user, "make_ledger_adjustment", "make ledger adjustments")
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvalidRequestError(
            "The amount is a non-zero integer in minor units.", code="amount_invalid", param="amount"
        )
    if not is_known_currency(currency):
        raise InvalidRequestError(f"Unknown currency {currency!r}.", code="currency_invalid", param="currency")
    if not memo.strip():
        raise InvalidRequestError("Say why the balance is adjusted.", code="memo_missing", param="memo")
    adjustment_id = new_ledger_adjustment_id()
    try:
        with transaction.atomic():
            entry = posting_rules.manual_adjustment(
                adjustment_id=adjustment_id, merchant=merchant, amount=amount, currency=currency, memo=memo
            )
            adjustment = LedgerAdjustment.objects.create(
                id=adjustment_id,
                merchant=merchant,
                amount=amount,
                currency=currency,
                memo=memo,
                journal_entry=entry,
                made_by=user,
                creation_key=creation_key,
            )
            audit_record(
                actor=staff_actor(user),
                action="ledger_adjustment.make",
                obj=adjustment,
                after={
                    "merchant": merchant.pk,
                    "amount": amount,
                    "currency": currency,
                    "journal_entry": entry.id,
                    "display": format_amount(amount, currency),
                },
                reason=memo,
            )
            return adjustment
    except IntegrityError:
        existing = LedgerAdjustment.objects.filter(creation_key=creation_key).first() if creation_key else None
        if existing is None:
            raise
        return existing


# --- Payout holds --------------------------------------------------------------------------------


def staff_payout_create(
    *, merchant: Merchant, amount: int, currency: str, description: str, reason: str, token: str, user
) -> Payout:
    """Pay ``amount`` of the merchant's available balance out to its default external account in ``currency``,
    as a user with ``create_payouts``: ``payout_services.payout_create`` (the ledger's floor, the hold, the
    event, sent by a worker like any payout), audited with the staff member and ``reason``. The form's one-time
    ``token`` is the idempotency key, so a form submitted twice makes one payout."""
    require_staff_permission(user, "create_payouts", "pay merchants out")
    if not reason.strip():
        raise InvalidRequestError("Say why the merchant is paid out by hand.", param="reason")
    return payout_services.payout_create(
        merchant=merchant,
        amount=amount,
        currency=currency,
        destination_id=None,
        description=description or None,
        actor=staff_actor(user),
        idempotency_key=f"staff:{token}",
        reason=reason.strip(),
    )


def staff_payouts_hold(*, merchant: Merchant, reason: str, user) -> PayoutHold:
    """Hold the merchant's payouts (``payout_services.payouts_hold``, audited with the reason), as a user with
    ``hold_payouts``."""
    require_staff_permission(user, "hold_payouts", "hold payouts")
    return payout_services.payouts_hold(merchant=merchant, reason=reason, actor=staff_actor(user))


def staff_payouts_release(*, merchant: Merchant, reason: str, user) -> None:
    """Release the hold on the merchant's payouts (``payout_services.payouts_release``, audited with the reason),
    as a user with ``hold_payouts``."""
    require_staff_permission(user, "hold_payouts", "release payouts")
    payout_services.payouts_release(merchant=merchant, reason=reason, actor=staff_actor(user))
