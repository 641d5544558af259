"""Every write to a payout. A payout is sent to the processor at most once, whatever crashes, in three steps:

1. ``payout_create`` (the API request): under the lock of the merchant's available account, take the amount
   out of the available balance (``posting_rules.payout_created``; refused if it would go below zero), create
   the payout ``pending`` and record ``payout.created``: one transaction, and no processor call;
2. ``payout_send`` (a worker, queued after that commit; the sweep for a lost message): claim the payout under
   its row lock and commit the claim (``sending_since``), then call the processor with the payout's own
   idempotency key (``payout_key``) holding no transaction or lock;
3. record the answer in a new transaction (``payout_apply_processor_payout``): ``in_transit`` with the
   processor's id, or ``failed`` when the processor refused it (the amount returns to available).

A claimed payout may have reached the processor: it can no longer be canceled, and every later attempt (the
sweep's ``payout_resolve``, after ``PAYOUT_SEND_LEASE_SECONDS``) first asks the processor about that key
(``lookup_payout``) and sends again only with that same key, which the processor never pays twice. The
outcome (``paid`` / ``failed``) comes by webhook (``payout.paid`` / ``payout.failed``), or from the sweep,
which asks (``retrieve_payout``) about payouts still in transit past their arrival date. docs/design.md walks
through what happens if the process dies after each step.

A merchant whose payouts Finance holds (``payouts_hold``) gets no new payout and none of its pending payouts is
sent: ``payouts_hold_refusal`` is the one check, made by creation, by the claim before every send, and by
whatever else would pay the merchant out (automatic payouts).

Lock order: the payout's row, then the ledger's accounts (which ``ledger.services`` locks itself). Creation
locks no payout: only the merchant's available account, in the ledger.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from core.audit import audit_record
from events.services import event_record
from gateways.base import Payout as ProcessorPayout
from gateways.base import PayoutStatus as ProcessorPayoutStatus
from gateways.base import ProcessorEvent, ProcessorRequestRejected, ProcessorUnavailable
from gateways.registry import processor_outside_transaction
from ledger import posting_rules
from ledger.errors import InsufficientBalance
from ledger.selectors import balance_get
from merchants.models import WEEKDAYS, Merchant
from payouts import selectors
from payouts.errors import ExternalAccountMissing, PayoutHoldUnexpectedState, PayoutNotCancelable, PayoutsHeld
from payouts.models import ExternalAccount, Payout, PayoutHold, PayoutStatus
from payouts.representations import payout_representation

logger = logging.getLogger(__name__)

WORKER = "system:payouts"
# A payout created this long ago and never claimed is sent by the sweep: its queued send was lost.
UNSENT_GRACE = timedelta(seconds=5)


def payout_key(payout_id: str) -> str:
    """The processor idempotency key of the payout's send: the same for every attempt, by any worker."""
    return f"{payout_id}:payout"


def payout_lock(payout_id: str) -> Payout:
    """The payout, locked FOR UPDATE until the caller's transaction ends. Lock it before any ledger account."""
    return Payout.objects.select_for_update().get(pk=payout_id)


def _record(payout: Payout, action: str, *, before: str | None, actor: str, event: str | None, reason: str = ""):
    """The payout's history (an append-only audit entry) and, when ``event``, the merchant's event: both in the
    caller's transaction, with the change."""
    audit_record(
        actor=actor,
        action=f"payout.{action}",
        obj=payout,
        before={"status": before} if before else None,
        after={"status": payout.status, "amount": payout.amount, "currency": payout.currency},
        reason=reason,
    )
    if event:
        event_record(merchant=payout.merchant_id, type=event, data_object=payout_representation(payout))


# --- 1. Creation ---------------------------------------------------------------------------------


def payout_destination(*, merchant: Merchant, currency: str, destination_id: str | None) -> ExternalAccount:
    """Where a payout in ``currency`` goes: the account named (one of the merchant's, not deleted, in that
    currency), or the currency's default. ExternalAccountMissing (400) when there is none."""
    if destination_id:
        account = selectors.external_accounts_of(merchant=merchant, currency=currency).filter(pk=destination_id).first()
        if account is None:
            raise ExternalAccountMissing(
                f"No {currency} external account '{destination_id}': name one of your {currency} external accounts.",
                param="destination",
            )
        return account
    account = selectors.external_account_default(merchant=merchant, currency=currency)
    if account is None:
        raise ExternalAccountMissing(
            f"You have no {currency} external account to pay out to: add one (POST /api/v1/external_accounts).",
            param="currency",
        )
    return account


