"""Every write the sandbox processor makes. Each function owns its transaction.

Nothing here waits or calls the network inside a transaction: the deliberate
delays of fault injection happen in ``idempotency.py`` after the commit, and
webhooks are sent by the dispatcher after they were committed to the queue.
"""

import logging
import random
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from sandbox import banks, cards, rows, wallets
from sandbox.banks import BankAccount as BankAccountFacts
from sandbox.cards import Card
from sandbox.config import SandboxConfig, sandbox_config
from sandbox.draws import nth_draw
from sandbox.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    ProcessingError,
    ResourceMissing,
)
from sandbox.fees import charge_fee
from sandbox.models import (
    BankAccount,
    Charge,
    Dispute,
    FaultSettings,
    IdempotencyKey,
    Payout,
    Refund,
    ScheduledAction,
    SettlementLine,
    Token,
    WebhookEvent,
    new_charge_id,
    new_id,
)
from sandbox.representations import charge_json, dispute_json, payout_json, refund_json, unix
from sandbox.selectors import charge_get, dispute_get, event_get, faults_current, payout_get, refund_get

logger = logging.getLogger(__name__)

# A claimed key with no answer after this long belongs to a request that died
# (the process was killed between claiming and answering): it may be taken over.
ABANDONED_CLAIM_AFTER = timedelta(seconds=120)
IDEMPOTENCY_KEY_RETENTION = timedelta(hours=24)
WEBHOOK_MAX_ATTEMPTS = 20
WEBHOOK_MAX_BACKOFF_SECONDS = 60
# While a dispatcher sends an event no other dispatcher may; if it dies, the event is due again after this.
WEBHOOK_CLAIM_LEASE = timedelta(seconds=60)
ACTION_MAX_ATTEMPTS = 20
# With shuffle_webhooks, each new event waits a seeded random time up to this, so deliveries overtake each other.
SHUFFLE_WINDOW_SECONDS = 2.0


# --- Tokens --------------------------------------------------------------------


def token_create(*, card: Card) -> Token:
    """Store a tokenised card. ``card`` already holds only brand, last four digits, expiry and behaviour."""
    return Token.objects.create(
        brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year, behaviour=card.behaviour
    )


# --- Bank accounts -------------------------------------------------------------


def bank_account_create(*, account: BankAccountFacts) -> BankAccount:
    """Store a tokenised bank account. ``account`` already holds only country, last four characters, keyed
    fingerprint, bank name and behaviour: the account number and IBAN never reach this far."""
    return BankAccount.objects.create(
        country=account.country,
        last4=account.last4,
        fingerprint=account.fingerprint,
        bank_name=account.bank_name,
        behaviour=account.behaviour,
    )


# --- Charges -------------------------------------------------------------------


def _charge_insert(**fields) -> Charge:
    """Insert a charge inside the caller's transaction; the unique key on the idempotency key has the last word.

    No savepoint: the IdempotencyKeyInUse it raises is never stored, so it rolls the whole transaction back
    (``idempotency.execute``), and nothing written before it in that transaction survives.
    """
    try:
        return rows.insert(Charge(**fields))
    except IntegrityError as error:
        # Only reachable if a claim that looked abandoned was taken over while its owner still ran.
        raise IdempotencyKeyInUse("A charge for this idempotency key is being created.") from error


def charge_create(
    *,
    amount: int,
    currency: str,
    token: str,
    card: Card,
    capture: bool,
    reference: str | None,
    idempotency_key: str,
    timeout_delay_seconds: float,
) -> Charge:
    """Charge ``card`` as its behaviour says, and return the recorded charge.

    Guarantees: an approval is ``captured`` (``capture``) or ``authorized``; a
    decline is recorded as a ``declined`` charge; a processing error raises
    ``ProcessingError`` and records nothing. For ``timeout`` the charge is
    approved and, in the same transaction, ``charge.succeeded`` (or
    ``charge.authorized``) is scheduled for when its delayed answer goes out.
    At most one charge ever exists per idempotency key (a unique constraint).
    """
    if card.behaviour == cards.PROCESSING_ERROR:
        raise ProcessingError("The processor could not process the charge. Nothing was charged.")
    now = timezone.now()
    if card.behaviour in cards.DECLINES:
        status, decline_code, failure_message = Charge.Status.DECLINED, card.behaviour, cards.DECLINES[card.behaviour]
    elif capture:
        status, decline_code, failure_message = Charge.Status.CAPTURED, None, None
    else:
        status, decline_code, failure_message = Charge.Status.AUTHORIZED, None, None
    # Within the caller's transaction (idempotency.execute's) without a savepoint of its own: nothing in this block
    # raises an error that is stored as the answer, so any error here rolls back that whole transaction.
    with transaction.atomic(savepoint=False):
        charge = _charge_insert(
            reference=reference,
            amount=amount,
            currency=currency,
            status=status,
            amount_captured=amount if status == Charge.Status.CAPTURED else 0,
            decline_code=decline_code,
            failure_message=failure_message,
            idempotency_key=idempotency_key,
            token=token,
            source_type=Charge.SourceType.CARD,
            card_brand=card.brand,
            card_last4=card.last4,
            card_exp_month=card.exp_month,
            card_exp_year=card.exp_year,
            behaviour=card.behaviour,
            captured_at=now if status == Charge.Status.CAPTURED else None,
        )
        if card.behaviour == cards.TIMEOUT:
            event_type = "charge.succeeded" if capture else "charge.authorized"
            action_schedule(
                action="emit_event",
                params={"event_type": event_type, "charge_id": charge.id},
                run_at=now + timedelta(seconds=timeout_delay_seconds),
            )
        if status == Charge.Status.CAPTURED:
            _charge_captured(charge=charge, now=now)
    return charge


