"""Reads of external accounts and payouts. A deleted account is not listed and cannot be fetched."""

from django.db.models import Count, QuerySet

from merchants.models import Merchant
from payouts.errors import ExternalAccountNotFound, PayoutNotFound
from payouts.models import ExternalAccount, Payout


def external_accounts_of(*, merchant: Merchant, currency: str | None = None) -> QuerySet[ExternalAccount]:
    """The merchant's accounts not deleted, of ``currency`` when given."""
    accounts = ExternalAccount.objects.filter(merchant=merchant, deleted_at__isnull=True)
    return accounts.filter(currency=currency) if currency else accounts


def external_account_get(*, merchant: Merchant, external_account_id: str) -> ExternalAccount:
    """The merchant's account, not deleted; ExternalAccountNotFound (404) otherwise, another merchant's too."""
    account = external_accounts_of(merchant=merchant).filter(pk=external_account_id).first()
    if account is None:
        raise ExternalAccountNotFound(f"No such external account: '{external_account_id}'.", param="id")
    return account


def external_account_default(*, merchant: Merchant, currency: str) -> ExternalAccount | None:
    """Where the merchant's payouts in ``currency`` go unless told otherwise: its default account, if any."""
    return external_accounts_of(merchant=merchant, currency=currency).filter(default_for_currency=True).first()


def payouts_of(*, merchant: Merchant) -> QuerySet[Payout]:
    """The merchant's payouts, newest first."""
    return Payout.objects.filter(merchant=merchant)


def payout_get(*, merchant: Merchant, payout_id: str) -> Payout:
    """The merchant's payout; PayoutNotFound (404) otherwise, another merchant's too."""
    payout = payouts_of(merchant=merchant).filter(pk=payout_id).first()
    if payout is None:
        raise PayoutNotFound(f"No such payout: '{payout_id}'.", param="id")
    return payout


def payout_counts_by_status() -> dict[str, int]:
    """How many payouts are in each status (/metrics): one grouped count over payouts (a payout a merchant a
    day at most, so a small table beside payments)."""
    return dict(Payout.objects.order_by().values_list("status").annotate(count=Count("pk")))
