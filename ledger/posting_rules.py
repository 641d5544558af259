"""One function per business event: which accounts it debits and credits.

Callers (the payments services) call these inside the transaction that moves
the payment, refund or dispute, so the state change and its entries commit
together. Every function is idempotent: its entry is keyed by the event
(``payment.captured:pay_…``), and calling it again returns the entry written
the first time (see ``ledger.services``). Amounts are positive integers in
minor units; ``Dr``/``Cr`` below are debits and credits. The chart of accounts
is in ``ledger/README.md``.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from core.db import PreparedRead
from core.money import MAX_AMOUNT, convert, is_known_currency
from ledger.errors import InsufficientBalance, LedgerError, LedgerEventMissing
from ledger.fees import cross_border_fee, platform_fee
from ledger.models import AccountCode, JournalEntry, Posting
from ledger.selectors import balance_transactions_to_settle
from ledger.services import (
    Leg,
    account_lock,
    accounts_get_or_create,
    entries_settle,
    entry_mature,
    entry_post,
    entry_post_pending,
    entry_resolve_pending,
    entry_reverse,
    merchant_id_of,
)
from merchants.models import Merchant

RECEIVABLE = AccountCode.PROCESSOR_RECEIVABLE
PENDING_FUNDS = AccountCode.MERCHANT_PENDING
AVAILABLE = AccountCode.MERCHANT_AVAILABLE
FEE_REVENUE = AccountCode.FEE_REVENUE
ADJUSTMENTS = AccountCode.ADJUSTMENTS
FX_CLEARING = AccountCode.FX_CLEARING
Type = JournalEntry.Type


def _amount(value, name: str, *, allow_zero: bool = False) -> int:
    if type(value) is not int:
        raise ValueError(f"{name} is an integer in minor units, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise ValueError(f"{name} must be {'0' if allow_zero else '1'} to {MAX_AMOUNT}, not {value}")
    return value


def _currency(value: str) -> str:
    if not isinstance(value, str) or not is_known_currency(value):
        raise ValueError(f"unknown currency {value!r}")
    return value


def _entry(event_key: str) -> JournalEntry | None:
    return JournalEntry.objects.filter(event_key=event_key).first()


def _required_entry(event_key: str) -> JournalEntry:
    entry = _entry(event_key)
    if entry is None:
        raise LedgerEventMissing(f"no ledger entry for {event_key}: post that event first")
    return entry


def _posted_on(entry: JournalEntry, code: str, phase: str) -> int:
    """The signed sum of ``entry``'s postings on accounts ``code`` in ``phase``."""
    return sum(entry.postings.filter(account__code=code, phase=phase).values_list("amount", flat=True))


def _conversion(currency: str, settlement_currency: str | None, fx_rate: Decimal | None) -> tuple[str, Decimal] | None:
    """``(settlement currency, locked rate)`` for a converted payment, None for one settled in its currency."""
    if fx_rate is None or settlement_currency is None or settlement_currency == currency:
        return None
    _currency(settlement_currency)
    if not isinstance(fx_rate, Decimal) or fx_rate <= 0:
        raise ValueError(f"fx_rate must be a positive Decimal, not {fx_rate!r}")
    return settlement_currency, fx_rate


def _fx_legs(
    *, merchant, amount: int, currency: str, conversion: tuple[str, Decimal], credit: str = AVAILABLE
) -> tuple[list[Leg], int, dict]:
    """The presentment side of a conversion through fx_clearing, for money coming in (``amount`` > 0 is a
    debit of processor_receivable): Dr processor_receivable[X] amount; Cr fx_clearing[X] amount; Dr
    fx_clearing[Y] converted. Returns the legs, the converted amount and the settlement-currency accounts
    (fx_clearing, fee_revenue and the merchant's ``credit`` account)."""
    settlement_currency, rate = conversion
    converted = convert(amount, currency, settlement_currency, rate)
    presentment = accounts_get_or_create(merchant=merchant, currency=currency, codes=[RECEIVABLE, FX_CLEARING])
    settlement = accounts_get_or_create(
        merchant=merchant, currency=settlement_currency, codes=[FX_CLEARING, credit, FEE_REVENUE]
    )
    legs = [Leg(presentment[RECEIVABLE], amount), Leg(presentment[FX_CLEARING], -amount)]
    if converted:
        legs.append(Leg(settlement[FX_CLEARING], converted))
    return legs, converted, settlement