def charge_capture(*, charge_id: str, amount: int | None) -> Charge:
    """Capture an authorised charge, all of it or ``amount`` (the rest of the authorisation is released).

    A single conditional UPDATE moves it, so two concurrent captures cannot both succeed. The capture's
    settlement line (and, for ``create_dispute``, the dispute to come) are written in the same transaction.
    """
    now = timezone.now()
    with transaction.atomic():
        candidates = Charge.objects.filter(pk=charge_id, status=Charge.Status.AUTHORIZED)
        if amount is not None:
            candidates = candidates.filter(amount__gte=amount)
        captured = candidates.update(
            status=Charge.Status.CAPTURED,
            amount_captured=F("amount") if amount is None else amount,
            captured_at=now,
        )
        charge = charge_get(charge_id=charge_id)
        if not captured:
            if charge.status != Charge.Status.AUTHORIZED:
                raise InvalidRequest(
                    f"This charge is {charge.status}; only an authorized charge can be captured.",
                    code="charge_unexpected_state",
                )
            raise InvalidRequest(
                f"Cannot capture {amount}: only {charge.amount} is authorized.", code="amount_too_large", param="amount"
            )
        _charge_captured(charge=charge, now=now)
    return charge


def _charge_captured(*, charge: Charge, now: datetime) -> None:
    """What a capture sets in motion, in its transaction: its settlement line, and a ``create_dispute`` card's
    dispute ``dispute_delay_seconds`` later."""
    config = sandbox_config()
    settlement_record(
        line_type=SettlementLine.Type.CHARGE,
        processor_id=charge.id,
        reference=charge.reference,
        currency=charge.currency,
        amount=charge.amount_captured,
        fee=charge_fee(charge.amount_captured, bps=config.fee_bps, fixed=config.fee_fixed),
        at=now,
    )
    if charge.behaviour == cards.CREATE_DISPUTE:
        action_schedule(
            action="dispute_open",
            params={"charge_id": charge.id},
            run_at=now + timedelta(seconds=faults_current().dispute_delay_seconds),
        )


def charge_void(*, charge_id: str) -> Charge:
    """Release an authorised charge without capturing it, or cancel a wallet charge that still awaits the
    customer's approval (a single conditional UPDATE: an approval racing it finds it voided, or vice versa)."""
    with transaction.atomic():
        voided = Charge.objects.filter(
            pk=charge_id, status__in=(Charge.Status.AUTHORIZED, Charge.Status.REQUIRES_ACTION)
        ).update(status=Charge.Status.VOIDED, voided_at=timezone.now())
        charge = charge_get(charge_id=charge_id)
        if not voided:
            raise InvalidRequest(
                f"This charge is {charge.status}; only an authorized charge, or a wallet charge awaiting approval, "
                "can be voided.",
                code="charge_unexpected_state",
            )
    return charge


# --- Bank transfers ------------------------------------------------------------


def bank_charge_create(
    *, amount: int, currency: str, bank_account: BankAccount, reference: str | None, idempotency_key: str
) -> Charge:
    """Debit a bank account, as its behaviour says, and return the recorded charge.

    Guarantees: no money moves now. The charge is ``pending`` and, in the same
    transaction, its settlement is scheduled ``bank_settlement_seconds`` later
    (``bank_settle``); an account whose bank refuses at once (R03) is recorded
    as a ``failed`` charge with its ``return_code`` and nothing is scheduled.
    At most one charge per idempotency key.
    """
    now = timezone.now()
    return_code = banks.RETURN_CODES[banks.FAIL_R03] if bank_account.behaviour == banks.FAIL_R03 else None
    with transaction.atomic():
        charge = _charge_insert(
            reference=reference,
            amount=amount,
            currency=currency,
            status=Charge.Status.FAILED if return_code else Charge.Status.PENDING,
            amount_captured=0,
            decline_code=banks.DECLINE_CODES.get(return_code),
            failure_message=banks.RETURN_MESSAGES.get(return_code),
            return_code=return_code,
            idempotency_key=idempotency_key,
            token=bank_account.id,
            source_type=Charge.SourceType.BANK_ACCOUNT,
            bank_account=bank_account,
            behaviour=bank_account.behaviour,
        )
        if charge.status == Charge.Status.PENDING:
            action_schedule(
                action="bank_settle",
                params={"charge_id": charge.id},
                run_at=now + timedelta(seconds=faults_current().bank_settlement_seconds),
            )
    return charge


def bank_charge_settle(*, charge_id: str) -> Charge | None:
    """A pending bank transfer settles: ``captured`` in full, its ``charge`` settlement line, ``charge.succeeded``;
    for a ``return_r01`` account its return is scheduled ``bank_return_seconds`` later. None when it was no longer
    pending."""
    now = timezone.now()
    with transaction.atomic():
        settled = Charge.objects.filter(
            pk=charge_id, status=Charge.Status.PENDING, source_type=Charge.SourceType.BANK_ACCOUNT
        ).update(status=Charge.Status.CAPTURED, amount_captured=F("amount"), captured_at=now)
        if not settled:
            return None
        charge = charge_get(charge_id=charge_id)
        _charge_captured(charge=charge, now=now)
        event_emit(event_type="charge.succeeded", charge=charge)
        if charge.behaviour == banks.RETURN_R01:
            action_schedule(
                action="bank_return",
                params={"charge_id": charge.id},
                run_at=now + timedelta(seconds=faults_current().bank_return_seconds),
            )
    return charge