def payout_arrival_estimate(*, destination: ExternalAccount, now: datetime) -> datetime:
    """When a payout made at ``now`` to ``destination`` should reach the bank: ``now`` plus the processors' usual
    transit time for the account's country (``PAYOUT_TRANSIT_DAYS``, else ``PAYOUT_TRANSIT_DAYS_DEFAULT``), in
    calendar days. An estimate only, shown while the payout is pending; the processor's ``arrival_date``
    replaces it when it takes the payout."""
    days = settings.PAYOUT_TRANSIT_DAYS.get(destination.country.upper(), settings.PAYOUT_TRANSIT_DAYS_DEFAULT)
    return now + timedelta(days=days)


def payout_create(
    *,
    merchant: Merchant,
    amount: int | None,
    currency: str,
    destination_id: str | None,
    description: str | None,
    actor: str,
    idempotency_key: str | None = None,
    checkpoint=None,
    automatic: bool = False,
    period: str | None = None,
    reason: str = "",
) -> Payout:
    """Create a ``pending`` payout of ``amount`` from the merchant's available balance. Never calls the processor.

    Guarantees: one transaction writes the payout, its ledger entry (the amount leaves available at once; the
    entry is its ``balance_transaction``), its history, ``payout.created`` and ``checkpoint(payout)`` (the
    Idempotency-Key's recovery point). The available balance never goes below zero through payouts: the entry
    locks the merchant's available account and is refused (400 ``balance_insufficient``, nothing written) when
    the amount is more than what is available, so concurrent payouts that would overdraw together cannot both
    be made. At most one payout per (merchant, idempotency key): a second execution returns the first payout.
    Its ``arrival_date`` is an estimate (``payout_arrival_estimate``) until the processor gives its own.
    Its send is queued once the transaction commits (``PAYOUTS_SEND_ON_COMMIT``); the sweep sends it otherwise.
    ``reason`` (a staff member's, paying out by hand in the back office) goes into the audit entry.
    A merchant whose payouts are held is refused (400 ``payouts_held``, nothing written); a retry of a payout
    created before the hold returns that payout (which is not sent while the hold lasts).
    An automatic payout (``automatic``, with its ``period``; ``amount`` None) pays out the whole available
    balance: its amount is the sum of the available balance transactions no automatic payout has paid out yet,
    and it records them (``posting_rules.automatic_payout_created``: ``GET /v1/balance_transactions?payout=``);
    InsufficientBalance when that is not above zero. At most one per merchant, currency and period: a second one
    raises IntegrityError, nothing written.
    """
    if idempotency_key is not None:
        existing = Payout.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    refusal = payouts_hold_refusal(merchant_id=merchant.pk)
    if refusal is not None:
        raise refusal
    destination = payout_destination(merchant=merchant, currency=currency, destination_id=destination_id)
    try:
        with transaction.atomic():
            payout = Payout(
                merchant=merchant,
                amount=amount,
                currency=currency,
                destination=destination,
                description=description,
                processor=destination.processor,
                requested_by=actor,
                creation_idempotency_key=idempotency_key,
                automatic=automatic,
                period=period,
                arrival_date=payout_arrival_estimate(destination=destination, now=timezone.now()),
            )
            try:
                if automatic:
                    entry, payout.amount = posting_rules.automatic_payout_created(
                        payout_id=payout.id, merchant=merchant, currency=currency
                    )
                else:
                    entry = posting_rules.payout_created(
                        payout_id=payout.id, merchant=merchant, amount=amount, currency=currency
                    )
            except InsufficientBalance:
                if automatic:
                    raise
                available = {b.currency: b.amount for b in balance_get(merchant=merchant).available}.get(currency, 0)
                # The floor counts refunds still in flight (reserved, not yet posted) as gone already: the
                # balance the API shows does not, hence the mention.
                raise InsufficientBalance(
                    f"The payout's amount ({amount}) is more than can be paid out of your available {currency} "
                    f"balance ({available}, less any refunds still in flight).",
                    param="amount",
                ) from None
            payout.balance_transaction = entry.id
            payout.save()
            _record(payout, "create", before=None, actor=actor, event="payout.created", reason=reason)
            if checkpoint is not None:
                checkpoint(payout)
            if settings.PAYOUTS_SEND_ON_COMMIT:
                transaction.on_commit(lambda: payout_send_later(payout_id=payout.id))
            return payout
    except IntegrityError:
        existing = (
            Payout.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
            if idempotency_key is not None
            else None
        )
        if existing is None:
            raise
        return existing