def settlement_delay(merchant) -> timedelta:
    """How long a capture's funds stay pending: ``BALANCE_SETTLEMENT_DELAY_SECONDS`` when set (the platform's
    override), otherwise the merchant's ``payout_delay_days`` (read now, so a change applies to the next
    capture; captures already made keep their ``available_on``, as with Stripe)."""
    override = settings.BALANCE_SETTLEMENT_DELAY_SECONDS
    if override is not None:
        return timedelta(seconds=max(0, override))
    if not isinstance(merchant, Merchant):
        merchant = _merchant_by_id.first(merchant)
        if merchant is None:
            raise LedgerError("the merchant does not exist")
    return timedelta(days=merchant.payout_delay_days)


# Read on every capture: compiled once per process (core.db.PreparedRead).
_merchant_by_id = PreparedRead(lambda merchant_id: Merchant.objects.filter(pk=merchant_id))


def _capture_legs(
    *, merchant, amount: int, currency: str, credit: str, conversion: tuple[str, Decimal] | None = None
) -> list[Leg]:
    """The posted legs of a capture; the merchant's net goes to ``credit`` (merchant_pending or _available)."""
    if conversion is not None:
        legs, converted, accounts = _fx_legs(
            merchant=merchant, amount=amount, currency=currency, conversion=conversion, credit=credit
        )
        fee = min(
            converted, platform_fee(amount=converted, currency=conversion[0]) + cross_border_fee(amount=converted)
        )
        amount, legs = converted, legs
    else:
        fee = platform_fee(amount=amount, currency=currency)
        accounts = accounts_get_or_create(merchant=merchant, currency=currency, codes=[RECEIVABLE, credit, FEE_REVENUE])
        legs = [Leg(accounts[RECEIVABLE], amount)]
    if amount - fee:
        legs.append(Leg(accounts[credit], -(amount - fee)))
    if fee:
        legs.append(Leg(accounts[FEE_REVENUE], -fee))
    return legs


def _outgoing_legs(*, merchant, amount: int, currency: str, conversion: tuple[str, Decimal] | None) -> list[Leg]:
    """Money leaving the merchant to the processor (a refund, a chargeback): Dr merchant_available,
    Cr processor_receivable ``amount``; converted at the payment's locked rate through fx_clearing."""
    if conversion is None:
        accounts = accounts_get_or_create(merchant=merchant, currency=currency, codes=[AVAILABLE, RECEIVABLE])
        return [Leg(accounts[AVAILABLE], amount), Leg(accounts[RECEIVABLE], -amount)]
    incoming, converted, settlement = _fx_legs(
        merchant=merchant, amount=amount, currency=currency, conversion=conversion
    )
    legs = [Leg(leg.account, -leg.amount) for leg in incoming]
    if converted:
        legs.append(Leg(settlement[AVAILABLE], converted))
    return legs


# --- Payments ------------------------------------------------------------------------


def payment_authorized(*, payment_id: str, merchant, amount: int, currency: str) -> JournalEntry:
    """A manual-capture payment was authorised: reserve the amount (pending entry, type ``authorization``).

    Pending phase: Dr processor_receivable ``amount``; Cr merchant_pending ``amount``.
    Nothing moves in the posted phase, so the merchant's balance does not change.
    """
    _amount(amount, "amount")
    _currency(currency)
    accounts = accounts_get_or_create(merchant=merchant, currency=currency, codes=[RECEIVABLE, PENDING_FUNDS])
    return entry_post_pending(
        event_key=f"payment.authorized:{payment_id}",
        type=Type.AUTHORIZATION,
        source=payment_id,
        merchant=merchant,
        currency=currency,
        legs=[Leg(accounts[RECEIVABLE], amount), Leg(accounts[PENDING_FUNDS], -amount)],
    )