def bank_charge_return(*, charge_id: str) -> Charge | None:
    """The customer's bank sends a settled transfer back: ``returned`` with its ``return_code``, a ``return``
    settlement line of −``amount_captured`` (refunds made meanwhile stay made), ``charge.returned``. None when it
    was not captured any more."""
    now = timezone.now()
    charge = charge_get(charge_id=charge_id)
    return_code = banks.RETURN_CODES[charge.behaviour]
    with transaction.atomic():
        returned = Charge.objects.filter(
            pk=charge_id, status=Charge.Status.CAPTURED, source_type=Charge.SourceType.BANK_ACCOUNT
        ).update(
            status=Charge.Status.RETURNED,
            return_code=return_code,
            failure_message=banks.RETURN_MESSAGES[return_code],
            returned_at=now,
        )
        if not returned:
            return None
        charge = charge_get(charge_id=charge_id)
        settlement_record(
            line_type=SettlementLine.Type.RETURN,
            processor_id=charge.id,
            reference=charge.reference,
            currency=charge.currency,
            amount=-charge.amount_captured,
            fee=0,
            at=now,
        )
        event_emit(event_type="charge.returned", charge=charge)
    return charge


# --- Wallets -------------------------------------------------------------------


def wallet_charge_create(
    *,
    amount: int,
    currency: str,
    wallet_source: str,
    capture: bool,
    reference: str | None,
    idempotency_key: str,
    public_base_url: str,
    expiry_seconds: float,
) -> Charge:
    """Ask the customer to approve a payment in their wallet, and return the recorded charge.

    Guarantees: no money moves now. The charge is ``requires_action`` with its
    ``next_action_url`` (the approval page under ``public_base_url``) and a
    secret token for the page's form; in the same transaction its expiry is
    scheduled ``expiry_seconds`` later (``wallet_expire``). ``capture`` is kept
    for the approval. At most one charge per idempotency key.
    """
    now = timezone.now()
    charge_id = new_charge_id()
    with transaction.atomic():
        charge = _charge_insert(
            id=charge_id,
            reference=reference,
            amount=amount,
            currency=currency,
            status=Charge.Status.REQUIRES_ACTION,
            amount_captured=0,
            idempotency_key=idempotency_key,
            token=wallet_source,
            source_type=Charge.SourceType.WALLET,
            behaviour=wallets.WALLET_BEHAVIOUR,
            next_action_url=wallets.approval_url(public_base_url, charge_id),
            action_token=wallets.new_action_token(),
            capture_on_approval=capture,
            expires_at=now + timedelta(seconds=expiry_seconds),
        )
        action_schedule(action="wallet_expire", params={"charge_id": charge.id}, run_at=charge.expires_at)
    return charge


def wallet_charge_decide(*, charge_id: str, approve: bool) -> tuple[Charge, bool]:
    """The customer approves or declines a wallet charge; returns the charge and whether this call changed it.

    Approved: ``captured`` (with its settlement line and ``charge.succeeded``) or, when it was created with
    ``capture: false``, ``authorized`` (``charge.authorized``). Declined: ``declined`` with ``customer_declined``
    (``charge.declined``). Only a charge still awaiting approval before its expiry moves (a conditional UPDATE):
    deciding twice, after a void or after the expiry changes nothing; one found past its expiry expires now.
    """
    now = timezone.now()
    charge = charge_get(charge_id=charge_id)
    if charge.source_type != Charge.SourceType.WALLET:
        raise ResourceMissing(f"No such wallet charge: {charge_id!r}.", param="id")
    if not approve:
        changes = {
            "status": Charge.Status.DECLINED,
            "decline_code": wallets.CUSTOMER_DECLINED,
            "failure_message": wallets.CUSTOMER_DECLINED_MESSAGE,
        }
        event_type = "charge.declined"
    elif charge.capture_on_approval:
        changes = {"status": Charge.Status.CAPTURED, "amount_captured": F("amount"), "captured_at": now}
        event_type = "charge.succeeded"
    else:
        changes = {"status": Charge.Status.AUTHORIZED}
        event_type = "charge.authorized"
    with transaction.atomic():
        decided = Charge.objects.filter(pk=charge_id, status=Charge.Status.REQUIRES_ACTION, expires_at__gt=now).update(
            **changes, decided_at=now
        )
        if not decided:
            return wallet_charge_expire(charge_id=charge_id) or charge_get(charge_id=charge_id), False
        charge = charge_get(charge_id=charge_id)
        if charge.status == Charge.Status.CAPTURED:
            _charge_captured(charge=charge, now=now)
        event_emit(event_type=event_type, charge=charge)
    return charge, True


def wallet_charge_expire(*, charge_id: str) -> Charge | None:
    """A wallet charge still awaiting approval at its ``expires_at`` is ``expired``, with ``charge.expired``.
    None when it had been decided or voided, or is not due yet."""
    now = timezone.now()
    with transaction.atomic():
        expired = Charge.objects.filter(pk=charge_id, status=Charge.Status.REQUIRES_ACTION, expires_at__lte=now).update(
            status=Charge.Status.EXPIRED, decided_at=now
        )
        if not expired:
            return None
        charge = charge_get(charge_id=charge_id)
        event_emit(event_type="charge.expired", charge=charge)
    return charge


# --- Refunds -------------------------------------------------------------------