def payout_send_later(*, payout_id: str) -> bool:
    """Queue the send of a committed payout. Never raises; returns whether it was queued. A lost message only
    delays it: the sweep (every minute) sends pending payouts nobody claimed."""
    from core.failsoft import BROKER
    from payouts.tasks import send

    return BROKER.call(
        lambda: bool(send.apply_async(args=[payout_id], retry=False)),
        otherwise=False,
        degraded="payout sends are not queued; the sweep sends them",
    )


# --- 4. Cancel -----------------------------------------------------------------------------------


def payout_cancel(*, merchant: Merchant, payout_id: str, actor: str) -> Payout:
    """Cancel the merchant's payout while it is ``pending`` and not claimed for sending: the amount returns to
    available, ``payout.canceled`` is recorded, in one transaction.

    Decided under the payout's row lock, which the claim takes too: of a cancel and a send racing, exactly one
    wins. Otherwise PayoutNotCancelable (400 ``payout_not_cancelable``) and nothing is written; PayoutNotFound
    (404) for a payout that is not the merchant's."""
    selectors.payout_get(merchant=merchant, payout_id=payout_id)
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.status != PayoutStatus.PENDING:
            raise PayoutNotCancelable(
                f"This payout is {payout.status}; only a pending payout can be canceled.", param="id"
            )
        if payout.is_claimed:
            raise PayoutNotCancelable(
                "This payout is being sent to the bank and can no longer be canceled.", param="id"
            )
        payout.cancel()
        payout.save()
        posting_rules.payout_canceled(payout_id=payout.id)
        _record(payout, "cancel", before=PayoutStatus.PENDING, actor=actor, event="payout.canceled")
    return payout


# --- 2. and 3. Sending ---------------------------------------------------------------------------


def _claim(payout_id: str, *, resend: bool) -> Payout | None:
    """Claim the payout for a send and commit the claim. Returns it, or None when there is nothing to send.

    Without ``resend``: only a pending payout nobody claimed (the first send). With ``resend``: a pending payout
    claimed before (the claim's time is renewed): the caller has found out that the processor has no payout for
    its key, or could not ask; after ``PAYOUT_MAX_PROCESSOR_ATTEMPTS`` sends it is not claimed again but marked
    as needing attention (``_mark_needs_attention``), decided under the row lock so concurrent sweeps agree.
    Either way a canceled payout, or one the processor has, is never claimed, and
    nor is a payout of a merchant whose payouts are held: it stays pending (cancelable, when never claimed)
    and the sweep sends it once the hold is released. A hold cannot recall a send that started before it."""
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.status != PayoutStatus.PENDING or payout.is_claimed != resend:
            return None
        if resend and payout.processor_attempts >= settings.PAYOUT_MAX_PROCESSOR_ATTEMPTS:
            _mark_needs_attention(payout)
            return None
        if payouts_hold_refusal(merchant_id=payout.merchant_id) is not None:
            logger.info("payout %s: the merchant's payouts are held; left pending", payout.id)
            return None
        payout.sending_since = timezone.now()
        Payout.objects.filter(pk=payout.pk).update(
            sending_since=payout.sending_since, processor_attempts=F("processor_attempts") + 1
        )
        if not resend:
            audit_record(actor=WORKER, action="payout.claim", obj=payout, after={"status": payout.status})
    return payout


