"""Reads of the ledger, shared by the API, the admin and the tasks. Balances are always derived from postings."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Concat

from ledger.models import (
    MERCHANT_BALANCE_CODES,
    Account,
    AccountCode,
    JournalEntry,
    MaturingFunds,
    Posting,
    SettledTransaction,
)

POSTED = Posting.Phase.POSTED
PENDING = Posting.Phase.PENDING


@dataclass(frozen=True)
class BalanceAmount:
    currency: str
    amount: int


@dataclass(frozen=True)
class Balance:
    available: list[BalanceAmount]
    pending: list[BalanceAmount]


def balance_get(*, merchant) -> Balance:
    """The merchant's balance per currency, from POSTED postings on merchant_available and merchant_pending.

    Both accounts are liabilities (credit-normal), so a balance is minus the
    signed sum. Every currency the merchant has an account in appears in both
    lists; a merchant without accounts gets its settlement currency at 0.
    Reservations (pending phase: authorisations, refunds in flight) do not count.
    """
    rows = (
        Account.objects.filter(merchant=merchant, code__in=MERCHANT_BALANCE_CODES)
        .values("code", "currency")
        .annotate(signed=Coalesce(Sum("postings__amount", filter=Q(postings__phase=POSTED)), 0))
    )
    totals: dict[tuple[str, str], int] = {}
    currencies = set()
    for row in rows:
        currencies.add(row["currency"])
        totals[(row["code"], row["currency"])] = -row["signed"]
    if not currencies:
        currencies = {merchant.settlement_currency}
    ordered = sorted(currencies)
    return Balance(
        available=[BalanceAmount(c, totals.get((AccountCode.MERCHANT_AVAILABLE, c), 0)) for c in ordered],
        pending=[BalanceAmount(c, totals.get((AccountCode.MERCHANT_PENDING, c), 0)) for c in ordered],
    )


def _entry_sum(**conditions):
    """The signed sum of the current entry's postings matching ``conditions`` (0 when none)."""
    total = (
        Posting.objects.filter(entry=OuterRef("pk"), **conditions)
        .order_by()
        .values("entry")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0, output_field=IntegerField()))


def balance_transactions_of(*, merchant) -> QuerySet[JournalEntry]:
    """The merchant's balance transactions: its entries with a posted posting on its balance accounts.

    Annotated per entry (merchant's view, positive = money in):
    ``net`` = −(posted postings on merchant_available and merchant_pending),
    ``fee`` = the platform fee it carries (its credit to fee_revenue),
    ``amount`` = ``net + fee`` (the gross), ``pending_delta`` (its posted credit to merchant_pending: a
    capture whose funds wait for ``available_on``), ``matured`` (its ``funds.matured`` entry exists) and
    ``available_on_shown`` (``available_on``; ``created`` for entries posted before it existed). Its status is
    ``pending`` while it has pending funds not matured, ``available`` otherwise. Reservations (authorisations,
    refunds in flight) move no posted money, and maturing entries move none in total: neither is listed.
    The sums are correlated subqueries, so a page costs only its own rows.
    """
    on_balance = dict(phase=POSTED, account__merchant=merchant)
    moves_balance = Posting.objects.filter(entry=OuterRef("pk"), account__code__in=MERCHANT_BALANCE_CODES, **on_balance)
    return (
        JournalEntry.objects.filter(merchant=merchant)
        .exclude(type=JournalEntry.Type.FUNDS_MATURED)
        .filter(Exists(moves_balance))
        .annotate(
            net=-_entry_sum(account__code__in=MERCHANT_BALANCE_CODES, **on_balance),
            pending_delta=_entry_sum(account__code=AccountCode.MERCHANT_PENDING, **on_balance),
            matured=_matured("pk"),
            available_on_shown=Coalesce(F("available_on"), F("created")),
            fee=-_entry_sum(phase=POSTED, account__code=AccountCode.FEE_REVENUE),
            # The currency the merchant's balance moved in: the settlement currency of a converted payment.
            balance_currency=Subquery(moves_balance.values("account__currency")[:1]),
        )
        .annotate(amount=F("net") + F("fee"))
    )


def balance_transaction_get(*, merchant, transaction_id: str) -> JournalEntry | None:
    return balance_transactions_of(merchant=merchant).filter(pk=transaction_id).first()