def refund_create(*, charge_id: str, amount: int, reference: str | None, idempotency_key: str) -> Refund:
    """Refund ``amount`` of a captured charge and return the recorded refund.

    Guarantees: the sum of a charge's pending and succeeded refunds never exceeds
    its ``amount_captured``, however many refunds race: one conditional UPDATE
    reserves the amount on the charge (``amount_refunded``), and the refund row
    is written in the same short transaction. A disputed charge cannot be
    refunded. With ``refund_delay_seconds`` the refund is ``pending`` and
    settles later (``refund_settle``); otherwise it is ``succeeded`` at once, or
    ``failed`` for a ``refund_failure`` card, which releases its amount. A
    succeeded refund writes its settlement line. At most one refund per key.
    """
    now = timezone.now()
    delay_seconds = faults_current().refund_delay_seconds
    with transaction.atomic():
        reserved = Charge.objects.filter(
            pk=charge_id,
            status=Charge.Status.CAPTURED,
            disputed=False,
            amount_captured__gte=F("amount_refunded") + amount,
        ).update(amount_refunded=F("amount_refunded") + amount)
        charge = charge_get(charge_id=charge_id)
        if not reserved:
            if charge.status != Charge.Status.CAPTURED:
                raise InvalidRequest(
                    f"This charge is {charge.status}; only a captured charge can be refunded.",
                    code="charge_unexpected_state",
                )
            if charge.disputed:
                raise InvalidRequest("This charge is disputed; it cannot be refunded.", code="charge_disputed")
            raise InvalidRequest(
                f"Cannot refund {amount}: only {charge.amount_captured - charge.amount_refunded} of this charge's "
                f"{charge.amount_captured} remains refundable.",
                code="amount_too_large",
                param="amount",
            )
        fails = charge.behaviour == cards.REFUND_FAILURE
        if delay_seconds > 0:
            status, failure_reason = Refund.Status.PENDING, None
        elif fails:
            status, failure_reason = Refund.Status.FAILED, cards.REFUND_FAILURE_REASON
        else:
            status, failure_reason = Refund.Status.SUCCEEDED, None
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    charge=charge,
                    reference=reference,
                    amount=amount,
                    currency=charge.currency,
                    status=status,
                    failure_reason=failure_reason,
                    idempotency_key=idempotency_key,
                    settled_at=None if status == Refund.Status.PENDING else now,
                )
        except IntegrityError as error:
            # As for charges: only reachable when a claim that looked abandoned was taken over.
            raise IdempotencyKeyInUse("A refund for this idempotency key is being created.") from error
        if status == Refund.Status.PENDING:
            action_schedule(
                action="refund_settle", params={"refund_id": refund.id}, run_at=now + timedelta(seconds=delay_seconds)
            )
        else:
            _refund_settled(refund=refund, now=now)
    return refund


def refund_settle(*, refund_id: str) -> Refund | None:
    """Settle a pending refund: ``succeeded``, or ``failed`` for a ``refund_failure`` card (its amount released),
    with its ``refund.succeeded``/``refund.failed`` webhook. None when it was no longer pending."""
    now = timezone.now()
    with transaction.atomic():
        refund = refund_get(refund_id=refund_id)
        fails = refund.charge.behaviour == cards.REFUND_FAILURE
        moved = Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING).update(
            status=Refund.Status.FAILED if fails else Refund.Status.SUCCEEDED,
            failure_reason=cards.REFUND_FAILURE_REASON if fails else None,
            settled_at=now,
        )
        if not moved:
            return None
        refund.refresh_from_db()
        _refund_settled(refund=refund, now=now)
        event_emit_object(
            event_type="refund.failed" if fails else "refund.succeeded", data=refund_json(refund), now=now
        )
    return refund


def _refund_settled(*, refund: Refund, now: datetime) -> None:
    """A refund's final outcome, in its transaction: a failure gives its reserved amount back to the charge,
    a success appears in the settlement report."""
    if refund.status == Refund.Status.FAILED:
        Charge.objects.filter(pk=refund.charge_id).update(amount_refunded=F("amount_refunded") - refund.amount)
    elif refund.status == Refund.Status.SUCCEEDED:
        settlement_record(
            line_type=SettlementLine.Type.REFUND,
            processor_id=refund.id,
            reference=refund.reference,
            currency=refund.currency,
            amount=-refund.amount,
            fee=0,
            at=now,
        )


# --- Disputes ------------------------------------------------------------------

DISPUTE_REASONS = (
    "fraudulent",
    "product_not_received",
    "duplicate",
    "general",
    "product_unacceptable",
    "subscription_canceled",
    "credit_not_processed",
    "unrecognized",
)
EVIDENCE_FIELDS = ("customer_communication", "shipping_documentation", "refund_policy", "uncategorized_text")
# Evidence containing this text wins the dispute; any other evidence loses it.
WINNING_EVIDENCE = "winning_evidence"


def dispute_open(
    *, charge_id: str, reason: str, amount: int | None = None, evidence_due_in_seconds: float | None = None
) -> Dispute:
    """Open a dispute on a captured charge and return it.

    Guarantees: at most one dispute per charge (a unique constraint); the
    disputed amount is at most what is left after refunds (all of it by
    default). In one transaction: the dispute (``needs_response``), the charge
    marked disputed, the ``dispute`` settlement line (the amount and the dispute
    fee leave), the ``dispute.created`` webhook, and its expiry (``lost`` if no
    evidence comes by ``evidence_due_by``).
    """
    now = timezone.now()
    config = sandbox_config()
    due_in = config.dispute_evidence_seconds if evidence_due_in_seconds is None else evidence_due_in_seconds
    with transaction.atomic():
        # The row lock (a no-op under SQLite, whose IMMEDIATE transactions already serialise writers)
        # keeps a concurrent refund from changing amount_refunded between the read and the dispute.
        charge = Charge.objects.select_for_update().filter(pk=charge_id).first()
        if charge is None:
            raise ResourceMissing(f"No such charge: {charge_id!r}.", param="charge")
        if charge.status != Charge.Status.CAPTURED:
            raise InvalidRequest(
                f"This charge is {charge.status}; only a captured charge can be disputed.",
                code="charge_unexpected_state",
            )
        if Dispute.objects.filter(charge=charge).exists():
            raise InvalidRequest("This charge has already been disputed.", code="charge_already_disputed")
        disputable = charge.amount_captured - charge.amount_refunded
        if disputable <= 0:
            raise InvalidRequest("This charge has been refunded in full.", code="charge_unexpected_state")
        if amount is not None and amount > disputable:
            raise InvalidRequest(
                f"Cannot dispute {amount}: only {disputable} of this charge was not refunded.",
                code="amount_too_large",
                param="amount",
            )
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    charge=charge,
                    reference=charge.reference,
                    amount=disputable if amount is None else amount,
                    currency=charge.currency,
                    reason=reason,
                    status=Dispute.Status.NEEDS_RESPONSE,
                    evidence={},
                    evidence_due_by=now + timedelta(seconds=due_in),
                )
        except IntegrityError as error:
            raise InvalidRequest("This charge has already been disputed.", code="charge_already_disputed") from error
        Charge.objects.filter(pk=charge.pk).update(disputed=True)
        settlement_record(
            line_type=SettlementLine.Type.DISPUTE,
            processor_id=dispute.id,
            reference=charge.reference,
            currency=dispute.currency,
            amount=-dispute.amount,
            fee=config.dispute_fee,
            at=now,
        )
        event_emit_object(event_type="dispute.created", data=dispute_json(dispute), now=now)
        action_schedule(action="dispute_expire", params={"dispute_id": dispute.id}, run_at=dispute.evidence_due_by)
    return dispute


