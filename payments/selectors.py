"""Reads of payments, shared by the API, the admin, tasks and services."""

from datetime import datetime

from django.db.models import Count, Min, QuerySet

from core.errors import ResourceMissingError
from merchants.models import Merchant
from payments.errors import PaymentNotFound
from payments.models import Dispute, Payment, PaymentStatus, Refund


def payments_of(*, merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant)


def payment_get(*, merchant: Merchant, payment_id: str, param: str = "id") -> Payment:
    """The merchant's payment; another merchant's is answered exactly like a missing one."""
    payment = Payment.objects.filter(merchant=merchant, pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"No such payment: '{payment_id}'.", param=param)
    return payment


def refunds_of(*, merchant: Merchant) -> QuerySet[Refund]:
    return Refund.objects.filter(merchant=merchant)


def refund_get(*, merchant: Merchant, refund_id: str) -> Refund:
    refund = Refund.objects.filter(merchant=merchant, pk=refund_id).first()
    if refund is None:
        raise ResourceMissingError(f"No such refund: '{refund_id}'.", param="id")
    return refund


def disputes_of(*, merchant: Merchant) -> QuerySet[Dispute]:
    return Dispute.objects.filter(merchant=merchant)


def dispute_get(*, merchant: Merchant, dispute_id: str) -> Dispute:
    dispute = Dispute.objects.filter(merchant=merchant, pk=dispute_id).first()
    if dispute is None:
        raise ResourceMissingError(f"No such dispute: '{dispute_id}'.", param="id")
    return dispute


def payment_ids_processing_since_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Payments whose outcome has been unknown since before ``cutoff``, oldest first."""
    return list(
        Payment.objects.filter(status=PaymentStatus.PROCESSING, processing_since__lt=cutoff)
        .order_by("processing_since")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_with_operation_pending_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Authorised payments whose capture or void was sent without a known outcome."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_CAPTURE, processor_operation_pending_since__lt=cutoff)
        .order_by("processor_operation_pending_since")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_authorized_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Uncaptured authorisations older than ``cutoff``: the ones to expire."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_CAPTURE, authorized_at__lt=cutoff)
        .order_by("authorized_at")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_awaiting_action_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Wallet payments waiting for the customer's approval since before ``cutoff``, oldest first."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_ACTION, requires_action_since__lt=cutoff)
        .order_by("requires_action_since")
        .values_list("id", flat=True)[:limit]
    )


# --- /metrics: aggregates computed at scrape time (payments/metrics.py) ---------------------------------------


def payment_counts_by_status() -> dict[str, int]:
    """How many payments are in each status: one grouped count (an index-only scan of payment_merchant_status,
    which holds every payment's status; docs/performance.md has its cost)."""
    rows = Payment.objects.order_by().values_list("status").annotate(count=Count("*"))
    return dict(rows)


def resolver_backlog(*, cutoff: datetime) -> dict[str, tuple[int, datetime | None]]:
    """What the resolver has to find out, by kind: ``(how many since before cutoff, the oldest's since)``.

    ``charge``: payments ``processing`` (the charge's outcome is unknown); ``capture_or_void``: authorised
    payments whose capture or void was sent without a known outcome. Each is a range scan of a partial index
    (payment_processing, payment_uncaptured): the rows in those states, not the history."""
    charges = Payment.objects.filter(status=PaymentStatus.PROCESSING, processing_since__lt=cutoff).aggregate(
        count=Count("pk"), oldest=Min("processing_since")
    )
    operations = Payment.objects.filter(
        status=PaymentStatus.REQUIRES_CAPTURE, processor_operation_pending_since__lt=cutoff
    ).aggregate(count=Count("pk"), oldest=Min("processor_operation_pending_since"))
    return {
        "charge": (charges["count"], charges["oldest"]),
        "capture_or_void": (operations["count"], operations["oldest"]),
    }