def payment_captured(
    *,
    payment_id: str,
    merchant,
    amount_captured: int,
    currency: str,
    authorized: bool,
    settlement_currency: str | None = None,
    fx_rate: Decimal | None = None,
) -> JournalEntry:
    """The payment was captured: the funds are the merchant's, less the platform fee (type ``charge``).

    ``authorized`` says whether the payment was authorised before (``payment_authorized``, manual capture):
    the caller knows from the payment's status, so the ledger does not look for an authorisation that cannot
    exist. Refused with ``LedgerEventMissing`` when ``authorized`` and no authorisation was posted.

    fee = round_half_even(amount_captured × LEDGER_FEE_PERCENT_BPS / 10 000) + LEDGER_FEE_FIXED[currency],
    at most ``amount_captured``.

    Posted phase: Dr processor_receivable ``amount_captured``; Cr merchant_pending
    ``amount_captured − fee``; Cr fee_revenue ``fee``. The entry's ``available_on`` is the capture time plus
    ``settlement_delay``; ``funds_matured`` moves the net to merchant_available then. One rule, no second
    path: when ``available_on`` is not in the future (a delay of 0) the net is credited to
    merchant_available directly, and there is nothing to mature.

    With ``authorized`` (manual capture) this entry also posts the authorisation: it reverses
    the whole reservation in the pending phase (Dr merchant_pending, Cr
    processor_receivable, the authorised amount), so a partial capture releases
    the rest. Without (automatic capture) it is a plain posted entry.

    Converted (``fx_rate`` locked on a payment whose ``settlement_currency`` differs from ``currency``):
    S = convert(amount_captured, currency, settlement_currency, fx_rate) (half-even, ``core.money.convert``),
    fee = platform fee of S in the settlement currency + ``CROSS_BORDER_FEE_BPS`` of S, at most S.
    Posted phase: Dr processor_receivable[currency] ``amount_captured``; Cr fx_clearing[currency]
    ``amount_captured``; Dr fx_clearing[settlement] S; Cr merchant_pending[settlement] S − fee (or
    merchant_available, as above); Cr fee_revenue[settlement] fee. Each currency balances on its own.
    """
    _amount(amount_captured, "amount_captured")
    _currency(currency)
    event_key = f"payment.captured:{payment_id}"
    authorization = _required_entry(f"payment.authorized:{payment_id}") if authorized else None
    delay = settlement_delay(merchant)
    legs = _capture_legs(
        merchant=merchant,
        amount=amount_captured,
        currency=currency,
        # available_on = the entry's creation + delay: pending while that is in the future.
        credit=PENDING_FUNDS if delay > timedelta(0) else AVAILABLE,
        conversion=_conversion(currency, settlement_currency, fx_rate),
    )
    if authorization is None:
        return entry_post(
            event_key=event_key,
            type=Type.CHARGE,
            source=payment_id,
            merchant=merchant,
            currency=currency,
            legs=legs,
            available_after=delay,
        )
    if authorization.currency != currency:
        raise LedgerError(f"{payment_id} was authorised in {authorization.currency}, not {currency}")
    if authorization.merchant_id != merchant_id_of(merchant):
        raise LedgerError(f"{payment_id} was authorised for merchant {authorization.merchant_id}")
    authorized = _posted_on(authorization, RECEIVABLE, Posting.Phase.PENDING)
    if amount_captured > authorized:
        raise LedgerError(f"{payment_id}: cannot capture {amount_captured}, only {authorized} was authorised")
    memo = "" if amount_captured == authorized else f"partial capture; {authorized - amount_captured} released"
    return entry_resolve_pending(
        pending_entry=authorization,
        action="post",
        event_key=event_key,
        type=Type.CHARGE,
        legs=legs,
        memo=memo,
        available_after=delay,
    )


def payment_authorization_released(*, payment_id: str, reason: str) -> JournalEntry | None:
    """The authorisation ended without a capture (``reason``: canceled or expired): void the reservation.

    Pending phase: Dr merchant_pending, Cr processor_receivable, the authorised
    amount (type ``authorization_release``). Returns None when the payment was
    never authorised (nothing was reserved). Refused with ``PendingEntryResolved``
    when the authorisation was already captured.
    """
    authorization = _entry(f"payment.authorized:{payment_id}")
    if authorization is None:
        return None
    return entry_resolve_pending(
        pending_entry=authorization,
        action="void",
        event_key=f"payment.authorization_released:{payment_id}",
        type=Type.AUTHORIZATION_RELEASE,
        memo=reason,
    )