def dispute_submit_evidence(*, dispute_id: str, evidence: dict[str, str]) -> Dispute:
    """Answer a ``needs_response`` dispute before its ``evidence_due_by``: it moves to ``under_review`` with the
    evidence, ``dispute.updated`` is sent, and the decision is scheduled ``dispute_decision_seconds`` later."""
    now = timezone.now()
    with transaction.atomic():
        moved = Dispute.objects.filter(
            pk=dispute_id, status=Dispute.Status.NEEDS_RESPONSE, evidence_due_by__gt=now
        ).update(status=Dispute.Status.UNDER_REVIEW, evidence=evidence, evidence_submitted_at=now)
        dispute = dispute_get(dispute_id=dispute_id)
        if not moved:
            if dispute.status == Dispute.Status.NEEDS_RESPONSE:
                raise InvalidRequest(
                    f"The evidence was due by {dispute.evidence_due_by.isoformat()}.", code="dispute_unexpected_state"
                )
            raise InvalidRequest(
                f"This dispute is {dispute.status}; evidence can only be submitted while it needs a response.",
                code="dispute_unexpected_state",
            )
        event_emit_object(event_type="dispute.updated", data=dispute_json(dispute), now=now)
        action_schedule(
            action="dispute_decide",
            params={"dispute_id": dispute.id},
            run_at=now + timedelta(seconds=faults_current().dispute_decision_seconds),
        )
    return dispute


def dispute_accept(*, dispute_id: str) -> Dispute:
    """Concede a ``needs_response`` dispute: ``lost`` at once, with ``dispute.closed``."""
    with transaction.atomic():
        dispute = _dispute_close(dispute_id=dispute_id, from_status=Dispute.Status.NEEDS_RESPONSE, won=False)
        if dispute is None:
            dispute = dispute_get(dispute_id=dispute_id)
            raise InvalidRequest(
                f"This dispute is {dispute.status}; only a dispute that needs a response can be accepted.",
                code="dispute_unexpected_state",
            )
    return dispute


def dispute_decide(*, dispute_id: str) -> Dispute | None:
    """The card network's decision on a dispute under review: ``won`` when any evidence text contains
    WINNING_EVIDENCE, else ``lost``. None when it was not under review."""
    dispute = dispute_get(dispute_id=dispute_id)
    won = any(WINNING_EVIDENCE in str(text) for text in (dispute.evidence or {}).values())
    return _dispute_close(dispute_id=dispute_id, from_status=Dispute.Status.UNDER_REVIEW, won=won)


def dispute_expire(*, dispute_id: str) -> Dispute | None:
    """A dispute still needing a response when its evidence is due is lost. None when it had moved on."""
    dispute = dispute_get(dispute_id=dispute_id)
    if dispute.evidence_due_by > timezone.now():
        return None
    return _dispute_close(dispute_id=dispute_id, from_status=Dispute.Status.NEEDS_RESPONSE, won=False)


def _dispute_close(*, dispute_id: str, from_status: str, won: bool) -> Dispute | None:
    """Move a dispute from ``from_status`` to won/lost (a conditional UPDATE, so it closes once) and send
    ``dispute.closed``. A won dispute gives the money back: the charge is no longer disputed and a
    ``dispute_reversal`` line settles. None when the dispute was not in ``from_status``."""
    now = timezone.now()
    with transaction.atomic():
        closed = Dispute.objects.filter(pk=dispute_id, status=from_status).update(
            status=Dispute.Status.WON if won else Dispute.Status.LOST, closed_at=now
        )
        if not closed:
            return None
        dispute = dispute_get(dispute_id=dispute_id)
        if won:
            Charge.objects.filter(pk=dispute.charge_id).update(disputed=False)
            settlement_record(
                line_type=SettlementLine.Type.DISPUTE_REVERSAL,
                processor_id=dispute.id,
                reference=dispute.reference,
                currency=dispute.currency,
                amount=dispute.amount,
                fee=0,
                at=now,
            )
        event_emit_object(event_type="dispute.closed", data=dispute_json(dispute), now=now)
    return dispute


# --- Payouts -------------------------------------------------------------------


