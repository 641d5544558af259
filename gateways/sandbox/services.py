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
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gateways.sandbox import cards
from gateways.sandbox.cards import Card
from gateways.sandbox.config import SandboxConfig
from gateways.sandbox.draws import nth_draw
from gateways.sandbox.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest, ProcessingError
from gateways.sandbox.models import Charge, FaultSettings, IdempotencyKey, ScheduledAction, Token, WebhookEvent, new_id
from gateways.sandbox.representations import charge_json, unix
from gateways.sandbox.selectors import charge_get, event_get, faults_current

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


# --- Charges -------------------------------------------------------------------


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
    with transaction.atomic():
        try:
            charge = Charge.objects.create(
                reference=reference,
                amount=amount,
                currency=currency,
                status=status,
                amount_captured=amount if status == Charge.Status.CAPTURED else 0,
                decline_code=decline_code,
                failure_message=failure_message,
                idempotency_key=idempotency_key,
                token=token,
                card_brand=card.brand,
                card_last4=card.last4,
                card_exp_month=card.exp_month,
                card_exp_year=card.exp_year,
                behaviour=card.behaviour,
                captured_at=now if status == Charge.Status.CAPTURED else None,
            )
        except IntegrityError as error:
            # The unique key on Charge is the last line of defence: only reachable if a claim that
            # looked abandoned was taken over while its owner still ran. The transaction rolls back.
            raise IdempotencyKeyInUse("A charge for this idempotency key is being created.") from error
        if card.behaviour == cards.TIMEOUT:
            event_type = "charge.succeeded" if capture else "charge.authorized"
            action_schedule(
                action="emit_event",
                params={"event_type": event_type, "charge_id": charge.id},
                run_at=now + timedelta(seconds=timeout_delay_seconds),
            )
    return charge


def charge_capture(*, charge_id: str, amount: int | None) -> Charge:
    """Capture an authorised charge, all of it or ``amount`` (the rest of the authorisation is released).

    A single conditional UPDATE moves it, so two concurrent captures cannot both succeed.
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
    return charge


def charge_void(*, charge_id: str) -> Charge:
    """Release an authorised charge without capturing it (a single conditional UPDATE)."""
    with transaction.atomic():
        voided = Charge.objects.filter(pk=charge_id, status=Charge.Status.AUTHORIZED).update(
            status=Charge.Status.VOIDED, voided_at=timezone.now()
        )
        charge = charge_get(charge_id=charge_id)
        if not voided:
            raise InvalidRequest(
                f"This charge is {charge.status}; only an authorized charge can be voided.",
                code="charge_unexpected_state",
            )
    return charge


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
    """
    for _ in range(3):
        lock_id = secrets.token_hex(16)
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    scope=scope, key=key, fingerprint=fingerprint, lock_id=lock_id, locked_at=now
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


def idempotency_key_complete(*, claim: Claim, status: int, body: str, replay_after: datetime | None) -> None:
    """Store the answer under the claimed key. Call it in the transaction of the work, so both commit together."""
    completed = IdempotencyKey.objects.filter(pk=claim.pk, lock_id=claim.lock_id).update(
        response_status=status, response_body=body, replay_after=replay_after
    )
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
            "draws": 0,
        },
    )
    return faults


FAULT_FIELDS = ("latency_ms", "error_rate", "seed", "duplicate_webhooks", "shuffle_webhooks", "timeout_delay_seconds")


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
    now = timezone.now()
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
        "data": {"object": charge_json(charge)},
    }
    return WebhookEvent.objects.create(id=event_id, type=event_type, payload=payload, next_attempt_at=next_attempt_at)


def _emit_event_action(*, event_type: str, charge_id: str) -> None:
    event_emit(event_type=event_type, charge=charge_get(charge_id=charge_id))


# The delayed work the dispatcher knows how to run, by the name stored in ScheduledAction.action.
ACTION_HANDLERS = {"emit_event": _emit_event_action}


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
