"""Reads of checkout sessions."""

from django.db.models import QuerySet

from checkout.models import CheckoutSession, CheckoutSessionStatus
from core.errors import ResourceMissingError
from merchants.models import Merchant


def checkout_sessions_of(*, merchant: Merchant) -> QuerySet[CheckoutSession]:
    return CheckoutSession.objects.filter(merchant=merchant)


def checkout_session_get(*, merchant: Merchant, session_id: str) -> CheckoutSession:
    """The merchant's session; 404 ``resource_missing`` for another merchant's or none."""
    session = CheckoutSession.objects.filter(merchant=merchant, pk=session_id).first()
    if session is None:
        raise ResourceMissingError(f"No such checkout session: '{session_id}'.", param="id")
    return session


def checkout_session_for_page(*, session_id: str) -> CheckoutSession | None:
    """The session the hosted page shows (its merchant and payments attached), or None."""
    return (
        CheckoutSession.objects.select_related("merchant", "payment", "attempt_payment").filter(pk=session_id).first()
    )


def checkout_session_ids_due(*, now, limit: int) -> list[str]:
    """Open sessions past ``expires_at`` with no attempt in flight, oldest first."""
    return list(
        CheckoutSession.objects.filter(
            status=CheckoutSessionStatus.OPEN, expires_at__lte=now, attempt_started_at__isnull=True
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )


def checkout_session_ids_with_attempt(*, limit: int) -> list[str]:
    """Open sessions with a payment attempt in flight, the oldest attempt first."""
    return list(
        CheckoutSession.objects.filter(status=CheckoutSessionStatus.OPEN, attempt_started_at__isnull=False)
        .order_by("attempt_started_at")
        .values_list("pk", flat=True)[:limit]
    )