def _mark_needs_attention(payout: Payout) -> None:
    """Stop sending a locked, claimed, pending payout again: ``PAYOUT_MAX_PROCESSOR_ATTEMPTS`` sends, and the
    processor has no record of its key. It is not failed: a send still on its way could yet reach the processor,
    which would then pay it, and the amount given back would be paid out twice (docs/design.md, "Payouts").
    It stays pending (its amount out of available) for Finance to find in the back office queue; the first time,
    an audit entry (``payout.needs_attention``). The claim's time is renewed, so the sweep asks the processor
    about it again (and records it if it arrived) once per ``PAYOUT_SEND_LEASE_SECONDS``, not on every run."""
    now = timezone.now()
    first = payout.needs_attention_since is None
    payout.needs_attention_since = payout.needs_attention_since or now
    payout.sending_since = now
    Payout.objects.filter(pk=payout.pk).update(
        needs_attention_since=payout.needs_attention_since, sending_since=payout.sending_since
    )
    if first:
        logger.error(
            "payout %s: the processor has no record of it after %s sends; not sent again, needs attention",
            payout.id,
            payout.processor_attempts,
        )
        audit_record(
            actor=WORKER,
            action="payout.needs_attention",
            obj=payout,
            before={"status": payout.status},
            after={"status": payout.status, "needs_attention": True, "processor_attempts": payout.processor_attempts},
            reason=f"the processor has no record after {payout.processor_attempts} sends",
        )


def payout_send(*, payout_id: str, actor: str = WORKER) -> Payout:
    """Send a pending payout nobody claimed yet: claim it (committed), call the processor with ``payout_key``
    outside any transaction, record the answer. A payout already claimed (by a concurrent worker, or an earlier
    run that died) or no longer pending is returned as it is: the sweep's ``payout_resolve`` carries on with it.
    No transaction may be open."""
    claimed = _claim(payout_id, resend=False)
    if claimed is None:
        return Payout.objects.get(pk=payout_id)
    return _send(claimed, actor=actor)


def _send(payout: Payout, *, actor: str) -> Payout:
    """Call the processor for a claimed payout and record its answer. An unknown outcome leaves it pending and
    claimed (``payout_resolve`` finds out later, with the same key)."""
    processor = processor_outside_transaction(payout.processor, "sending a payout")
    destination = ExternalAccount.objects.get(pk=payout.destination_id)
    try:
        answer = processor.create_payout(
            amount=payout.amount,
            currency=payout.currency,
            destination=destination.processor_token,
            reference=payout.id,
            idempotency_key=payout_key(payout.id),
        )
    except ProcessorUnavailable:
        logger.warning("payout %s: outcome unknown, left pending (the sweep asks again)", payout.id)
        return Payout.objects.get(pk=payout.pk)
    except ProcessorRequestRejected as rejected:
        # Definite: the processor refused it and sent nothing.
        return payout_apply_failure(
            payout_id=payout.id,
            failure_code=rejected.code or "processor_rejected",
            failure_message=str(rejected) or None,
            actor=actor,
        )
    return payout_apply_processor_payout(payout_id=payout.id, answer=answer, actor=actor)


def _arrival(answer: ProcessorPayout) -> datetime | None:
    return datetime.fromtimestamp(answer.arrival_date, tz=UTC) if answer.arrival_date else None


def payout_apply_processor_payout(*, payout_id: str, answer: ProcessorPayout, actor: str) -> Payout:
    """Bring the payout in line with the processor's record of it (an answer, a webhook, a read). Idempotent and
    safe in any order: it only moves the payout forward (``pending`` → ``in_transit`` → ``paid``, or
    ``failed``), and a payout already paid, failed or canceled does not change. Each move writes its ledger
    entry and event in the same transaction."""
    if answer.status == ProcessorPayoutStatus.FAILED:
        return payout_apply_failure(
            payout_id=payout_id,
            failure_code=answer.failure_code or "failed",
            failure_message=answer.failure_message,
            actor=actor,
            processor_payout_id=answer.processor_id,
        )
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.status not in (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT) or not payout.is_claimed:
            # Final already, or never claimed (so never sent: no processor can hold it).
            return payout
        if payout.status == PayoutStatus.PENDING:
            # The processor's date replaces the estimate made at creation (kept only if it gives none).
            payout.send(processor_payout_id=answer.processor_id, arrival_date=_arrival(answer) or payout.arrival_date)
            payout.save()
            _record(payout, "send", before=PayoutStatus.PENDING, actor=actor, event=None)
        if answer.status == ProcessorPayoutStatus.PAID:
            payout.pay(arrival_date=_arrival(answer))
            payout.save()
            posting_rules.payout_paid(payout_id=payout.id)
            _record(payout, "pay", before=PayoutStatus.IN_TRANSIT, actor=actor, event="payout.paid")
        return payout