def payment_returned(*, payment_id: str, return_code: str | None = None) -> JournalEntry:
    """A settled bank transfer was returned by the customer's bank (e.g. ``R01``): the capture is undone.

    Posted phase (type ``payment_return``, event key ``payment.returned:{payment_id}``), the reversal of
    the capture entry with the merchant's side taken from merchant_available: Dr merchant_available
    ``amount_captured − fee``; Dr fee_revenue ``fee``; Cr processor_receivable ``amount_captured`` (the
    processor took the whole amount back, so the platform gives back its fee too). Money that leaves is
    taken from ``available`` at once, as refunds and disputes are, even when the capture has not matured
    yet: the capture still matures later (pending → available), so the balances stay right in sum and
    merchant_pending keeps holding exactly the unmatured captures. Never refused: the merchant's balance may
    go negative (e.g. after refunds). ``LedgerEventMissing`` when the payment was never captured.
    """
    captured = _required_entry(f"payment.captured:{payment_id}")
    memo = f"returned by the bank ({return_code})" if return_code else "returned by the bank"
    legs = []
    for posting in captured.postings.filter(phase=Posting.Phase.POSTED).select_related("account").order_by("id"):
        account = posting.account
        if account.code == PENDING_FUNDS:
            account = accounts_get_or_create(
                merchant=captured.merchant_id, currency=account.currency, codes=[AVAILABLE]
            )[AVAILABLE]
        legs.append(Leg(account, -posting.amount))
    return entry_post(
        event_key=f"payment.returned:{payment_id}",
        type=Type.PAYMENT_RETURN,
        source=captured.source,
        merchant=captured.merchant_id,
        currency=captured.currency,
        legs=legs,
        memo=memo,
    )


def funds_matured(*, entry: JournalEntry, now: datetime | None = None) -> JournalEntry:
    """``entry``'s pending funds are due (its ``available_on`` has passed): they become available.

    Posted phase (type ``funds_matured``, event key ``funds.matured:{entry_id}``, source: ``entry``'s):
    Dr merchant_pending, Cr merchant_available, each by ``entry``'s posted credit to merchant_pending
    (per settlement currency). The unique event key makes it once per entry, however many workers run it;
    the entry leaves the maturing work list in the same transaction. Not a balance transaction (it moves
    nothing in total). ``LedgerError`` when ``entry`` credits no merchant_pending or is not due yet.
    """
    now = now or timezone.now()
    if entry.available_on is None or entry.available_on > now:
        raise LedgerError(f"the funds of {entry.pk} are not due before {entry.available_on}")
    return entry_mature(
        entry=entry,
        event_key=f"funds.matured:{entry.pk}",
        type=Type.FUNDS_MATURED,
        memo=f"funds of {entry.pk} available",
    )


def payment_failed(*, payment_id: str) -> None:
    """The payment failed: no money moved and nothing was reserved, so no entry. Returns None.

    It exists so that every payment transition calls one posting rule.
    """
    return None


# --- Refunds -------------------------------------------------------------------------


def refund_created(
    *,
    refund_id: str,
    payment_id: str,
    merchant,
    amount: int,
    currency: str,
    settlement_currency: str | None = None,
    fx_rate: Decimal | None = None,
) -> JournalEntry:
    """A refund was requested and sent to the processor: reserve it (pending entry, type ``refund``).

    Pending phase: Dr merchant_available ``amount``; Cr processor_receivable ``amount``.
    The merchant's (posted) balance moves when the refund succeeds.

    Of a converted payment, at the rate locked on the payment (C = convert(amount, …, fx_rate)): Dr
    merchant_available[settlement] C; Cr fx_clearing[settlement] C; Dr fx_clearing[currency] ``amount``;
    Cr processor_receivable[currency] ``amount``.
    """
    _amount(amount, "amount")
    _currency(currency)
    legs = _outgoing_legs(
        merchant=merchant,
        amount=amount,
        currency=currency,
        conversion=_conversion(currency, settlement_currency, fx_rate),
    )
    return entry_post_pending(
        event_key=f"refund.created:{refund_id}",
        type=Type.REFUND,
        source=refund_id,
        merchant=merchant,
        currency=currency,
        legs=legs,
        memo=f"refund of {payment_id}",
    )