def payout_create(
    *,
    amount: int,
    currency: str,
    destination: BankAccount,
    reference: str | None,
    description: str | None,
    idempotency_key: str,
    payout_seconds: float,
) -> Payout:
    """Send ``amount`` to the bank account ``destination`` and return the recorded payout, ``in_transit``.

    Guarantees: at most one payout per idempotency key (a unique constraint); in the same transaction its
    outcome is scheduled ``payout_seconds`` later (``payout_settle``, a ScheduledAction row, so a restart of
    the sandbox loses no due payout). No money has moved yet: no settlement line until it is paid.
    """
    now = timezone.now()
    with transaction.atomic():
        try:
            payout = Payout.objects.create(
                reference=reference,
                description=description,
                amount=amount,
                currency=currency,
                destination=destination,
                status=Payout.Status.IN_TRANSIT,
                idempotency_key=idempotency_key,
                arrival_at=now + timedelta(seconds=payout_seconds),
            )
        except IntegrityError as error:
            # As for charges: only reachable when a claim that looked abandoned was taken over. No savepoint: the
            # IdempotencyKeyInUse is never stored, so it rolls back the caller's whole transaction.
            raise IdempotencyKeyInUse("A payout for this idempotency key is being created.") from error
        action_schedule(action="payout_settle", params={"payout_id": payout.id}, run_at=payout.arrival_at)
    return payout


def payout_settle(*, payout_id: str) -> Payout | None:
    """An in-transit payout arrives: ``paid``, with its ``payout`` settlement line (−amount, no fee) and
    ``payout.paid``; or, to an account whose number ends in PAYOUT_FAILURE_LAST4, ``failed`` with
    ``account_closed`` and ``payout.failed`` (no money moved: no line). None when it was no longer in transit."""
    now = timezone.now()
    with transaction.atomic():
        payout = payout_get(payout_id=payout_id)
        fails = payout.destination.last4 == banks.PAYOUT_FAILURE_LAST4
        failure_code = banks.PAYOUT_ACCOUNT_CLOSED if fails else None
        moved = Payout.objects.filter(pk=payout_id, status=Payout.Status.IN_TRANSIT).update(
            status=Payout.Status.FAILED if fails else Payout.Status.PAID,
            failure_code=failure_code,
            failure_message=banks.PAYOUT_FAILURE_MESSAGES.get(failure_code),
            settled_at=now,
        )
        if not moved:
            return None
        payout.refresh_from_db()
        if not fails:
            settlement_record(
                line_type=SettlementLine.Type.PAYOUT,
                processor_id=payout.id,
                # Reconciliation needs a reference on every line: a payout made without one carries its own id.
                reference=payout.reference or payout.id,
                currency=payout.currency,
                amount=-payout.amount,
                fee=0,
                at=now,
            )
        event_emit_object(event_type="payout.failed" if fails else "payout.paid", data=payout_json(payout), now=now)
    return payout


# --- Settlement ----------------------------------------------------------------


def settlement_record(
    *,
    line_type: str,
    processor_id: str,
    reference: str | None,
    currency: str,
    amount: int,
    fee: int,
    at: datetime,
    injected: bool = False,
    day: date | None = None,
) -> SettlementLine:
    """Write one line of the settlement report of ``at``'s UTC day (or ``day``). Use it inside the transaction of
    the change it settles; each real fact settles once (a partial unique constraint), injected lines are free."""
    return rows.insert(
        SettlementLine(
            settlement_date=day or at.astimezone(UTC).date(),
            type=line_type,
            processor_id=processor_id,
            reference=reference or "",
            currency=currency,
            amount=amount,
            fee=fee,
            injected=injected,
            occurred_at=at,
        )
    )


def settlement_line_inject(
    *, day: date, line_type: str, processor_id: str, reference: str, currency: str, amount: int, fee: int
) -> SettlementLine:
    """Add an arbitrary line to ``day``'s report, for tests that need the report to differ from the truth."""
    with transaction.atomic():
        return settlement_record(
            line_type=line_type,
            processor_id=processor_id,
            reference=reference,
            currency=currency,
            amount=amount,
            fee=fee,
            at=timezone.now(),
            injected=True,
            day=day,
        )


# --- Idempotency keys ----------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """The right to execute a request under an idempotency key."""

    pk: int
    lock_id: str


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: str


def idempotency_key_claim(*, scope: str, key: str, fingerprint: str) -> Claim | StoredAnswer:
    """Claim ``key`` for this request, or say what the earlier request with that key answered.

    The INSERT commits on its own first: the unique constraint decides who
    executes, never a check in Python. Raises IdempotencyKeyReused when the key
    came with another request, IdempotencyKeyInUse while the first one executes.
    Call it outside any transaction.
    """
    for _ in range(3):
        lock_id = secrets.token_hex(16)
        now = timezone.now()
        try:
            # One statement in autocommit is its own transaction: no BEGIN and COMMIT around it. (SQLite takes the
            # write lock as the statement starts, so it queues on the busy timeout as a BEGIN IMMEDIATE would.)
            row = rows.insert(
                IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint, lock_id=lock_id, locked_at=now)
            )
            return Claim(row.pk, lock_id)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if row is None:
            continue  # Released meanwhile (a processing error): try to claim it again.
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This idempotency key was already used with a different request.")
        if row.response_status is None:
            if row.locked_at < now - ABANDONED_CLAIM_AFTER:
                taken = IdempotencyKey.objects.filter(
                    pk=row.pk, lock_id=row.lock_id, response_status__isnull=True
                ).update(lock_id=lock_id, locked_at=now)
                if taken:
                    return Claim(row.pk, lock_id)
            raise IdempotencyKeyInUse("A request with this idempotency key is still being processed.")
        if row.replay_after is not None and row.replay_after > now:
            raise IdempotencyKeyInUse("A request with this idempotency key is still being processed.")
        return StoredAnswer(row.response_status, row.response_body)
    raise IdempotencyKeyInUse("A request with this idempotency key is still being processed.")


_REPLAY_AFTER = IdempotencyKey._meta.get_field("replay_after")
# Every charge runs it: plain SQL, because building the ORM's UPDATE cost more than running it. Built from the
# model's own metadata, never from input; the values are parameters.
_COMPLETE_KEY_SQL = (
    f"UPDATE {IdempotencyKey._meta.db_table} SET response_status = %s, response_body = %s, replay_after = %s "  # noqa: S608
    "WHERE id = %s AND lock_id = %s"
)