def payout_apply_failure(
    *,
    payout_id: str,
    failure_code: str,
    actor: str,
    failure_message: str | None = None,
    processor_payout_id: str | None = None,
) -> Payout:
    """The payout failed (refused by the processor, or not taken by the bank): ``failed`` with ``failure_code``,
    the amount back to available, ``payout.failed``; one transaction. Idempotent: a payout already final is
    returned as it is."""
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.status not in (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT) or not payout.is_claimed:
            return payout
        before = payout.status
        payout.fail(
            failure_code=failure_code,
            failure_message=(failure_message or "")[:500] or None,
            processor_payout_id=processor_payout_id,
        )
        payout.save()
        posting_rules.payout_failed(payout_id=payout.id, failure_code=failure_code)
        _record(payout, "fail", before=before, actor=actor, event="payout.failed", reason=failure_code)
    return payout


# --- 5. Outcomes: the resolver and the sweep -------------------------------------------------------


def payout_resolve(*, payout_id: str, actor: str = "system:payouts:resolver") -> Payout:
    """Find out what became of a payout the worker lost track of, and bring it in line. No transaction may be open.

    - pending and claimed (a send that died or got no answer): ask the processor about ``payout_key``; a payout
      found is recorded; none (the processor provably never recorded the send) is sent again, with that same
      key, so a send still in flight cannot become a second payout; after ``PAYOUT_MAX_PROCESSOR_ATTEMPTS``
      sends it is no longer sent but marked as needing attention (never failed: the processor does not promise
      to refuse a late arrival of the key), and still asked about on later sweeps;
    - pending and never claimed: the first send (``payout_send``);
    - in transit: ``retrieve_payout``, and apply what it says (paid, failed, or still in transit).
    The processor cannot be asked: nothing changes (the next sweep tries again)."""
    payout = Payout.objects.get(pk=payout_id)
    if payout.status == PayoutStatus.PENDING and not payout.is_claimed:
        return payout_send(payout_id=payout_id, actor=actor)
    processor = processor_outside_transaction(payout.processor, "asking about a payout")
    try:
        if payout.status == PayoutStatus.IN_TRANSIT:
            answer = processor.retrieve_payout(processor_payout_id=payout.processor_payout_id)
            return payout_apply_processor_payout(payout_id=payout_id, answer=answer, actor=actor)
        if payout.status != PayoutStatus.PENDING:
            return payout
        found = processor.lookup_payout(idempotency_key=payout_key(payout_id))
    except ProcessorUnavailable:
        logger.warning("payout %s: the processor could not be asked; the next sweep tries again", payout_id)
        return payout
    if found is not None:
        return payout_apply_processor_payout(payout_id=payout_id, answer=found, actor=actor)
    claimed = _claim(payout_id, resend=True)
    if claimed is None:
        return Payout.objects.get(pk=payout_id)
    return _send(claimed, actor=actor)