def refund_succeeded(*, refund_id: str) -> JournalEntry:
    """The refund succeeded: post the reservation (type ``refund``).

    Pending phase: the reservation reversed (Dr processor_receivable, Cr merchant_available).
    Posted phase: Dr merchant_available ``amount``; Cr processor_receivable ``amount``.
    The platform fee of the payment is not returned.
    """
    created = _required_entry(f"refund.created:{refund_id}")
    reserved = created.postings.filter(phase=Posting.Phase.PENDING).select_related("account").order_by("id")
    return entry_resolve_pending(
        pending_entry=created,
        action="post",
        event_key=f"refund.succeeded:{refund_id}",
        type=Type.REFUND,
        legs=[Leg(posting.account, posting.amount) for posting in reserved],
        memo=created.memo,
    )


def refund_failed(*, refund_id: str) -> JournalEntry:
    """The refund failed: the money stays with (or returns to) the merchant.

    Still pending: void the reservation (type ``refund_release``; pending phase
    Dr processor_receivable, Cr merchant_available ``amount``; the balance never moved).
    Already succeeded (a processor can fail a refund later): a reversing posted
    entry (type ``refund_failure``; Dr processor_receivable, Cr merchant_available ``amount``).
    """
    created = _required_entry(f"refund.created:{refund_id}")
    event_key = f"refund.failed:{refund_id}"
    if created.status == JournalEntry.Status.POSTED:
        succeeded = created.resolution
        return entry_reverse(entry=succeeded, event_key=event_key, type=Type.REFUND_FAILURE, memo=created.memo)
    return entry_resolve_pending(
        pending_entry=created, action="void", event_key=event_key, type=Type.REFUND_RELEASE, memo=created.memo
    )


# --- Disputes ------------------------------------------------------------------------


def dispute_opened(
    *,
    dispute_id: str,
    payment_id: str,
    merchant,
    amount: int,
    fee: int,
    currency: str,
    settlement_currency: str | None = None,
    fx_rate: Decimal | None = None,
) -> JournalEntry:
    """A chargeback opened: the processor took the disputed amount back, and the platform charges the dispute fee.

    Posted phase (type ``dispute``): Dr merchant_available ``amount + fee``;
    Cr processor_receivable ``amount``; Cr fee_revenue ``fee``. Never refused:
    the merchant's balance may go negative.

    Of a converted payment, at its locked rate (C and F: ``amount`` and ``fee`` converted): Dr
    merchant_available[settlement] C + F; Cr fx_clearing[settlement] C; Dr fx_clearing[currency] ``amount``;
    Cr processor_receivable[currency] ``amount``; Cr fee_revenue[settlement] F.
    """
    _amount(amount, "amount")
    _amount(fee, "fee", allow_zero=True)
    _currency(currency)
    conversion = _conversion(currency, settlement_currency, fx_rate)
    if conversion is None:
        accounts = accounts_get_or_create(
            merchant=merchant, currency=currency, codes=[AVAILABLE, RECEIVABLE, FEE_REVENUE]
        )
        legs = [Leg(accounts[AVAILABLE], amount + fee), Leg(accounts[RECEIVABLE], -amount)]
        if fee:
            legs.append(Leg(accounts[FEE_REVENUE], -fee))
    else:
        settlement_currency, rate = conversion
        converted_fee = convert(fee, currency, settlement_currency, rate)
        legs = _outgoing_legs(merchant=merchant, amount=amount, currency=currency, conversion=conversion)
        if converted_fee:
            accounts = accounts_get_or_create(
                merchant=merchant, currency=settlement_currency, codes=[AVAILABLE, FEE_REVENUE]
            )
            legs += [Leg(accounts[AVAILABLE], converted_fee), Leg(accounts[FEE_REVENUE], -converted_fee)]
    return entry_post(
        event_key=f"dispute.opened:{dispute_id}",
        type=Type.DISPUTE,
        source=dispute_id,
        merchant=merchant,
        currency=currency,
        legs=legs,
        memo=f"dispute on {payment_id}",
    )


