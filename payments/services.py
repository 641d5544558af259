"""Every write to a payment. Each service owns its transactions.

The rule that keeps customers from being charged twice (design.md): no database
transaction or row lock is ever held while the processor is called. Confirmation
is three steps:

1. record the intent (``requires_confirmation`` → ``processing``) and commit;
2. call the processor with an idempotency key derived from the payment id, holding
   nothing;
3. record the outcome in a new transaction, only if the payment is still waiting
   for it.

A crash between any two steps leaves a ``processing`` payment. ``payment_resolve``
settles it by asking the processor for the outcome of that same key, and re-sends
the request with the same key when the processor never received it: the
processor answers a repeated key with its first answer, so nothing is charged twice.

Every transition is recorded in ``PaymentTransition`` and posted to the ledger in
the transaction that makes it.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.db import writes_together
from core.errors import InvalidRequestError
from gateways.base import (
    CardDeclined,
    Charge,
    ChargeStatus,
    ProcessorNotReached,
    ProcessorRequestRejected,
    ProcessorUnavailable,
)
from gateways.registry import processor_outside_transaction
from ledger import posting_rules
from merchants.models import Merchant
from payments.errors import (
    PaymentNotFound,
    PaymentOperationInProgress,
    PaymentUnexpectedState,
    ProcessorUnavailableError,
)
from payments.fx_services import fx_lock_conversion, fx_require_rate, payment_fx
from payments.locks import payment_lock
from payments.methods import ResolvedPaymentMethod
from payments.models import CaptureMethod, Payment, PaymentStatus
from payments.routing import payment_fail_over
from payments.transitions import PAST_TENSE, PAYMENTS, Change, transition

logger = logging.getLogger(__name__)

S = PaymentStatus


# --- Keys we send to the processor: derived from our own row ids, never random. ---


def authorization_key(payment: Payment) -> str:
    # Distinct per processor once a payment failed over: the fallback never sees the first processor's key.
    if payment.failed_over_from:
        return f"{payment.id}:authorize@{payment.processor}"
    return f"{payment.id}:authorize"


def capture_key(payment: Payment, claim: str) -> str:
    # The claim is part of the key: a retry of the same request re-sends the same capture, and a
    # different request (only ever after the processor said the first never arrived) cannot be
    # mistaken for it.
    return f"{payment.id}:capture:{claim}"


def void_key(payment: Payment) -> str:
    return f"{payment.id}:void"


# Called inside a service's transaction, with the payment it is writing, so a caller can record
# its own progress (an idempotency key's recovery point) atomically with the work.
Checkpoint = Callable[[Payment], None]


def _new_claim(actor: str) -> str:
    return f"{actor[:24]}:{uuid.uuid4().hex}"


# --- Helpers -----------------------------------------------------------------------


def _processor(name: str):
    """The adapter of processor ``name`` (a payment's ``processor``), for a call made holding no transaction."""
    return processor_outside_transaction(name)


def _transition(payment: Payment, name: str, *, actor: str, reason: str = "", **kwargs) -> None:
    """Run the FSM transition ``name`` and record it (``payments.transitions``), in the caller's transaction."""
    transition(payment, name, trail=PAYMENTS, actor=actor, reason=reason, **kwargs)


def _lock_settlement(payment: Payment) -> None:
    """At confirmation, inside its transaction: lock the settlement currency, amount and (when the payment's
    currency differs from the merchant's settlement currency and a rate is known) the exchange rate."""
    locked = fx_lock_conversion(
        amount=payment.amount, currency=payment.currency, settlement_currency=payment.merchant.settlement_currency
    )
    payment.settlement_currency = locked.settlement_currency
    payment.settlement_amount = locked.settlement_amount
    payment.fx_rate = locked.fx_rate


def _past_tense(name: str) -> str:
    return PAST_TENSE.get(name, name)


# --- Create --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedPayment:
    payment: Payment
    created: bool  # False when a re-executed request found the payment it had already made


def payment_create(
    *,
    merchant: Merchant,
    amount: int,
    currency: str,
    payment_method: ResolvedPaymentMethod,
    capture_method: str = CaptureMethod.AUTOMATIC,
    description: str | None = None,
    metadata: dict | None = None,
    customer_email: str | None = None,
    customer_name: str | None = None,
    idempotency_key: str | None = None,
    confirm: bool = False,
    actor: str = "api",
    checkpoint: Checkpoint | None = None,
) -> CreatedPayment:
    """Create a payment in ``requires_confirmation``. Moves no money.

    With ``confirm``, the payment is also confirmed in the same transaction (it is
    created ``processing``: the intent to charge is recorded, step 1 of a
    confirmation); the caller then runs ``payment_confirm_execute``.

    ``payment_method`` is what the method's ``resolve`` (``payments.methods``) got from the
    processor, before this call: its token, the method's own columns and its route (the processor that
    tokenised it, chosen by ``payments.routing``, and its fallback), recorded on the payment: every later call
    about the payment goes to that processor.

    With ``idempotency_key``, at most one payment is ever created per (merchant, key):
    a unique constraint refuses the second, and the first is returned instead (``created``
    False). ``checkpoint`` runs inside the creating transaction.
    """
    # Refused before anything is written: a payment in a currency that cannot be converted into the
    # merchant's settlement currency (no exchange rate) is 400 currency_conversion_unavailable.
    fx_require_rate(currency=currency, settlement_currency=merchant.settlement_currency)
    route = payment_method.route
    payment = Payment(
        processor=route.processor,
        fallback_processor=route.fallback,
        failed_over_from=route.failed_over_from,
        merchant=merchant,
        amount=amount,
        currency=currency,
        capture_method=capture_method,
        payment_method_type=payment_method.type,
        card_token=payment_method.token,
        **payment_method.columns,
        description=description,
        metadata=metadata or {},
        customer_email=customer_email,
        customer_name=customer_name,
        creation_idempotency_key=idempotency_key,
    )
    if confirm:
        payment.processor_attempts = 1
        _lock_settlement(payment)
    try:
        # One statement on PostgreSQL: the row (as the transitions leave it), its history, the event and the
        # checkpoint's record go together; the unique (merchant, creation_idempotency_key) refuses a second.
        with transaction.atomic(), writes_together():
            PAYMENTS.append_history(
                Change(
                    payment,
                    "create",
                    "",
                    actor,
                    f"{route.failed_over_from} not reached: routed to {route.processor}"
                    if route.failed_over_from
                    else "",
                )
            )
            if confirm:
                # Inserted already confirmed: the transition runs on the new row before its INSERT.
                _transition(payment, "confirm", actor=actor, now=timezone.now())
            else:
                payment.save_changes()
            if checkpoint is not None:
                checkpoint(payment)
    except IntegrityError:
        existing = Payment.objects.filter(merchant=merchant, creation_idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return CreatedPayment(payment=existing, created=False)
    return CreatedPayment(payment=payment, created=True)


# The fields of a payment that describe it rather than move money: changed at any status, never by a transition.
DETAIL_FIELDS = ("description", "metadata", "customer_email", "customer_name")


def payment_update_details(*, merchant: Merchant, payment_id: str, changes: dict, actor: str) -> Payment:
    """Change what describes the merchant's payment (``DETAIL_FIELDS``, validated by the caller), in any status.

    Moves no money and emits no event; the change is audited with the values before and after. Under the
    payment's row lock, so it never overwrites a concurrent transition's columns. Another merchant's payment is
    answered as missing (``PaymentNotFound``); an unknown field is a programming error (``ValueError``).
    """
    unknown = set(changes) - set(DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"Not a payment detail: {sorted(unknown)}")
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if payment.merchant_id != merchant.pk:
            raise PaymentNotFound(f"No such payment: '{payment_id}'.", param="id")
        changed = {name: value for name, value in changes.items() if getattr(payment, name) != value}
        if changed:
            before = {name: getattr(payment, name) for name in changed}
            for name, value in changed.items():
                setattr(payment, name, value)
            payment.save_changes()
            audit_record(actor=actor, action="payment.update", obj=payment, before=before, after=changed)
    return payment


# --- Confirm, and recording what the processor says ----------------------------------


@dataclass(frozen=True)
class AuthorizationOutcome:
    """What one authorisation call told us. Exactly one of the fields is set, or none when unknown."""

    charge: Charge | None = None
    declined: CardDeclined | None = None
    rejected: ProcessorRequestRejected | None = None

    @property
    def known(self) -> bool:
        return any((self.charge, self.declined, self.rejected))


@dataclass(frozen=True)
class NotProcessed:
    """Proof that the processor did not process an authorisation: it was never received, or refused as
    something this processor does not take (``retry_elsewhere``)."""

    why: str


def _send_authorization(payment: Payment) -> AuthorizationOutcome:
    """Step 2: call the payment's processor. No transaction may be open here.

    When that processor provably did not process it (``NotProcessed``) and the payment may fail over
    (``payments.routing.payment_fail_over``), the payment moves to its fallback in a committed transaction and
    the authorisation is sent there, with that processor's own key. Otherwise the outcome stands: a timeout or
    an unknown answer never moves a payment."""
    outcome, not_processed = _authorize_at(payment)
    if not_processed is None or not payment.fallback_processor:
        return outcome
    moved = payment_fail_over(
        payment_id=payment.id, failed_processor=payment.processor, why=not_processed.why, actor="system:failover"
    )
    if moved is None:
        return outcome
    logger.warning("authorisation of %s: %s; failed over to %s", payment.id, not_processed.why, moved.processor)
    outcome, _ = _authorize_at(moved)
    return outcome


def _authorize_at(payment: Payment) -> tuple[AuthorizationOutcome, NotProcessed | None]:
    try:
        charge = _processor(payment.processor).authorize(
            reference=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            token=payment.card_token,
            capture=payment.capture_method == CaptureMethod.AUTOMATIC,
            idempotency_key=authorization_key(payment),
        )
    except CardDeclined as declined:
        return AuthorizationOutcome(declined=declined), None
    except ProcessorRequestRejected as rejected:
        not_processed = NotProcessed(f"refused: {rejected.code}") if rejected.retry_elsewhere else None
        return AuthorizationOutcome(rejected=rejected), not_processed
    except ProcessorNotReached as error:
        logger.warning("authorisation of %s: %s not reached, left processing", payment.id, payment.processor)
        return AuthorizationOutcome(), NotProcessed(f"not reached: {error.message or error}")
    except ProcessorUnavailable:
        logger.warning("authorisation of %s: outcome unknown, left processing", payment.id)
        return AuthorizationOutcome(), None
    return AuthorizationOutcome(charge=charge), None


def _record_authorization_outcome(
    payment_id: str, outcome: AuthorizationOutcome, *, actor: str, checkpoint: Checkpoint | None = None
) -> Payment:
    """Step 3: in a new transaction, apply a known outcome to a payment still waiting for it.

    ``checkpoint`` runs in that transaction when the processor answered."""
    if outcome.charge is not None:
        return payment_apply_charge(payment_id=payment_id, charge=outcome.charge, actor=actor, checkpoint=checkpoint)
    if outcome.declined is not None:
        return payment_apply_charge(
            payment_id=payment_id, charge=outcome.declined.charge, actor=actor, checkpoint=checkpoint
        )
    if outcome.rejected is not None:
        with transaction.atomic():
            payment = payment_lock(payment_id)
            if payment.status == S.PROCESSING:
                _transition(
                    payment,
                    "mark_failed",
                    actor=actor,
                    reason=f"processor refused the request: {outcome.rejected.code}",
                    failure_code="processing_error",
                    failure_message=f"The processor refused the payment ({outcome.rejected.code}).",
                )
                posting_rules.payment_failed(payment_id=payment.id)
            if checkpoint is not None:
                checkpoint(payment)
            return payment
    return Payment.objects.get(pk=payment_id)


def payment_confirm(
    *,
    payment: Payment,
    actor: str,
    checkpoint: Checkpoint | None = None,
    answered: Checkpoint | None = None,
    intent_only: bool = False,
) -> Payment:
    """Confirm a payment: charge (or authorise, for manual capture) the card exactly once.

    Returns the payment in ``succeeded``, ``requires_capture`` or ``failed`` when the
    processor answered, or still in ``processing`` when its answer was lost (a
    timeout, a connection error, a 5xx): then ``payment_resolve`` finds it later.
    Raises PaymentUnexpectedState unless the payment is ``requires_confirmation``.
    ``checkpoint`` runs in the transaction that records the intent, ``answered`` in the
    one that records the processor's answer. With ``intent_only``, returns the payment
    ``processing`` once the intent (step 1) has committed, without calling the processor:
    an asynchronous confirmation (``payments.async_confirmation``) leaves steps 2 and 3 to a worker.
    """
    with transaction.atomic():
        locked = payment_lock(payment.pk)
        if locked.status == S.REQUIRES_CONFIRMATION:
            _lock_settlement(locked)
        locked.processor_attempts += 1
        _transition(locked, "confirm", actor=actor, now=timezone.now())
        if checkpoint is not None:
            checkpoint(locked)
    if intent_only:
        return locked
    return payment_confirm_execute(payment=locked, actor=actor, answered=answered)


def payment_confirm_execute(*, payment: Payment, actor: str, answered: Checkpoint | None = None) -> Payment:
    """Steps 2 and 3 of a confirmation whose intent is recorded: call the processor, record its answer."""
    outcome = _send_authorization(payment)
    return _record_authorization_outcome(payment.pk, outcome, actor=actor, checkpoint=answered)


def payment_confirm_resume(*, payment_id: str, actor: str) -> Payment:
    """Carry on a confirmation whose intent an earlier execution recorded (it crashed, lost its
    database connection or got no answer from the processor), without charging twice.

    A payment still ``processing`` is settled as the resolver settles it: the processor is asked
    for the outcome of the authorisation's key, which is re-sent only if the processor never
    received it. Whatever the payment's state after that is the confirmation's true outcome.
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == S.PROCESSING and not payment.processor_charge_id:
        return payment_resolve(payment_id=payment_id, actor=actor)
    return payment


def payment_outcome_known(payment: Payment) -> bool:
    """False while a confirmation's outcome is unknown: ``processing`` with no charge at the processor.

    (A bank transfer the processor accepted stays ``processing`` until it settles: that is known.)"""
    return not (payment.status == S.PROCESSING and not payment.processor_charge_id)


def payment_apply_charge(
    *, payment_id: str, charge: Charge, actor: str, checkpoint: Checkpoint | None = None
) -> Payment:
    """Bring a payment in line with what the processor says about its charge.

    Idempotent and safe in any order: an answer, a webhook, a status check and
    reconciliation may all report the same charge, and only the first to arrive
    while the payment still waits for it changes anything. The others are no-ops.
    ``checkpoint`` runs last inside the transaction, whatever it changed, so it sees the payment as the
    transaction leaves it.
    """
    with transaction.atomic():
        payment = payment_lock(payment_id)
        with writes_together():
            _apply_charge_to(payment, charge, actor=actor)
            if checkpoint is not None:
                checkpoint(payment)
        return payment


def _apply_charge_to(payment: Payment, charge: Charge, *, actor: str) -> None:
    """``payment_apply_charge``'s rules, on the payment it locked."""
    if payment.status == S.PROCESSING:
        _apply_to_processing(payment, charge, actor=actor)
    elif payment.status == S.REQUIRES_CAPTURE and payment.processor_charge_id == charge.processor_id:
        _apply_to_authorized(payment, charge, actor=actor)
    elif payment.status == S.REQUIRES_ACTION and payment.processor_charge_id == charge.processor_id:
        _apply_to_awaiting_action(payment, charge, actor=actor)
    elif (
        payment.status == S.SUCCEEDED
        and payment.processor_charge_id == charge.processor_id
        and charge.status == ChargeStatus.RETURNED
    ):
        _apply_return(payment, charge, actor=actor)


def _apply_to_processing(payment: Payment, charge: Charge, *, actor: str) -> None:
    if charge.status == ChargeStatus.PENDING:
        # A bank transfer submitted but not settled: keep waiting (the ``charge.succeeded`` webhook, or a
        # later status check, settles it). Remember the charge; the status does not move.
        if payment.processor_charge_id != charge.processor_id:
            payment.processor_charge_id = charge.processor_id
            payment.save(update_fields=["processor_charge_id", "updated"])
        return
    if charge.status in (ChargeStatus.CAPTURED, ChargeStatus.RETURNED):
        # "returned": the settlement's news was overtaken by the return's; both are applied, in order.
        # Posted before the transition is written (one transaction: the order is not seen outside it), so the
        # ledger's reads come first and every write after them goes in one statement (writes_together).
        posting_rules.payment_captured(
            payment_id=payment.id,
            merchant=payment.merchant,  # attached by payment_lock: its settlement delay costs no query
            amount_captured=charge.amount_captured,
            currency=payment.currency,
            # Captured from processing or requires_action: never authorised (that would be requires_capture).
            authorized=False,
            **payment_fx(payment),
        )
        _transition(
            payment,
            "mark_succeeded",
            actor=actor,
            processor_charge_id=charge.processor_id,
            amount_captured=charge.amount_captured,
        )
        if charge.status == ChargeStatus.RETURNED:
            _apply_return(payment, charge, actor=actor)
    elif charge.status == ChargeStatus.AUTHORIZED:
        _transition(
            payment, "mark_authorized", actor=actor, processor_charge_id=charge.processor_id, now=timezone.now()
        )
        posting_rules.payment_authorized(
            payment_id=payment.id, merchant=payment.merchant_id, amount=payment.amount, currency=payment.currency
        )
    elif charge.status == ChargeStatus.DECLINED:
        _transition(
            payment,
            "mark_failed",
            actor=actor,
            reason=f"declined: {charge.decline_code}",
            failure_code="card_declined",
            failure_message=charge.failure_message or "The card was declined.",
            decline_code=charge.decline_code,
        )
        posting_rules.payment_failed(payment_id=payment.id)
    elif charge.status == ChargeStatus.REQUIRES_ACTION:
        # A wallet: the customer approves or declines on the wallet's page; a webhook tells us which.
        _transition(
            payment,
            "mark_requires_action",
            actor=actor,
            processor_charge_id=charge.processor_id,
            next_action_url=charge.next_action_url or "",
            now=timezone.now(),
        )
    elif charge.status == ChargeStatus.FAILED:
        # A bank transfer that the customer's bank refused at once (e.g. R03, no account): nothing moved.
        _transition(
            payment,
            "mark_failed",
            actor=actor,
            reason=f"bank refused the transfer: {charge.return_code} ({charge.decline_code})",
            failure_code="card_declined",
            failure_message=charge.failure_message or "The bank refused the transfer.",
            decline_code=charge.decline_code,
        )
        posting_rules.payment_failed(payment_id=payment.id)
    else:
        logger.error(
            "payment %s: processor reports charge %s as %s while processing",
            payment.id,
            charge.processor_id,
            charge.status,
        )


def _apply_to_authorized(payment: Payment, charge: Charge, *, actor: str) -> None:
    """A capture or void whose answer we lost: the processor's record decides."""
    if charge.status == ChargeStatus.CAPTURED:
        _transition(
            payment,
            "capture",
            actor=actor,
            reason="capture confirmed by the processor",
            amount_captured=charge.amount_captured,
        )
        posting_rules.payment_captured(
            payment_id=payment.id,
            merchant=payment.merchant,  # attached by payment_lock: its settlement delay costs no query
            amount_captured=charge.amount_captured,
            currency=payment.currency,
            authorized=True,
            **payment_fx(payment),
        )
    elif charge.status == ChargeStatus.VOIDED:
        _transition(payment, "cancel", actor=actor, reason="void confirmed by the processor", reason_code=None)
        posting_rules.payment_authorization_released(payment_id=payment.id, reason="canceled")


def _apply_to_awaiting_action(payment: Payment, charge: Charge, *, actor: str) -> None:
    """A wallet charge the customer approved, declined or let expire (or that was voided)."""
    if charge.status in (ChargeStatus.CAPTURED, ChargeStatus.AUTHORIZED, ChargeStatus.DECLINED):
        _apply_to_processing(payment, charge, actor=actor)
    elif charge.status in (ChargeStatus.EXPIRED, ChargeStatus.VOIDED):
        _transition(payment, "expire", actor=actor, reason=f"wallet charge {charge.status} at the processor")
        posting_rules.payment_authorization_released(payment_id=payment.id, reason="expired")


def _apply_return(payment: Payment, charge: Charge, *, actor: str) -> None:
    """A settled bank transfer came back from the bank: undo its capture in the ledger, once.

    The payment stays ``succeeded`` (it did succeed) with ``amount_returned`` and ``return_code`` set;
    the change is recorded in the history and as a ``payment.returned`` event, in this transaction.
    """
    if payment.returned_at is not None:
        return
    payment.mark_returned(return_code=charge.return_code, now=timezone.now())
    payment.save(update_fields=["amount_returned", "return_code", "returned_at", "updated"])
    posting_rules.payment_returned(payment_id=payment.id, return_code=charge.return_code)
    PAYMENTS.record(
        Change(payment, "return", payment.status, actor, f"returned by the bank: {charge.return_code}"),
        event_type="payment.returned",
    )


# --- Resolving payments whose outcome is unknown -------------------------------------


def payment_resolve(*, payment_id: str, actor: str = "system:resolver") -> Payment:
    """Settle a ``processing`` payment by asking the processor, never by guessing.

    Looks up the authorisation by its idempotency key. Found: its outcome is applied.
    Not found: the processor never received the request, so it is sent again with the
    same key (which cannot charge twice), or, after ``PAYMENT_MAX_PROCESSOR_ATTEMPTS``
    sends that the processor never recorded, the payment fails with ``processing_error``.
    If the processor cannot be asked, nothing changes and a later run tries again.
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.PROCESSING:
        return payment
    try:
        charge = _processor(payment.processor).lookup(idempotency_key=authorization_key(payment))
    except ProcessorUnavailable:
        return payment
    if charge is not None:
        return payment_apply_charge(payment_id=payment.id, charge=charge, actor=actor)

    if payment.processor_attempts >= settings.PAYMENT_MAX_PROCESSOR_ATTEMPTS:
        with transaction.atomic():
            locked = payment_lock(payment.id)
            if locked.status == S.PROCESSING:
                _transition(
                    locked,
                    "mark_failed",
                    actor=actor,
                    reason=f"the processor has no record after {payment.processor_attempts} attempts",
                    failure_code="processing_error",
                    failure_message="The processor could not process the payment. No money was taken.",
                )
                posting_rules.payment_failed(payment_id=locked.id)
            return locked

    # Count the attempt before sending it, so a crash here still counts. The processor is part of the
    # condition: a payment that failed over meanwhile is never sent to the processor it left.
    sent = Payment.objects.filter(
        pk=payment.pk,
        status=S.PROCESSING,
        processor=payment.processor,
        processor_attempts=payment.processor_attempts,
    )
    if not sent.update(processor_attempts=payment.processor_attempts + 1):
        return Payment.objects.get(pk=payment.pk)  # someone else is resolving it right now
    payment.processor_attempts += 1
    outcome = _send_authorization(payment)
    return _record_authorization_outcome(payment.pk, outcome, actor=actor)


def payment_sync_operation(*, payment_id: str, actor: str = "system:resolver") -> Payment:
    """For an authorised payment whose capture or void answer was lost: apply what the processor holds."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.REQUIRES_CAPTURE or not payment.processor_charge_id:
        return payment
    try:
        charges = _processor(payment.processor).charges_for(reference=payment.id)
    except ProcessorUnavailable:
        return payment
    charge = next((c for c in charges if c.processor_id == payment.processor_charge_id), None)
    if charge is None or charge.status == ChargeStatus.AUTHORIZED:
        # The processor holds no capture or void: the claim lapses (its request, if it retries,
        # claims again with the same key), and rivals may go ahead.
        Payment.objects.filter(pk=payment.pk, status=S.REQUIRES_CAPTURE).update(processor_operation_pending_since=None)
        return Payment.objects.get(pk=payment.pk)
    return payment_apply_charge(payment_id=payment.id, charge=charge, actor=actor)


@dataclass(frozen=True)
class ResolveSummary:
    examined: int
    settled: int
    still_processing: int


def payments_resolve_processing(*, limit: int = 500) -> ResolveSummary:
    """Resolve every payment whose outcome has been unknown for longer than the grace period."""
    from payments import selectors

    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_RESOLVE_AFTER_SECONDS)
    settled = still = 0
    ids = selectors.payment_ids_processing_since_before(cutoff=cutoff, limit=limit)
    for payment_id in ids:
        payment = payment_resolve(payment_id=payment_id)
        if payment.status == S.PROCESSING:
            still += 1
        else:
            settled += 1
    for payment_id in selectors.payment_ids_with_operation_pending_before(cutoff=cutoff, limit=limit):
        payment_sync_operation(payment_id=payment_id)
    return ResolveSummary(examined=len(ids), settled=settled, still_processing=still)


# --- Capture, cancel, expire ------------------------------------------------------------
#
# A capture or cancel is claimed under the payment's row lock before the processor is called,
# as a confirmation records ``processing``: the claim names who asked (``operation_claim``),
# what and how much. A rival finds the claim and is refused (409 while it runs, 400 once the
# payment has moved on), so no answer ever describes another request's outcome. The same
# request, retried with the same claim, carries on where it stopped.


def _claim_operation(payment: Payment, *, operation: str, amount: int | None, claim: str) -> None:
    """Under the row lock: check the operation may start and record the claim. Raises before writing."""
    allowed = (S.REQUIRES_CAPTURE,) if operation == "capture" else (S.REQUIRES_CAPTURE, S.REQUIRES_ACTION)
    if payment.status not in allowed:
        raise PaymentUnexpectedState(
            f"This payment's status is {payment.status}; only {' or '.join(allowed)} can be {_past_tense(operation)}."
        )
    if payment.processor_operation_pending_since is not None and payment.operation_claim != claim:
        raise PaymentOperationInProgress(
            f"A {payment.operation} of this payment is in progress. Retry when it has finished."
        )
    if operation == "capture":
        amount = payment.amount_capturable if amount is None else amount
        if amount > payment.amount_capturable:
            raise InvalidRequestError(
                f"amount ({amount}) exceeds amount_capturable ({payment.amount_capturable}).",
                code="amount_too_large",
                param="amount",
            )
    payment.operation, payment.operation_claim, payment.operation_amount = operation, claim, amount
    payment.processor_operation_pending_since = timezone.now()
    Payment.objects.filter(pk=payment.pk).update(
        operation=operation,
        operation_claim=claim,
        operation_amount=amount,
        processor_operation_pending_since=payment.processor_operation_pending_since,
    )


def _begin_operation(
    payment_id: str, *, operation: str, amount: int | None, claim: str, checkpoint: Checkpoint | None
) -> Payment | None:
    """Claim the operation and commit. Returns None when this same claim already finished it."""
    with transaction.atomic():
        locked = payment_lock(payment_id)
        if locked.operation_claim == claim and locked.status not in (S.REQUIRES_CAPTURE, S.REQUIRES_ACTION):
            return None  # a retry of a request whose operation was applied: its outcome is the answer
        _claim_operation(locked, operation=operation, amount=amount, claim=claim)
        if checkpoint is not None:
            checkpoint(locked)
    return locked


def _operation_outcome(payment_id: str, *, operation: str, claim: str) -> Payment:
    """The truthful result of the operation ``claim`` asked for, read from the payment as it is now.

    Returns the payment when that operation is what changed it; raises when another request's
    operation did (400) or is still running (409), or when the outcome is not known yet (503).
    """
    payment = Payment.objects.get(pk=payment_id)
    mine = payment.operation_claim == claim
    if payment.status in (S.REQUIRES_CAPTURE, S.REQUIRES_ACTION):
        if payment.processor_operation_pending_since is not None and not mine:
            raise PaymentOperationInProgress(
                f"A {payment.operation} of this payment is in progress. Retry when it has finished."
            )
        raise ProcessorUnavailableError(f"The outcome of the {operation} is not known yet. Retry it; it is safe.")
    if mine and payment.operation == operation:
        if operation == "capture" and payment.status == S.SUCCEEDED:
            return payment
        if operation == "cancel" and payment.status == S.CANCELED:
            return payment
    if payment.status == S.SUCCEEDED and operation == "cancel":
        raise PaymentUnexpectedState("This payment was already captured; refund it instead.")
    raise PaymentUnexpectedState(
        f"This payment's status is {payment.status}; it can no longer be {_past_tense(operation)}."
    )


def payment_capture(
    *,
    payment: Payment,
    amount: int | None,
    actor: str,
    claim: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> Payment:
    """Capture an authorised payment, all of it or ``amount`` (the rest is released).

    Guarantees: the capture is claimed under the row lock first, so of concurrent captures and
    cancels exactly one reaches the processor and every rival is refused (409 while it runs, 400
    after); the processor is called with no lock held, with a key derived from the claim; the
    answer returned is this request's own outcome. A lost answer is a 503 that is safe to retry
    with the same ``claim`` (the API passes one per Idempotency-Key); the resolver also learns
    the truth from the processor. ``checkpoint`` runs in the claiming transaction.
    """
    claim = claim or _new_claim(actor)
    claimed = _begin_operation(payment.pk, operation="capture", amount=amount, claim=claim, checkpoint=checkpoint)
    if claimed is None:
        return _operation_outcome(payment.pk, operation="capture", claim=claim)
    try:
        charge = _processor(claimed.processor).capture(
            processor_id=claimed.processor_charge_id,
            amount=claimed.operation_amount,
            idempotency_key=capture_key(claimed, claim),
        )
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor did not answer. Retry the capture; it is safe.") from exc
    except ProcessorRequestRejected as rejected:
        synced = payment_sync_operation(payment_id=claimed.id, actor=actor)
        if synced.status == S.REQUIRES_CAPTURE:
            raise InvalidRequestError(
                f"The processor refused the capture ({rejected.code}).", code=rejected.code
            ) from None
        return _operation_outcome(claimed.pk, operation="capture", claim=claim)
    payment_apply_charge(payment_id=claimed.id, charge=charge, actor=actor)
    return _operation_outcome(claimed.pk, operation="capture", claim=claim)


def payment_cancel(
    *,
    payment: Payment,
    reason: str | None,
    actor: str,
    claim: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> Payment:
    """Cancel a payment not yet confirmed, or release an authorisation or a wallet charge awaiting
    approval (voided at the processor first). Claimed like a capture: the answer is this
    request's own outcome, and rivals are refused."""
    claim = claim or _new_claim(actor)
    with transaction.atomic():
        locked = payment_lock(payment.pk)
        if locked.status == S.REQUIRES_CONFIRMATION:
            _transition(locked, "cancel", actor=actor, reason=reason or "", reason_code=reason)
            Payment.objects.filter(pk=locked.pk).update(operation="cancel", operation_claim=claim)
            if checkpoint is not None:
                checkpoint(locked)
            return locked
    if locked.status not in (S.REQUIRES_ACTION, S.REQUIRES_CAPTURE) and locked.operation_claim != claim:
        raise PaymentUnexpectedState(
            f"This payment's status is {locked.status}; only requires_confirmation, requires_action or "
            "requires_capture can be canceled."
        )
    claimed = _begin_operation(payment.pk, operation="cancel", amount=None, claim=claim, checkpoint=checkpoint)
    if claimed is None:
        return _operation_outcome(payment.pk, operation="cancel", claim=claim)
    if claimed.status == S.REQUIRES_ACTION:
        _void_awaiting_action(claimed, transition_name="cancel", reason=reason, actor=actor)
    else:
        _void_authorization(claimed, transition_name="cancel", reason=reason, actor=actor)
    return _operation_outcome(claimed.pk, operation="cancel", claim=claim)


def payment_expire(*, payment_id: str, actor: str = "system:authorization_expiry") -> Payment:
    """Release an authorisation that was not captured in time (unless a capture or cancel is under way)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.REQUIRES_CAPTURE:
        return payment
    try:
        claimed = _begin_operation(
            payment_id, operation="cancel", amount=None, claim=_new_claim(actor), checkpoint=None
        )
        return _void_authorization(claimed, transition_name="expire", reason="expired", actor=actor)
    except (ProcessorUnavailableError, InvalidRequestError, PaymentOperationInProgress):
        logger.warning("could not expire %s now; will retry", payment_id)
        return Payment.objects.get(pk=payment_id)


def _void_authorization(payment: Payment, *, transition_name: str, reason: str | None, actor: str) -> Payment:
    """Void a claimed authorisation at the processor, then cancel (or expire) the payment."""
    try:
        charge = _processor(payment.processor).void(
            processor_id=payment.processor_charge_id, idempotency_key=void_key(payment)
        )
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor did not answer. Retry the cancellation; it is safe.") from exc
    except ProcessorRequestRejected as rejected:
        synced = payment_sync_operation(payment_id=payment.id, actor=actor)
        if synced.status == S.REQUIRES_CAPTURE:
            raise InvalidRequestError(
                f"The processor refused the void ({rejected.code}).", code=rejected.code
            ) from None
        return synced
    if charge.status != ChargeStatus.VOIDED:
        return payment_sync_operation(payment_id=payment.id, actor=actor)
    with transaction.atomic():
        locked = payment_lock(payment.pk)
        if locked.status == S.REQUIRES_CAPTURE:
            if transition_name == "expire":
                _transition(locked, "expire", actor=actor, reason="authorisation expired")
            else:
                _transition(locked, "cancel", actor=actor, reason=reason or "", reason_code=reason)
            posting_rules.payment_authorization_released(
                payment_id=locked.id, reason="expired" if transition_name == "expire" else "canceled"
            )
        return locked


def payments_expire_authorizations(*, limit: int = 500) -> int:
    """Expire every authorisation older than ``PAYMENT_AUTHORIZATION_TTL_SECONDS`` (7 days). Returns how many."""
    from payments import selectors

    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_AUTHORIZATION_TTL_SECONDS)
    expired = 0
    for payment_id in selectors.payment_ids_authorized_before(cutoff=cutoff, limit=limit):
        if payment_expire(payment_id=payment_id).status == S.CANCELED:
            expired += 1
    return expired


# --- Wallet payments awaiting the customer's approval ------------------------------------


def payment_sync_awaiting_action(*, payment_id: str, actor: str = "system:resolver") -> Payment:
    """For a ``requires_action`` payment: apply what the processor holds for its charge now."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.REQUIRES_ACTION:
        return payment
    try:
        charges = _processor(payment.processor).charges_for(reference=payment.id)
    except ProcessorUnavailable:
        return payment
    charge = next((c for c in charges if c.processor_id == payment.processor_charge_id), None)
    if charge is None or charge.status == ChargeStatus.REQUIRES_ACTION:
        # Still awaiting the customer: a cancel whose void never arrived no longer blocks others.
        Payment.objects.filter(pk=payment.pk, status=S.REQUIRES_ACTION).update(processor_operation_pending_since=None)
        return payment
    return payment_apply_charge(payment_id=payment.id, charge=charge, actor=actor)


def _void_awaiting_action(payment: Payment, *, transition_name: str, reason: str | None, actor: str) -> Payment:
    """Void a wallet charge still awaiting approval, then cancel (or expire) the payment.

    If the customer decided first (the void is refused), the processor's record decides instead: the payment
    follows the approval or the decline, and a cancel answers ``payment_unexpected_state``."""
    try:
        charge = _processor(payment.processor).void(
            processor_id=payment.processor_charge_id, idempotency_key=void_key(payment)
        )
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor did not answer. Retry the cancellation; it is safe.") from exc
    except ProcessorRequestRejected:
        synced = payment_sync_awaiting_action(payment_id=payment.id, actor=actor)
        if transition_name == "cancel" and synced.status != S.CANCELED:
            raise PaymentUnexpectedState(
                f"The customer already decided: this payment's status is {synced.status}."
            ) from None
        return synced
    if charge.status not in (ChargeStatus.VOIDED, ChargeStatus.EXPIRED):
        return payment_sync_awaiting_action(payment_id=payment.id, actor=actor)
    with transaction.atomic():
        locked = payment_lock(payment.pk)
        if locked.status == S.REQUIRES_ACTION:
            if transition_name == "expire":
                _transition(locked, "expire", actor=actor, reason="not approved in time")
            else:
                _transition(locked, "cancel", actor=actor, reason=reason or "", reason_code=reason)
            posting_rules.payment_authorization_released(payment_id=locked.id, reason=transition_name)
        return locked


def payment_expire_awaiting_action(*, payment_id: str, actor: str = "system:wallet_expiry") -> Payment:
    """Void and cancel (``cancellation_reason: expired``) a wallet payment the customer did not approve in time."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.REQUIRES_ACTION:
        return payment
    try:
        return _void_awaiting_action(payment, transition_name="expire", reason="expired", actor=actor)
    except ProcessorUnavailableError:
        logger.warning("could not expire wallet payment %s now; will retry", payment_id)
        return Payment.objects.get(pk=payment_id)


def payments_expire_awaiting_action(*, limit: int = 500) -> int:
    """Expire every wallet payment in ``requires_action`` for longer than ``PAYMENT_WALLET_EXPIRY_SECONDS``.
    Returns how many were canceled."""
    from payments import selectors

    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_WALLET_EXPIRY_SECONDS)
    expired = 0
    for payment_id in selectors.payment_ids_awaiting_action_before(cutoff=cutoff, limit=limit):
        if payment_expire_awaiting_action(payment_id=payment_id).status == S.CANCELED:
            expired += 1
    return expired