def payouts_sweep(*, limit: int = 500) -> dict:
    """The safety net (beat: every minute): send the pending payouts whose queued send was lost, resolve the
    claimed ones whose send got no answer within ``PAYOUT_SEND_LEASE_SECONDS``, and ask about those in transit
    ``PAYOUT_RESOLVE_AFTER_SECONDS`` past their arrival date (a lost webhook). Returns how many of each it
    looked at. Safe to run concurrently with itself and with the workers: every step is. Unsent payouts of
    merchants whose payouts are held are left out (the claim would refuse them, and they would fill the batch)."""
    now = timezone.now()
    pending = Payout.objects.filter(status=PayoutStatus.PENDING)
    held = Exists(PayoutHold.objects.filter(merchant=OuterRef("merchant")))
    unsent = list(
        pending.filter(~held, sending_since__isnull=True, created__lt=now - UNSENT_GRACE)
        .order_by("created")
        .values_list("pk", flat=True)[:limit]
    )
    stale = list(
        pending.filter(sending_since__lt=now - timedelta(seconds=settings.PAYOUT_SEND_LEASE_SECONDS))
        .order_by("sending_since")
        .values_list("pk", flat=True)[:limit]
    )
    overdue = list(
        Payout.objects.filter(
            Q(arrival_date__lt=now - timedelta(seconds=settings.PAYOUT_RESOLVE_AFTER_SECONDS))
            | Q(arrival_date__isnull=True),
            status=PayoutStatus.IN_TRANSIT,
        )
        .order_by("arrival_date")
        .values_list("pk", flat=True)[:limit]
    )
    for payout_id in unsent:
        payout_send(payout_id=payout_id)
    for payout_id in stale + overdue:
        payout_resolve(payout_id=payout_id)
    return {"unsent": len(unsent), "stale": len(stale), "overdue": len(overdue)}


# --- Automatic payouts ----------------------------------------------------------------------------

AUTOMATIC = "system:payouts:automatic"


def payout_period(merchant: Merchant, now: datetime) -> str | None:
    """The period an automatic payout of ``merchant`` made at ``now`` belongs to: the UTC day (``2026-11-30``)
    for a daily schedule; for a weekly one, the week that began on the last ``weekly_anchor`` day (UTC), named by
    the ISO week of that day (``2026-W49``: with the default Monday anchor, the ISO week itself); None for a
    manual one. Consecutive weeks begin seven days apart, so their names differ."""
    day = now.astimezone(UTC).date()
    if merchant.payout_interval == Merchant.PayoutInterval.DAILY:
        return day.isoformat()
    if merchant.payout_interval == Merchant.PayoutInterval.WEEKLY:
        anchor = [name for name, _ in WEEKDAYS].index(merchant.payout_weekly_anchor)
        year, week, _ = (day - timedelta(days=(day.weekday() - anchor) % 7)).isocalendar()
        return f"{year}-W{week:02d}"
    return None


def payouts_pay_out_automatically(*, now: datetime | None = None) -> dict:
    """Pay out each scheduled merchant's whole available balance, once per period and currency.

    For every merchant on a daily or weekly schedule whose payouts are not held, and every currency with a
    default external account and an available balance above zero, creates one automatic payout of that balance
    (``payout_create``, so the ledger's lock and floor apply and it is sent like any other). Guarantees: at most
    one automatic payout per (merchant, currency, period), by the database's unique constraint, however many runs
    and however concurrent; a run that finds the period paid, the balance gone meanwhile (balance_insufficient)
    or the merchant held skips it. Returns the counts of what it did."""
    now = now or timezone.now()
    counts = {"created": 0, "skipped": 0}
    merchants = Merchant.objects.filter(status=Merchant.Status.ACTIVE).exclude(
        payout_interval=Merchant.PayoutInterval.MANUAL
    )
    held = Exists(PayoutHold.objects.filter(merchant=OuterRef("pk")))
    counts["skipped"] += merchants.filter(held).count()
    # The automatic payouts of the periods that can still be current (a week at most): one query, not one per
    # merchant. payout_create refuses a held merchant and the database a second payout of a period anyway; these
    # filters only spare a run the reads of merchants it has nothing to do for.
    made = set(
        Payout.objects.filter(automatic=True, period__isnull=False, created__gte=now - timedelta(days=8)).values_list(
            "merchant_id", "period", "currency"
        )
    )
    for merchant in merchants.filter(~held).order_by("pk").iterator():
        period = payout_period(merchant, now)
        for balance in balance_get(merchant=merchant).available:
            if balance.amount <= 0 or (merchant.pk, period, balance.currency) in made:
                continue
            if selectors.external_account_default(merchant=merchant, currency=balance.currency) is None:
                continue
            try:
                payout_create(
                    merchant=merchant,
                    amount=None,
                    currency=balance.currency,
                    destination_id=None,
                    description=f"Automatic payout {period}",
                    actor=AUTOMATIC,
                    automatic=True,
                    period=period,
                )
            except IntegrityError as error:
                if "payout_one_automatic_per_period" not in str(error):
                    raise
                logger.info("automatic payout of %s %s %s: made by another run", merchant.pk, balance.currency, period)
                counts["skipped"] += 1
            except (InsufficientBalance, PayoutsHeld, ExternalAccountMissing) as refusal:
                # Another run paid the period, or the balance or the merchant changed since it was read: the
                # next run sees the new state.
                logger.info("automatic payout of %s %s %s skipped: %r", merchant.pk, balance.currency, period, refusal)
                counts["skipped"] += 1
            else:
                counts["created"] += 1
    return counts