def dispute_won(
    *, dispute_id: str, settlement_currency: str | None = None, fx_rate: Decimal | None = None
) -> JournalEntry:
    """The merchant won the dispute: the processor returns the amount; the dispute fee is kept.

    Posted phase (type ``dispute_reversal``): Dr processor_receivable ``amount``;
    Cr merchant_available ``amount``. Of a converted payment, at its locked rate, through fx_clearing (the
    exact opposite of the amount's legs when the dispute opened).
    """
    opened = _required_entry(f"dispute.opened:{dispute_id}")
    amount = -sum(
        opened.postings.filter(
            account__code=RECEIVABLE, phase=Posting.Phase.POSTED, account__currency=opened.currency
        ).values_list("amount", flat=True)
    )
    conversion = _conversion(opened.currency, settlement_currency, fx_rate)
    outgoing = _outgoing_legs(
        merchant=opened.merchant_id, amount=amount, currency=opened.currency, conversion=conversion
    )
    return entry_post(
        event_key=f"dispute.won:{dispute_id}",
        type=Type.DISPUTE_REVERSAL,
        source=dispute_id,
        merchant=opened.merchant_id,
        currency=opened.currency,
        legs=[Leg(leg.account, -leg.amount) for leg in outgoing],
        memo=opened.memo,
    )


def dispute_lost(*, dispute_id: str) -> None:
    """The merchant lost the dispute: no entry. The amount and fee left the balance when it opened.

    Checks that the dispute was opened and not won (``LedgerEventMissing`` /
    ``LedgerError`` otherwise). Returns None.
    """
    _required_entry(f"dispute.opened:{dispute_id}")
    if _entry(f"dispute.won:{dispute_id}") is not None:
        raise LedgerError(f"dispute {dispute_id} was already won")
    return None


# --- Adjustments ---------------------------------------------------------------------


def manual_adjustment(*, adjustment_id: str, merchant, amount: int, currency: str, memo: str) -> JournalEntry:
    """A staff correction of a merchant's available balance (type ``adjustment``); ``amount`` is signed.

    Positive (credit the merchant): Dr adjustments ``amount``; Cr merchant_available ``amount``.
    Negative (debit the merchant): Dr merchant_available ``|amount|``; Cr adjustments ``|amount|``.
    """
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount is a non-zero integer in minor units, not {amount!r}")
    _currency(currency)
    accounts = accounts_get_or_create(merchant=merchant, currency=currency, codes=[ADJUSTMENTS, AVAILABLE])
    return entry_post(
        event_key=f"adjustment:{adjustment_id}",
        type=Type.ADJUSTMENT,
        source=adjustment_id,
        merchant=merchant,
        currency=currency,
        legs=[Leg(accounts[ADJUSTMENTS], amount), Leg(accounts[AVAILABLE], -amount)],
        memo=memo,
    )


# --- Payouts -------------------------------------------------------------------------

IN_TRANSIT = AccountCode.MERCHANT_PAYOUTS_IN_TRANSIT


def payout_created(*, payout_id: str, merchant, amount: int, currency: str) -> JournalEntry:
    """A payout was created: its amount leaves the merchant's available balance at once (type ``payout``).

    Posted phase: Dr merchant_available ``amount``; Cr merchant_payouts_in_transit ``amount``.
    Refused with ``InsufficientBalance`` when it would take merchant_available below zero: the account is
    locked for the rest of the caller's transaction (``not_below_zero``), so concurrent payouts of one merchant
    and currency are decided one after the other and never overdraw together. Refunds and disputes do not ask
    for the floor: they may still take the balance negative.
    """
    _amount(amount, "amount")
    _currency(currency)
    accounts = accounts_get_or_create(merchant=merchant, currency=currency, codes=[AVAILABLE, IN_TRANSIT])
    return entry_post(
        event_key=f"payout.created:{payout_id}",
        type=Type.PAYOUT,
        source=payout_id,
        merchant=merchant,
        currency=currency,
        legs=[Leg(accounts[AVAILABLE], amount), Leg(accounts[IN_TRANSIT], -amount)],
        memo="payout",
        not_below_zero=[accounts[AVAILABLE]],
    )