def idempotency_key_complete(*, claim: Claim, status: int, body: str, replay_after: datetime | None) -> None:
    """Store the answer under the claimed key. Call it in the transaction of the work, so both commit together."""
    connection = connections[IdempotencyKey.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_KEY_SQL,
            [status, body, _REPLAY_AFTER.get_db_prep_save(replay_after, connection), claim.pk, claim.lock_id],
        )
        completed = cursor.rowcount
    if not completed:
        raise IdempotencyKeyInUse("A request with this idempotency key is still being processed.")


def idempotency_key_release(*, claim: Claim) -> None:
    """Forget the key, for answers that must leave no trace (a retry with the same key executes again)."""
    IdempotencyKey.objects.filter(pk=claim.pk, lock_id=claim.lock_id).delete()


def idempotency_keys_release_unanswered() -> int:
    """At start-up no request can be executing: free the keys of requests a previous process never answered."""
    deleted, _ = IdempotencyKey.objects.filter(response_status__isnull=True).delete()
    return deleted


def idempotency_keys_prune(*, older_than: timedelta = IDEMPOTENCY_KEY_RETENTION) -> int:
    """Forget answered keys older than ``older_than`` (kept at least 24 hours, as the platform keeps its own)."""
    deleted, _ = IdempotencyKey.objects.filter(
        response_status__isnull=False, created__lt=timezone.now() - older_than
    ).delete()
    return deleted


# --- Faults --------------------------------------------------------------------


def faults_reset(*, config: SandboxConfig) -> FaultSettings:
    """Set the run's faults from the environment (called at start-up)."""
    faults, _ = FaultSettings.objects.update_or_create(
        pk=1,
        defaults={
            "latency_ms": config.latency_ms,
            "error_rate": config.error_rate,
            "seed": config.seed,
            "duplicate_webhooks": config.duplicate_webhooks,
            "shuffle_webhooks": config.shuffle_webhooks,
            "timeout_delay_seconds": config.timeout_delay_seconds,
            "refund_delay_seconds": config.refund_delay_seconds,
            "dispute_delay_seconds": config.dispute_delay_seconds,
            "dispute_decision_seconds": config.dispute_decision_seconds,
            "bank_settlement_seconds": config.bank_settlement_seconds,
            "bank_return_seconds": config.bank_return_seconds,
            "wallet_expiry_seconds": config.wallet_expiry_seconds,
            "fx_drift_bps": config.fx_drift_bps,
            "payout_seconds": config.payout_seconds,
            "draws": 0,
        },
    )
    return faults


FAULT_FIELDS = (
    "latency_ms",
    "error_rate",
    "seed",
    "duplicate_webhooks",
    "shuffle_webhooks",
    "timeout_delay_seconds",
    "refund_delay_seconds",
    "dispute_delay_seconds",
    "dispute_decision_seconds",
    "bank_settlement_seconds",
    "bank_return_seconds",
    "wallet_expiry_seconds",
    "fx_drift_bps",
    "payout_seconds",
)


def faults_update(**changes) -> FaultSettings:
    """Change some faults for the rest of the run. Setting ``seed`` or ``error_rate`` restarts the draw sequence."""
    unknown = set(changes) - set(FAULT_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown fault settings: {', '.join(sorted(unknown))}.", code="parameter_unknown")
    with transaction.atomic():
        faults = faults_current()
        for name, value in changes.items():
            setattr(faults, name, value)
        if "seed" in changes or "error_rate" in changes:
            faults.draws = 0
        faults.pk = 1
        faults.save()
    return faults


def fault_draw_error(*, error_rate: float) -> bool:
    """Whether this request fails, by the next draw of ``random.Random(seed)`` in request order."""
    with transaction.atomic():
        FaultSettings.objects.filter(pk=1).update(draws=F("draws") + 1)
        seed, position = FaultSettings.objects.values_list("seed", "draws").get(pk=1)
    return nth_draw(seed, position) < error_rate


# --- Delayed work and webhooks -------------------------------------------------


def action_schedule(*, action: str, params: dict, run_at: datetime) -> ScheduledAction:
    """Schedule ``action`` (a name in ACTION_HANDLERS) to run at ``run_at``. Use it inside the caller's transaction."""
    if action not in ACTION_HANDLERS:
        raise ValueError(f"unknown scheduled action {action!r}")
    return ScheduledAction.objects.create(action=action, params=params, run_at=run_at)


def action_run(*, action_id: int) -> bool:
    """Run one due action exactly once: marking it done and its effects commit together.

    Returns False when another dispatcher ran it first. A failing action is
    retried with backoff, then marked failed.
    """
    try:
        with transaction.atomic():
            if not ScheduledAction.objects.filter(pk=action_id, status=ScheduledAction.Status.PENDING).update(
                status=ScheduledAction.Status.DONE, done_at=timezone.now(), attempts=F("attempts") + 1
            ):
                return False
            action = ScheduledAction.objects.get(pk=action_id)
            ACTION_HANDLERS[action.action](**action.params)
        return True
    except Exception as error:
        logger.exception("scheduled action %s failed", action_id)
        action = ScheduledAction.objects.get(pk=action_id)
        attempts = action.attempts + 1
        ScheduledAction.objects.filter(pk=action_id, status=ScheduledAction.Status.PENDING).update(
            attempts=attempts,
            last_error=str(error)[:255],
            run_at=timezone.now() + timedelta(seconds=_backoff_seconds(attempts)),
            status=ScheduledAction.Status.FAILED if attempts >= ACTION_MAX_ATTEMPTS else ScheduledAction.Status.PENDING,
        )
        return False


_shuffle_lock = threading.Lock()
_shuffle_rng: tuple[int, random.Random] | None = None


def _shuffle_hold_seconds(seed: int) -> float:
    global _shuffle_rng
    with _shuffle_lock:
        if _shuffle_rng is None or _shuffle_rng[0] != seed:
            _shuffle_rng = (seed, random.Random(seed))
        return _shuffle_rng[1].uniform(0, SHUFFLE_WINDOW_SECONDS)


def event_emit(*, event_type: str, charge: Charge) -> WebhookEvent:
    """Queue a webhook about ``charge`` as it is now. Use it inside the transaction of the change it reports."""
    return event_emit_object(event_type=event_type, data=charge_json(charge))


def event_emit_object(*, event_type: str, data: dict, now: datetime | None = None) -> WebhookEvent:
    """Queue a webhook whose ``data.object`` is ``data`` (a charge, refund or dispute as the API shows it).
    Use it inside the transaction of the change it reports."""
    now = now or timezone.now()
    faults = faults_current()
    next_attempt_at = now
    if faults.shuffle_webhooks:
        next_attempt_at += timedelta(seconds=_shuffle_hold_seconds(faults.seed))
    event_id = new_id("evt_sbx")
    payload = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": unix(now),
        "data": {"object": data},
    }
    return WebhookEvent.objects.create(id=event_id, type=event_type, payload=payload, next_attempt_at=next_attempt_at)