def _matured(entry_reference: str) -> Exists:
    """Whether the entry that ``entry_reference`` names has matured: its ``funds.matured`` entry exists. A
    balance transaction is ``pending`` while it has a posted credit to merchant_pending and has not matured."""
    return Exists(JournalEntry.objects.filter(event_key=Concat(Value("funds.matured:"), OuterRef(entry_reference))))


def balance_transactions_to_settle(*, merchant, currency: str) -> list[tuple[str, int]]:
    """The merchant's balance transactions in ``currency`` that an automatic payout would pay out now:
    ``available`` (no pending funds, or matured) and not settled by an earlier automatic payout, as
    ``(entry id, net)`` pairs, oldest first.

    Their nets sum to the merchant's available balance in ``currency``: every posted movement of
    merchant_available or merchant_pending belongs to one balance transaction (a maturing entry only moves a
    capture's net from one to the other, and the capture counts once it has matured), and each earlier automatic
    payout's settled group sums to zero with its own entry (``ledger_check``: ``payouts_settle``). Reads the
    merchant's balance postings that are not settled yet; the caller holds the available account's lock, so no
    payout or refund moves the balance meanwhile.
    """
    pending_credit = Posting.objects.filter(
        entry=OuterRef("entry_id"), phase=POSTED, account__code=AccountCode.MERCHANT_PENDING
    )
    rows = (
        Posting.objects.filter(
            phase=POSTED,
            account__merchant=merchant,
            account__currency=currency,
            account__code__in=MERCHANT_BALANCE_CODES,
        )
        .exclude(entry__type=JournalEntry.Type.FUNDS_MATURED)
        .filter(~Exists(SettledTransaction.objects.filter(entry=OuterRef("entry_id"))))
        .filter(~Exists(pending_credit) | _matured("entry_id"))
        .order_by()
        .values("entry_id")
        .annotate(net=-Sum("amount"))
        .order_by("entry_id")
        .values_list("entry_id", "net")
    )
    return [(entry_id, net) for entry_id, net in rows if net]


def payout_entry_of(*, merchant, payout_id: str) -> JournalEntry | None:
    """The balance transaction of the merchant's payout ``payout_id`` (its creation), or None."""
    return (
        JournalEntry.objects.filter(merchant=merchant, source=payout_id, type=JournalEntry.Type.PAYOUT)
        .order_by("created", "pk")
        .first()
    )


def balance_transactions_paid_out_by(
    transactions: QuerySet[JournalEntry], *, payout_entry: JournalEntry
) -> QuerySet[JournalEntry] | None:
    """Of ``transactions`` (``balance_transactions_of``), those an automatic payout paid out (Stripe's
    ``?payout=``): the ones its creation settled, without its own entry, so their nets sum to its amount. None
    when it settled none (a manual payout, or one made before settlements were recorded)."""
    if not SettledTransaction.objects.filter(entry=payout_entry, payout_entry=payout_entry).exists():
        return None
    return transactions.filter(settlement__payout_entry=payout_entry).exclude(pk=payout_entry.pk)


def accounts_with_balances(accounts: QuerySet[Account] | None = None) -> QuerySet[Account]:
    """Every account (those of ``accounts`` when given, a proxy model's too) with its derived ``posted_sum`` and
    ``pending_sum`` (signed: debit positive).

    Correlated subqueries, so a page of accounts sums only its own postings
    (index-only on the (account, phase, amount) index).
    """
    return (Account.objects.all() if accounts is None else accounts).annotate(
        posted_sum=_account_sum(POSTED),
        pending_sum=_account_sum(PENDING),
    )


def _account_sum(phase: str):
    total = (
        Posting.objects.filter(account=OuterRef("pk"), phase=phase)
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0, output_field=IntegerField()))


def maturing_funds_due(*, now) -> tuple[int, datetime.datetime | None]:
    """``(entries whose funds should have matured by now and have not, the earliest available_on among them)``
    (/metrics): a range scan of MaturingFunds' available_on index, the work list (not the history).
    ``ledger.tasks.mature_funds`` runs every minute, so anything much older than a minute is overdue."""
    due = MaturingFunds.objects.filter(available_on__lte=now).aggregate(count=Count("pk"), oldest=Min("available_on"))
    return due["count"], due["oldest"]
