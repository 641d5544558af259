"""The posting engine: the only code that writes journal entries and postings.

Guarantees, for every function here:

- It runs inside the CALLER's transaction and refuses to run outside one, so a
  payment's state change and its ledger entries commit or roll back together.
- An entry's postings sum to zero per currency and per phase, and none is zero;
  otherwise ``UnbalancedEntry`` is raised and nothing is written.
- Idempotent per ``event_key``: the entry is inserted ``ON CONFLICT DO NOTHING``;
  when the unique ``event_key`` refuses it (the same business event posted before,
  or concurrently by another transaction), nothing is written and the
  existing entry is returned. A replay is checked for the same type, source,
  merchant and currency (``LedgerEventConflict`` otherwise); its amounts are
  not compared: the first posting of an event wins.
- A pending entry is resolved (posted or voided) at most once: a conditional
  ``UPDATE … WHERE status = 'pending'`` moves it, and 0 rows means it was
  already resolved (``PendingEntryResolved``). ``pending_entry`` is also unique.
- Balance limits (account flags) hold after every entry: the limited accounts
  that an entry debits (or credits) are locked with ``SELECT … FOR UPDATE`` in
  primary-key order, then summed; a breach raises ``InsufficientBalance`` and
  rolls the entry back. Only such entries lock anything.
- A per-entry floor (``entry_post(…, not_below_zero=[account])``) holds the same way for one entry only: the
  account is locked, the entry written, and the entry refused with ``InsufficientBalance`` when it would leave
  the account's balance below zero (payouts: never more than is available, while disputes, which do not ask
  for the floor, may still take the balance negative).
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from core.db import insert_statement, insert_unless_taken, write
from ledger.errors import (
    InsufficientBalance,
    LedgerError,
    LedgerEventConflict,
    PendingEntryResolved,
    UnbalancedEntry,
)
from ledger.models import (
    CHART,
    MERCHANT_BALANCE_CODES,
    Account,
    AccountCode,
    JournalEntry,
    LedgerCheckRun,
    MaturingFunds,
    Posting,
    SettledTransaction,
)

logger = logging.getLogger(__name__)

PENDING = Posting.Phase.PENDING
POSTED = Posting.Phase.POSTED


@dataclass(frozen=True)
class Leg:
    """A posting to write: ``amount`` minor units on ``account``, debit positive, credit negative."""

    account: Account
    amount: int


def _require_transaction() -> None:
    # A real check rather than ``assert``: it must hold under ``python -O`` too.
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError(
            "The ledger only writes inside the caller's transaction: wrap the call in transaction.atomic()."
        )


def merchant_id_of(merchant) -> str | None:
    if merchant is None or isinstance(merchant, str):
        return merchant
    return merchant.pk


# --- Accounts ----------------------------------------------------------------------


def accounts_get_or_create(*, merchant, currency: str, codes: Iterable[str]) -> dict[str, Account]:
    """The accounts ``codes`` in ``currency``, owned as the chart says (by ``merchant`` or the platform).

    Created lazily. Safe under concurrency: a lost creation race is an
    IntegrityError on the unique constraint, caught in a savepoint, then re-read.
    """
    _require_transaction()
    merchant_id = merchant_id_of(merchant)
    owners = {}
    for code in codes:
        spec = CHART[code]
        if spec.merchant_owned and merchant_id is None:
            raise LedgerError(f"account {code} belongs to a merchant: pass the merchant")
        owners[code] = merchant_id if spec.merchant_owned else None
    if not owners:
        return {}
    found = {}
    for code, owner in owners.items():
        known = _known_accounts.get((code, currency, owner))
        if known is not None:
            found[code] = known
    missing = {code: owner for code, owner in owners.items() if code not in found}
    if missing:
        condition = Q()
        for code, owner in missing.items():
            condition |= Q(code=code, currency=currency, merchant_id=owner)
        read = {account.code: account for account in Account.objects.filter(condition)}
        for code, owner in missing.items():
            found[code] = read.get(code) or _account_create(code=code, merchant_id=owner, currency=currency)
        _remember_accounts_when_committed([found[code] for code in missing])
    return found


# Accounts never change once created (their code, currency, owner and limit flags come from the chart, and
# nothing updates or deletes them: postings protect them), so each process remembers the ones it has seen.
# Only once the transaction that saw them commits: an account created by a transaction that rolls back
# does not exist. ``forget_known_accounts`` empties it (a test database that is flushed).
_known_accounts: dict[tuple[str, str, str | None], Account] = {}


def _remember_accounts_when_committed(accounts: list[Account]) -> None:
    def remember() -> None:
        for account in accounts:
            _known_accounts[(account.code, account.currency, account.merchant_id)] = account

    transaction.on_commit(remember)


def forget_known_accounts() -> None:
    """Forget the accounts this process has seen (for a database emptied under it: tests)."""
    _known_accounts.clear()


def account_lock(account: Account) -> None:
    """Lock ``account`` FOR UPDATE until the caller's transaction ends: a caller that reads the account's
    history and then posts from what it read (an automatic payout) holds it across both, so that nothing that
    asks for the same lock (payouts, the floor of ``not_below_zero``) moves the account in between."""
    _require_transaction()
    list(Account.objects.select_for_update().filter(pk=account.pk).values_list("pk", flat=True))


def entries_settle(*, payout_entry: JournalEntry, entry_ids: Iterable[str]) -> None:
    """Record that the automatic payout whose entry is ``payout_entry`` paid out ``entry_ids``, and itself, in the
    caller's transaction. The caller makes the payout's amount the sum of their nets, so the group sums to zero
    (``ledger_check``: ``payouts_settle``). A transaction already settled by another payout is refused by the
    primary key (IntegrityError): one payout at most pays out each."""
    _require_transaction()
    SettledTransaction.objects.bulk_create(
        [SettledTransaction(entry_id=entry_id, payout_entry=payout_entry) for entry_id in [*entry_ids, payout_entry.pk]]
    )


def _account_create(*, code: str, merchant_id: str | None, currency: str) -> Account:
    spec = CHART[code]
    try:
        with transaction.atomic():
            return Account.objects.create(
                code=code,
                type=spec.type,
                currency=currency,
                merchant_id=merchant_id,
                debits_must_not_exceed_credits=spec.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=spec.credits_must_not_exceed_debits,
            )
    except IntegrityError:
        # Another transaction created it first; with READ COMMITTED this new
        # statement sees its committed row.
        return Account.objects.get(code=code, currency=currency, merchant_id=merchant_id)


# --- Entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    account: Account
    amount: int
    phase: str


def _validate(lines: list[_Line]) -> None:
    if not lines:
        raise UnbalancedEntry("an entry needs postings")
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        if type(line.amount) is not int or line.amount == 0:
            raise UnbalancedEntry(f"posting amounts are non-zero integers, not {line.amount!r}")
        totals[(line.account.currency, line.phase)] += line.amount
    unbalanced = {key: total for key, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedEntry(f"postings do not sum to zero per currency and phase: {unbalanced}")


def _replay(
    existing: JournalEntry,
    *,
    type: str,
    source: str,
    merchant_id: str | None,
    currency: str,
    pending_entry: JournalEntry | None,
) -> JournalEntry:
    expected = (type, source, merchant_id, currency, pending_entry.pk if pending_entry else None)
    actual = (existing.type, existing.source, existing.merchant_id, existing.currency, existing.pending_entry_id)
    if expected != actual:
        raise LedgerEventConflict(f"event {existing.event_key} was posted as {actual}, now asked as {expected}")
    return existing


def _limited_account_ids(lines: list[_Line]) -> list[str]:
    ids = set()
    for line in lines:
        if line.amount > 0 and line.account.debits_must_not_exceed_credits:
            ids.add(line.account.pk)
        if line.amount < 0 and line.account.credits_must_not_exceed_debits:
            ids.add(line.account.pk)
    return sorted(ids)


def account_limit_totals(account_ids: Iterable[str]):
    """Per account: posted debits and credits, and the debits and credits of unresolved pending entries.

    Pending-phase postings count only while their entry is still pending: once
    it is resolved, the resolving entry's reversal cancels them exactly.
    """
    outstanding = Q(phase=PENDING, entry__status=JournalEntry.Status.PENDING)
    return (
        Posting.objects.filter(account_id__in=list(account_ids))
        .values("account_id")
        .annotate(
            posted_debits=Coalesce(Sum("amount", filter=Q(phase=POSTED, amount__gt=0)), 0),
            posted_credits=Coalesce(-Sum("amount", filter=Q(phase=POSTED, amount__lt=0)), 0),
            pending_debits=Coalesce(Sum("amount", filter=outstanding & Q(amount__gt=0)), 0),
            pending_credits=Coalesce(-Sum("amount", filter=outstanding & Q(amount__lt=0)), 0),
        )
        .order_by("account_id")
    )


def _enforce_limits(accounts: list[Account], floors: frozenset[str] = frozenset()) -> None:
    """Each account's limit flag, and for the accounts in ``floors`` (ids) the floor at zero on its normal side:
    a credit-normal account's debits may not exceed its credits, a debit-normal one's credits its debits."""
    if not accounts:
        return
    totals = {row["account_id"]: row for row in account_limit_totals(a.pk for a in accounts)}
    for account in accounts:
        row = totals.get(account.pk)
        if row is None:
            continue
        floored = account.pk in floors
        if account.debits_must_not_exceed_credits or (floored and not account.is_debit_normal):
            short = row["pending_debits"] + row["posted_debits"] - row["posted_credits"]
            if short > 0:
                raise InsufficientBalance(
                    f"The balance of {account.code} {account.currency} is {short} minor units short for this entry."
                )
        if account.credits_must_not_exceed_debits or (floored and account.is_debit_normal):
            short = row["pending_credits"] + row["posted_credits"] - row["posted_debits"]
            if short > 0:
                raise InsufficientBalance(
                    f"The balance of {account.code} {account.currency} is {short} minor units short for this entry."
                )


def _write_entry(
    *,
    event_key: str,
    type: str,
    source: str,
    merchant_id: str | None,
    currency: str,
    status: str,
    build_lines: Callable[[], list[_Line]],
    pending_entry: JournalEntry | None = None,
    memo: str = "",
    available_after: timedelta | None = None,
    matures: JournalEntry | None = None,
    not_below_zero: Iterable[Account] = (),
) -> JournalEntry:
    _require_transaction()
    replay_of = dict(type=type, source=source, merchant_id=merchant_id, currency=currency, pending_entry=pending_entry)
    # No look for an earlier entry first: the unique event_key refuses a replay's INSERT below, and the replay
    # is answered from there, as a concurrent duplicate's is (one path, one statement fewer per entry).
    lines = build_lines()
    _validate(lines)
    floors = frozenset(account.pk for account in not_below_zero)
    limited_ids = sorted(set(_limited_account_ids(lines)) | floors)
    if matures is not None:
        # A maturing entry debits merchant_pending by exactly what ``matures`` credited to it (its lines are
        # built from those postings: ``entry_mature``), once (the unique event key): it can never take the
        # account past its limit, so it locks and sums nothing (a sum that grows with the account's history).
        # ledger_check proves the limit and the rule after the fact.
        limited_ids = []
    moves_balance = any(line.phase == POSTED and line.account.code in MERCHANT_BALANCE_CODES for line in lines)
    to_mature = any(
        line.phase == POSTED and line.amount < 0 and line.account.code == AccountCode.MERCHANT_PENDING for line in lines
    )
    entry = JournalEntry(
        event_key=event_key,
        type=type,
        source=source,
        merchant_id=merchant_id,
        currency=currency,
        status=status,
        pending_entry=pending_entry,
        memo=memo[:500],
    )
    # A balance transaction's money is available at once unless the rule gave a delay.
    entry.available_on = entry.created + (available_after or timedelta(0)) if moves_balance else None
    # A savepoint only when a check made after the INSERT can refuse the entry (a pending entry already
    # resolved, a balance limit): then the entry must go, and the caller's transaction must not. Otherwise
    # nothing after the INSERT refuses it, and the INSERT itself does not fail on a taken event key.
    with transaction.atomic() if pending_entry is not None or limited_ids else nullcontext():
        # The unique event_key is the idempotency authority, so it is taken first: a concurrent duplicate
        # waits here, then finds it taken, and replays below. No look for an earlier entry before it.
        if not insert_unless_taken(entry):
            existing = _entry_taken(event_key, pending_entry=pending_entry, replay_of=replay_of)
            if matures is not None:
                # Matured before: make sure it is off the work list too, or it would be due forever.
                MaturingFunds.objects.filter(entry_id=matures.pk).delete()
            return existing
        if pending_entry is not None:
            moved = JournalEntry.objects.filter(pk=pending_entry.pk, status=JournalEntry.Status.PENDING).update(
                status=status
            )
            if moved == 0:
                raise PendingEntryResolved(f"Ledger entry {pending_entry.pk} was already posted or voided.")
        limited = (
            list(Account.objects.select_for_update().filter(pk__in=limited_ids).order_by("pk")) if limited_ids else []
        )
        now = timezone.now()
        # With the caller's other writes when it writes them together; a limit check's read sends it first.
        write(
            insert_statement(
                [
                    Posting(entry=entry, account=line.account, amount=line.amount, phase=line.phase, created=now)
                    for line in lines
                ]
            )
        )
        if to_mature and available_after is not None:
            # The work list of ledger.tasks.mature_funds, in the entry's own transaction.
            write(insert_statement([MaturingFunds(entry=entry, available_on=entry.available_on)]))
        if matures is not None:
            # Matured: off the work list, in the same transaction as the entry that moved the money.
            MaturingFunds.objects.filter(entry_id=matures.pk).delete()
        _enforce_limits(limited, floors)
    if pending_entry is not None:
        pending_entry.status = status
    return entry


def _entry_taken(event_key: str, *, pending_entry: JournalEntry | None, replay_of: dict) -> JournalEntry:
    """The entry's INSERT was refused by a unique constraint: the event was posted before (a replay, checked
    against what was asked), or the pending entry was resolved by another event."""
    existing = JournalEntry.objects.filter(event_key=event_key).first()
    if existing is not None:
        return _replay(existing, **replay_of)
    if pending_entry is not None and JournalEntry.objects.filter(pending_entry=pending_entry).exists():
        raise PendingEntryResolved(f"Ledger entry {pending_entry.pk} was already posted or voided.")
    # Refused by a constraint that names neither (cannot happen with today's constraints): say so loudly.
    raise LedgerError(f"the entry of event {event_key} was refused by a unique constraint")


def entry_post(
    *,
    event_key: str,
    type: str,
    source: str,
    merchant,
    currency: str,
    legs: Iterable[Leg],
    memo: str = "",
    available_after: timedelta | None = None,
    not_below_zero: Iterable[Account] = (),
) -> JournalEntry:
    """Write a posted entry: money that has moved. Idempotent per ``event_key``.

    ``available_after``: how long after ``created`` the money of an entry that credits merchant_pending
    becomes available (its ``available_on``; the entry goes on the maturing work list: the capture rule
    always gives it, and ``ledger_check`` finds a pending credit that was not scheduled); any other entry
    that moves a merchant's posted balance is available at once (``available_on`` = ``created``).

    ``not_below_zero``: accounts this entry may not take below zero (on their normal side, counting the debits
    of pending reservations as a limit flag does): each is locked FOR UPDATE (with the limited accounts, in
    primary-key order) until the caller's transaction ends, so two such entries on one account are decided one
    after the other; a breach raises ``InsufficientBalance`` and the entry is not written. Entries that do not
    ask for it are not checked: the account has no limit of its own."""
    legs = list(legs)
    return _write_entry(
        event_key=event_key,
        type=type,
        source=source,
        merchant_id=merchant_id_of(merchant),
        currency=currency,
        status=JournalEntry.Status.POSTED,
        memo=memo,
        available_after=available_after,
        build_lines=lambda: [_Line(leg.account, leg.amount, POSTED) for leg in legs],
        not_below_zero=list(not_below_zero),
    )


def entry_post_pending(
    *, event_key: str, type: str, source: str, merchant, currency: str, legs: Iterable[Leg], memo: str = ""
) -> JournalEntry:
    """Write a pending entry: a reservation (phase ``pending``) that a later entry posts or voids."""
    legs = list(legs)
    return _write_entry(
        event_key=event_key,
        type=type,
        source=source,
        merchant_id=merchant_id_of(merchant),
        currency=currency,
        status=JournalEntry.Status.PENDING,
        memo=memo,
        build_lines=lambda: [_Line(leg.account, leg.amount, PENDING) for leg in legs],
    )


def entry_resolve_pending(
    *,
    pending_entry: JournalEntry,
    action: str,
    event_key: str,
    type: str,
    legs: Iterable[Leg] = (),
    memo: str = "",
    available_after: timedelta | None = None,
) -> JournalEntry:
    """Post or void ``pending_entry`` with a NEW entry; the pending one only changes status.

    The new entry reverses every pending posting of ``pending_entry`` (phase
    ``pending``, negated), and for ``post`` adds ``legs`` in phase ``posted``
    (a partial capture posts less than was reserved: the rest is released,
    because the whole reservation is reversed). ``void`` takes no legs.
    ``available_after`` as for ``entry_post``.
    ``pending_entry`` moves to ``posted`` or ``voided`` at most once.
    """
    legs = list(legs)
    if action == "post":
        status = JournalEntry.Status.POSTED
        if not legs:
            raise LedgerError("posting a pending entry needs the posted legs; void it instead")
    elif action == "void":
        status = JournalEntry.Status.VOIDED
        if legs:
            raise LedgerError("voiding a pending entry takes no legs")
    else:
        raise ValueError(f"action is 'post' or 'void', not {action!r}")

    def build_lines() -> list[_Line]:
        reserved = pending_entry.postings.filter(phase=PENDING).select_related("account").order_by("id")
        reversal = [_Line(posting.account, -posting.amount, PENDING) for posting in reserved]
        return reversal + [_Line(leg.account, leg.amount, POSTED) for leg in legs]

    return _write_entry(
        event_key=event_key,
        type=type,
        source=pending_entry.source,
        merchant_id=pending_entry.merchant_id,
        currency=pending_entry.currency,
        status=status,
        pending_entry=pending_entry,
        memo=memo,
        available_after=available_after,
        build_lines=build_lines,
    )


def entry_mature(*, entry: JournalEntry, event_key: str, type: str, memo: str = "") -> JournalEntry:
    """Move ``entry``'s posted credits to merchant_pending to merchant_available (same merchant, currency).

    A new posted entry: Dr merchant_pending, Cr merchant_available, per pending credit of ``entry``, built
    from its postings, so it moves exactly those funds; idempotent per ``event_key`` (once per entry). It
    takes ``entry`` off the maturing work list in the same transaction. It locks nothing: debiting exactly a
    credit already posted, once, cannot break merchant_pending's limit. ``LedgerError`` when ``entry`` holds
    no pending funds.
    """

    def build_lines() -> list[_Line]:
        credits = (
            entry.postings.filter(phase=POSTED, account__code=AccountCode.MERCHANT_PENDING, amount__lt=0)
            .select_related("account")
            .order_by("id")
        )
        lines = []
        for posting in credits:
            available = accounts_get_or_create(
                merchant=entry.merchant_id, currency=posting.account.currency, codes=[AccountCode.MERCHANT_AVAILABLE]
            )[AccountCode.MERCHANT_AVAILABLE]
            lines += [_Line(posting.account, -posting.amount, POSTED), _Line(available, posting.amount, POSTED)]
        if not lines:
            raise LedgerError(f"{entry.pk} holds no pending funds")
        return lines

    return _write_entry(
        event_key=event_key,
        type=type,
        source=entry.source,
        merchant_id=entry.merchant_id,
        currency=entry.currency,
        status=JournalEntry.Status.POSTED,
        memo=memo,
        matures=entry,
        build_lines=build_lines,
    )


def entry_reverse(*, entry: JournalEntry, event_key: str, type: str, memo: str = "") -> JournalEntry:
    """A correction: a new posted entry that negates every posted posting of ``entry``."""

    def build_lines() -> list[_Line]:
        posted = entry.postings.filter(phase=POSTED).select_related("account").order_by("id")
        return [_Line(posting.account, -posting.amount, POSTED) for posting in posted]

    return _write_entry(
        event_key=event_key,
        type=type,
        source=entry.source,
        merchant_id=entry.merchant_id,
        currency=entry.currency,
        status=JournalEntry.Status.POSTED,
        memo=memo,
        build_lines=build_lines,
    )


# --- Invariant check runs -----------------------------------------------------------


def ledger_check_run_record() -> LedgerCheckRun:
    """Run every ledger invariant check and store the outcome as a ``LedgerCheckRun``.

    A failed check is logged at ERROR, so alerting on the log is enough; an alert's warning (funds left pending
    past their available_on) at WARNING.
    """
    from ledger.invariants import run_checks

    started = timezone.now()
    report = run_checks()
    run = LedgerCheckRun.objects.create(
        started=started, finished=timezone.now(), ok=report.ok, results=report.as_dict()
    )
    if not report.ok:
        failed = ", ".join(result.name for result in report.results if result.status == "failed")
        logger.error("ledger_check failed (run %s): %s", run.pk, failed)
    for result in report.results:
        if result.status == "warning":
            logger.warning("ledger_check warning (run %s): %s: %s", run.pk, result.name, result.detail)
    return run