def _emit_event_action(*, event_type: str, charge_id: str) -> None:
    event_emit(event_type=event_type, charge=charge_get(charge_id=charge_id))


def _dispute_open_action(*, charge_id: str) -> None:
    """A create_dispute card's dispute. Nothing to do if the charge was disputed meanwhile or refunded in full."""
    try:
        dispute_open(charge_id=charge_id, reason="fraudulent")
    except InvalidRequest as refused:
        logger.info("no dispute opened on %s: %s", charge_id, refused.message)


def _refund_settle_action(*, refund_id: str) -> None:
    refund_settle(refund_id=refund_id)


def _dispute_decide_action(*, dispute_id: str) -> None:
    dispute_decide(dispute_id=dispute_id)


def _dispute_expire_action(*, dispute_id: str) -> None:
    dispute_expire(dispute_id=dispute_id)


def _bank_settle_action(*, charge_id: str) -> None:
    bank_charge_settle(charge_id=charge_id)


def _bank_return_action(*, charge_id: str) -> None:
    bank_charge_return(charge_id=charge_id)


def _wallet_expire_action(*, charge_id: str) -> None:
    wallet_charge_expire(charge_id=charge_id)


def _payout_settle_action(*, payout_id: str) -> None:
    payout_settle(payout_id=payout_id)


# The delayed work the dispatcher knows how to run, by the name stored in ScheduledAction.action.
ACTION_HANDLERS = {
    "emit_event": _emit_event_action,
    "dispute_open": _dispute_open_action,
    "refund_settle": _refund_settle_action,
    "dispute_decide": _dispute_decide_action,
    "dispute_expire": _dispute_expire_action,
    "bank_settle": _bank_settle_action,
    "bank_return": _bank_return_action,
    "wallet_expire": _wallet_expire_action,
    "payout_settle": _payout_settle_action,
}


@dataclass(frozen=True)
class WebhookClaim:
    event: WebhookEvent
    lease_until: datetime


def webhook_claim(*, event_id: str, due_at: datetime) -> WebhookClaim | None:
    """Take the right to send a due event, or None when another dispatcher took it first.

    The claim is a conditional UPDATE of ``next_attempt_at`` to a lease: a
    dispatcher that dies while sending leaves the event due again when it expires.
    """
    lease_until = timezone.now() + WEBHOOK_CLAIM_LEASE
    claimed = WebhookEvent.objects.filter(
        pk=event_id, status=WebhookEvent.Status.PENDING, next_attempt_at=due_at
    ).update(next_attempt_at=lease_until)
    return WebhookClaim(WebhookEvent.objects.get(pk=event_id), lease_until) if claimed else None


def webhook_record_attempt(*, claim: WebhookClaim, status_code: int | None, error: str, delivered: bool) -> None:
    """Record one delivery attempt; a failure is retried after 1 s, 2 s, 4 s… (at most 60 s), 20 attempts in all.

    If the event was queued again while it was being sent (a resend), only the
    delivery is counted: the new request to send it stands.
    """
    now = timezone.now()
    event_id = claim.event.pk
    held = WebhookEvent.objects.filter(
        pk=event_id, status=WebhookEvent.Status.PENDING, next_attempt_at=claim.lease_until
    )
    with transaction.atomic():
        if delivered:
            WebhookEvent.objects.filter(pk=event_id).update(
                deliveries=F("deliveries") + 1, delivered_at=now, last_status_code=status_code
            )
            held.update(status=WebhookEvent.Status.SENT, attempts=F("attempts") + 1, last_error="")
            return
        attempts = claim.event.attempts + 1
        held.update(
            status=WebhookEvent.Status.FAILED if attempts >= WEBHOOK_MAX_ATTEMPTS else WebhookEvent.Status.PENDING,
            attempts=attempts,
            last_status_code=status_code,
            last_error=error[:255],
            next_attempt_at=now + timedelta(seconds=_backoff_seconds(attempts)),
        )


def webhook_resend(*, event_id: str) -> WebhookEvent:
    """Queue an event for delivery again now (same id, same payload), whatever became of it before."""
    event_get(event_id=event_id)
    WebhookEvent.objects.filter(pk=event_id).update(
        status=WebhookEvent.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    return event_get(event_id=event_id)


def _backoff_seconds(attempts: int) -> int:
    return min(2 ** (attempts - 1), WEBHOOK_MAX_BACKOFF_SECONDS)
