"""Reads for the back office: everything staff need to see about one payment or payout, in a fixed number of
queries, and the merchants whose available balance is below zero."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch, Q

from backoffice.models import NegativeBalance, RefundRequest
from core.models import AuditEntry
from events.models import Event, WebhookDelivery
from ledger.models import AccountCode, JournalEntry, Posting
from ledger.selectors import (
    accounts_with_balances,
    balance_transactions_of,
    balance_transactions_paid_out_by,
    payout_entry_of,
)
from payments.models import Dispute, DisputeStatus, Payment, PaymentStatus, PaymentTransition, Refund
from payouts.models import Payout

# How many rows of each history a payment page shows (newest first).
SECTION_LIMIT = 200


@dataclass(frozen=True)
class AuditLine:
    """One line of a payment's audit trail, from a PaymentTransition or an AuditEntry."""

    created: datetime
    actor: str
    action: str
    object_id: str
    before: object
    after: object
    reason: str


@dataclass
class PaymentDossier:
    payment: Payment
    refunds: list[Refund] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    refund_requests: list[RefundRequest] = field(default_factory=list)
    journal_entries: list[JournalEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    audit_trail: list[AuditLine] = field(default_factory=list)


def payment_display_status(payment: Payment, disputes: list[Dispute] | None = None) -> str:
    """What happened to the payment, in words, for the admin's list and the payment's page.

    The API's status alone says ``succeeded`` for a bank transfer the bank returned, a payment refunded in
    full and one under dispute; staff need to see which. For a succeeded payment, the first that applies:
    "Returned (R01)" (``return_code``), "Disputed" (a dispute open), "Dispute lost" / "Dispute won" (the
    newest dispute), "Refunded" / "Partially refunded" (``amount_refunded``: refunds not failed, pending
    ones included), else "Succeeded". Any other status is said as it is ("Requires capture").

    ``disputes``: the payment's disputes, if already read; else they are read only when ``payment.disputed``
    (one query, none when ``payment.disputes`` is prefetched, as the payments list does).
    """
    if payment.status != PaymentStatus.SUCCEEDED:
        return payment.status.replace("_", " ").capitalize()
    if payment.returned_at is not None or payment.amount_returned:
        return f"Returned ({payment.return_code})" if payment.return_code else "Returned"
    if disputes is None:
        disputes = list(payment.disputes.all()) if payment.disputed else []
    if disputes:
        newest = max(disputes, key=lambda dispute: (dispute.created, dispute.id))
        if any(dispute.is_open for dispute in disputes):
            return "Disputed"
        return "Dispute lost" if newest.status == DisputeStatus.LOST else "Dispute won"
    if payment.amount_refunded and payment.amount_refunded >= payment.amount_captured:
        return "Refunded"
    if payment.amount_refunded:
        return "Partially refunded"
    return "Succeeded"


def payment_events(*, payment: Payment):
    """The merchant events about the payment, its refunds and its disputes, newest first.

    An event's body is the object as the API shows it, rendered compactly: a payment's
    event carries ``"object":{"id":"pay_…"``, and a refund's or dispute's ``"payment":"pay_…"``.
    The merchant's own events only (indexed), then a text match in their bodies.
    """
    return Event.objects.filter(merchant_id=payment.merchant_id).filter(
        Q(payload__contains=f'"object":{{"id":"{payment.id}"') | Q(payload__contains=f'"payment":"{payment.id}"')
    )


def payment_dossier(*, payment: Payment) -> PaymentDossier:
    """The payment's refunds, disputes, refund requests, ledger entries, events, deliveries and audit trail."""
    dossier = PaymentDossier(payment=payment)
    dossier.refunds = list(Refund.objects.filter(payment=payment).order_by("-id"))
    dossier.disputes = list(Dispute.objects.filter(payment=payment).order_by("-id"))
    dossier.refund_requests = list(
        RefundRequest.objects.filter(payment=payment).select_related("requested_by", "decided_by").order_by("-id")
    )
    sources = [payment.id, *(r.id for r in dossier.refunds), *(d.id for d in dossier.disputes)]
    postings = Posting.objects.select_related("account").order_by("id")
    dossier.journal_entries = list(
        JournalEntry.objects.filter(source__in=sources)
        .prefetch_related(Prefetch("postings", queryset=postings))
        .order_by("id")[:SECTION_LIMIT]
    )
    dossier.events = list(payment_events(payment=payment).order_by("-id")[:SECTION_LIMIT])
    dossier.deliveries = list(
        WebhookDelivery.objects.filter(event__in=[event.id for event in dossier.events])
        .select_related("event", "endpoint")
        .order_by("-id")
    )
    dossier.audit_trail = _audit_trail(payment, dossier)
    return dossier


def _audit_trail(payment: Payment, dossier: PaymentDossier) -> list[AuditLine]:
    lines = [
        AuditLine(
            created=t.created,
            actor=t.actor,
            action=f"payment.{t.transition}",
            object_id=payment.id,
            before={"status": t.from_status} if t.from_status else None,
            after={"status": t.to_status},
            reason=t.reason,
        )
        for t in PaymentTransition.objects.filter(payment=payment).order_by("-id")[:SECTION_LIMIT]
    ]
    objects = Q(object_type="payment", object_id=payment.id)
    for model_name, rows in (
        ("refund", dossier.refunds),
        ("dispute", dossier.disputes),
        ("refundrequest", dossier.refund_requests),
    ):
        if rows:
            objects |= Q(object_type=model_name, object_id__in=[row.id for row in rows])
    lines += [
        AuditLine(
            created=e.created,
            actor=e.actor,
            action=e.action,
            object_id=e.object_id,
            before=e.before,
            after=e.after,
            reason=e.reason,
        )
        for e in AuditEntry.objects.filter(objects).order_by("-id")[:SECTION_LIMIT]
    ]
    return sorted(lines, key=lambda line: line.created, reverse=True)


# --- Payouts -------------------------------------------------------------------------------------


@dataclass
class PayoutDossier:
    payout: Payout
    # The payout's entries that moved the merchant's balance (its creation; a failure or cancel that returned
    # the amount), as ``ledger.selectors.balance_transactions_of`` annotates them (``net``, ``pending_delta``,
    # ``matured``, ``available_on_shown``).
    balance_transactions: list[JournalEntry] = field(default_factory=list)
    # Every ledger entry of the payout (created, paid, failed, canceled), with its postings.
    journal_entries: list[JournalEntry] = field(default_factory=list)
    # Its history: the audit entries about it, oldest first (created, claimed, sent, paid / failed / canceled).
    history: list[AuditEntry] = field(default_factory=list)
    # Of an automatic payout: the balance transactions it paid out (their nets sum to its amount), the first
    # SECTION_LIMIT of them, and how many there are. None for a payout made by hand.
    paid_out: list[JournalEntry] | None = None
    paid_out_count: int = 0


def payout_dossier(*, payout: Payout) -> PayoutDossier:
    """The payout's balance transactions, ledger entries with their postings, state history and, for an automatic
    payout, what it paid out."""
    postings = Posting.objects.select_related("account").order_by("id")
    paid_out, paid_out_count = None, 0
    payout_entry = payout_entry_of(merchant=payout.merchant_id, payout_id=payout.id)
    if payout_entry is not None:
        settled = balance_transactions_paid_out_by(
            balance_transactions_of(merchant=payout.merchant_id), payout_entry=payout_entry
        )
        if settled is not None:
            paid_out, paid_out_count = list(settled.order_by("id")[:SECTION_LIMIT]), settled.count()
    return PayoutDossier(
        paid_out=paid_out,
        paid_out_count=paid_out_count,
        payout=payout,
        balance_transactions=list(
            balance_transactions_of(merchant=payout.merchant_id).filter(source=payout.id).order_by("id")
        ),
        journal_entries=list(
            JournalEntry.objects.filter(source=payout.id)
            .prefetch_related(Prefetch("postings", queryset=postings))
            .order_by("id")[:SECTION_LIMIT]
        ),
        history=list(AuditEntry.objects.filter(object_type="payout", object_id=payout.id).order_by("id")),
    )


def negative_balances():
    """The merchants' available accounts whose posted balance is below zero (one row per merchant and currency),
    each annotated with ``posted_sum`` (signed, debit positive: the balance is minus
    it). From the ledger's postings (``ledger.selectors.accounts_with_balances``), never a cached number."""
    return accounts_with_balances(NegativeBalance.objects.all()).filter(
        code=AccountCode.MERCHANT_AVAILABLE, posted_sum__gt=0
    )