# --- Holds ---------------------------------------------------------------------------------------


def payouts_hold_refusal(*, merchant_id: str) -> PayoutsHeld | None:
    """The refusal to pay out to a merchant whose payouts are held (None when they are not): the one check that
    every way of paying a merchant out makes (creation, the claim before each send, automatic payouts). Reads
    without locking: a hold committed after the check applies from the next payout or send."""
    if not PayoutHold.objects.filter(merchant_id=merchant_id).exists():
        return None
    return PayoutsHeld(
        "Your payouts are on hold: contact support. Payouts already created stay pending (you can cancel them) "
        "until the hold is lifted."
    )


def _hold_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise PayoutHoldUnexpectedState("Say why: a reason is required.", param="reason")
    return reason[:500]


def payouts_hold(*, merchant: Merchant, reason: str, actor: str) -> PayoutHold:
    """Hold the merchant's payouts: from the commit on, no payout of the merchant is created or sent (its pending
    payouts stay pending, cancelable). Writes the hold and its audit entry (``payouts.hold`` on the merchant,
    with the reason) in one transaction. A reason is required; payouts already held are refused
    (``payout_hold_unexpected_state``), and of two concurrent holds one is refused (the merchant is the key)."""
    reason = _hold_reason(reason)
    try:
        with transaction.atomic():
            hold = PayoutHold.objects.create(merchant=merchant, reason=reason, held_by=actor)
            audit_record(
                actor=actor,
                action="payouts.hold",
                obj=merchant,
                before={"payouts_held": False},
                after={"payouts_held": True},
                reason=reason,
            )
    except IntegrityError:
        raise PayoutHoldUnexpectedState("This merchant's payouts are held already.", param="merchant") from None
    return hold


def payouts_release(*, merchant: Merchant, reason: str, actor: str) -> None:
    """Lift the hold on the merchant's payouts: its pending payouts are sent again (by the next sweep) and new ones
    can be made. Deletes the hold and writes its audit entry (``payouts.release``, with the reason and who held
    it, when and why) in one transaction, under the hold's row lock; payouts that are not held are refused."""
    reason = _hold_reason(reason)
    with transaction.atomic():
        hold = PayoutHold.objects.select_for_update().filter(merchant=merchant).first()
        if hold is None:
            raise PayoutHoldUnexpectedState("This merchant's payouts are not held.", param="merchant")
        hold.delete()
        audit_record(
            actor=actor,
            action="payouts.release",
            obj=merchant,
            before={
                "payouts_held": True,
                "held_by": hold.held_by,
                "held_at": hold.held_at.isoformat(),
                "reason": hold.reason,
            },
            after={"payouts_held": False},
            reason=reason,
        )


# --- Processor webhooks ----------------------------------------------------------------------------


def payout_apply_processor_event(processor: str, event: ProcessorEvent, actor: str) -> bool:
    """``payments.processor_events``'s dispatch for an event about a payout: applied when the payout is ours
    and was sent through ``processor`` (False otherwise: the event is stored as ignored)."""
    answer = event.payout
    if not Payout.objects.filter(pk=answer.reference, processor=processor).exists():
        return False
    payout_apply_processor_payout(payout_id=answer.reference, answer=answer, actor=actor)
    return True
