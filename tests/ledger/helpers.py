"""Helpers for the ledger tests."""

from django.db.models import Sum

from core.ids import new_id
from ledger.models import Posting


def signed_sum(*, code: str, merchant=None, currency: str = "USD", phase: str = "posted") -> int:
    """The signed sum (debit positive) of the postings on one account in one phase."""
    merchant_id = merchant if merchant is None or isinstance(merchant, str) else merchant.pk
    total = Posting.objects.filter(
        account__code=code, account__merchant_id=merchant_id, account__currency=currency, phase=phase
    ).aggregate(total=Sum("amount"))["total"]
    return total or 0


def lines(entry) -> list[tuple[str, int, str]]:
    """An entry's postings as sorted (account code, signed amount, phase)."""
    return sorted((p.account.code, p.amount, p.phase) for p in entry.postings.select_related("account"))


def new_payment_id() -> str:
    return new_id("pay")