def automatic_payout_created(*, payout_id: str, merchant, currency: str) -> tuple[JournalEntry, int]:
    """An automatic payout was created: it pays out every available balance transaction of the merchant in
    ``currency`` that no automatic payout has paid out yet, and its amount is the sum of their nets.

    Under the lock of the merchant's available account (held to the end of the caller's transaction), reads the
    transactions to settle (``balance_transactions_to_settle``), posts ``payout_created`` for their sum (which
    asks for the floor, as every payout does) and records the group (``entries_settle``: the transactions and
    the payout's own entry, whose nets sum to zero). The sum is the available balance, so this pays out the
    whole of it; ``GET /v1/balance_transactions?payout=`` lists the group. Returns the entry and the amount.
    ``InsufficientBalance`` when the sum
    is not above zero (nothing to pay out, or a negative balance) or the floor refuses it (refunds in flight);
    nothing is written then. Idempotent like every rule: a second call for ``payout_id`` returns the entry
    written the first time and settles nothing more.
    """
    _currency(currency)
    # Both of payout_created's accounts exist before the lock, as for any payout: one that created its in-transit
    # account while this held the lock would deadlock with it.
    available = accounts_get_or_create(merchant=merchant, currency=currency, codes=[AVAILABLE, IN_TRANSIT])[AVAILABLE]
    account_lock(available)
    if _entry(f"payout.created:{payout_id}") is not None:
        return _payout_in_transit(payout_id)
    to_settle = balance_transactions_to_settle(merchant=merchant, currency=currency)
    amount = sum(net for _, net in to_settle)
    if amount <= 0:
        raise InsufficientBalance(f"Nothing to pay out: the available {currency} balance is {amount}.", param="amount")
    entry = payout_created(payout_id=payout_id, merchant=merchant, amount=amount, currency=currency)
    entries_settle(payout_entry=entry, entry_ids=[entry_id for entry_id, _ in to_settle])
    return entry, amount


def _payout_in_transit(payout_id: str) -> tuple[JournalEntry, int]:
    created = _required_entry(f"payout.created:{payout_id}")
    return created, -_posted_on(created, IN_TRANSIT, Posting.Phase.POSTED)


def payout_paid(*, payout_id: str) -> JournalEntry:
    """The processor paid the payout to the bank: the money left its balance (type ``payout``).

    Posted phase: Dr merchant_payouts_in_transit ``amount``; Cr processor_receivable ``amount``.
    The merchant's balance does not move (it moved when the payout was created). ``LedgerEventMissing``
    when the payout was never created.
    """
    created, amount = _payout_in_transit(payout_id)
    accounts = accounts_get_or_create(
        merchant=created.merchant_id, currency=created.currency, codes=[IN_TRANSIT, RECEIVABLE]
    )
    return entry_post(
        event_key=f"payout.paid:{payout_id}",
        type=Type.PAYOUT,
        source=payout_id,
        merchant=created.merchant_id,
        currency=created.currency,
        legs=[Leg(accounts[IN_TRANSIT], amount), Leg(accounts[RECEIVABLE], -amount)],
        memo="payout paid",
    )


def _payout_returned(*, payout_id: str, event: str, type: str, memo: str) -> JournalEntry:
    created, amount = _payout_in_transit(payout_id)
    accounts = accounts_get_or_create(
        merchant=created.merchant_id, currency=created.currency, codes=[IN_TRANSIT, AVAILABLE]
    )
    return entry_post(
        event_key=f"{event}:{payout_id}",
        type=type,
        source=payout_id,
        merchant=created.merchant_id,
        currency=created.currency,
        legs=[Leg(accounts[IN_TRANSIT], amount), Leg(accounts[AVAILABLE], -amount)],
        memo=memo,
    )


def payout_failed(*, payout_id: str, failure_code: str = "") -> JournalEntry:
    """The payout failed (the processor refused it, or the bank returned it): the amount returns to available
    (type ``payout_failure``). Posted phase: Dr merchant_payouts_in_transit ``amount``; Cr merchant_available
    ``amount``. ``LedgerEventMissing`` when the payout was never created."""
    memo = f"payout failed ({failure_code})" if failure_code else "payout failed"
    return _payout_returned(payout_id=payout_id, event="payout.failed", type=Type.PAYOUT_FAILURE, memo=memo)


def payout_canceled(*, payout_id: str) -> JournalEntry:
    """The payout was canceled before it was sent: the amount returns to available (type ``payout_cancel``).
    Posted phase: Dr merchant_payouts_in_transit ``amount``; Cr merchant_available ``amount``."""
    return _payout_returned(
        payout_id=payout_id, event="payout.canceled", type=Type.PAYOUT_CANCEL, memo="payout canceled"
    )
