"""Every write to a checkout session. Each service owns its transactions.

One payment attempt at a time (docs/design.md, "Hosted checkout"). ``checkout_session_pay``:

1. claims the session for an attempt under its row lock, and commits: a second tab (or a double click) finds the
   attempt in flight and is told the session is already being paid, without touching the processor;
2. tokenises nothing itself: it creates the attempt's payment with ``payments.services.payment_create`` (the
   payment is recorded on the session in the transaction that creates it, so a payment never exists without
   its session knowing it) and confirms it with ``payment_confirm_execute``, the processor's call, holding no
   lock and no transaction;
3. settles the attempt in a new transaction under the row lock: a succeeded (or authorised) payment completes the
   session with its ``checkout.session.completed`` event; a failed one frees the session for another try; a
   payment still under way (a wallet awaiting approval, a bank transfer until it settles, an unknown outcome)
   keeps the attempt in flight. ``checkout_session_sync`` (on the customer's return, and by beat for the customer
   who never comes back) settles it later.

The database holds the rest: a complete session has exactly one payment (a one-to-one, and a check), an open one
none, and an attempt runs only on an open session.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checkout.errors import CheckoutSessionUnexpectedState
from checkout.models import CheckoutSession, CheckoutSessionStatus
from checkout.representations import checkout_session_representation
from core.errors import InvalidRequestError
from events.models import EventType
from events.services import event_record
from merchants.models import Merchant
from payments import services as payment_services
from payments.fx_services import fx_require_rate
from payments.methods import payment_method
from payments.models import Payment, PaymentStatus
from payments.routing import route_choose

logger = logging.getLogger(__name__)

S = CheckoutSessionStatus
# The payment states that end an attempt well (the session completes) or badly (the session is free again).
PAID = (PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE)
UNPAID = (PaymentStatus.FAILED, PaymentStatus.CANCELED)
ALL_METHOD_TYPES = ("card", "bank_transfer", "wallet")


# --- The hosted page's address -------------------------------------------------------------------


def checkout_url_token(session_id: str) -> str:
    """The secret part of a session's URL: HMAC-SHA256(SECRET_KEY, id), so the URL cannot be guessed from the id
    (which webhooks and logs carry), and nothing needs storing."""
    key = f"checkout-session-url:{settings.SECRET_KEY}".encode()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()[:40]


def checkout_url_token_matches(session_id: str, token: str) -> bool:
    return isinstance(token, str) and hmac.compare_digest(checkout_url_token(session_id).encode(), token.encode())


def _lock(session_id: str) -> CheckoutSession:
    return CheckoutSession.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=session_id)


def _record_event(session: CheckoutSession, type: str) -> None:
    event_record(merchant=session.merchant_id, type=type, data_object=checkout_session_representation(session))


# --- Create, expire --------------------------------------------------------------------------------


def checkout_session_create(
    *,
    merchant: Merchant,
    amount: int,
    currency: str,
    success_url: str,
    cancel_url: str,
    payment_method_types: list[str] | None = None,
    capture_method: str = "automatic",
    customer_email: str | None = None,
    description: str | None = None,
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    checkpoint=None,
) -> CheckoutSession:
    """An ``open`` session expiring after ``CHECKOUT_SESSION_TTL_SECONDS``. Moves no money, calls no processor.

    Refused (400) when a method cannot take the capture method (a bank transfer is never captured by hand) or
    the currency cannot be converted into the merchant's settlement currency. ``checkpoint`` runs in the
    creating transaction."""
    types = list(dict.fromkeys(payment_method_types or ["card"]))
    if capture_method == "manual":
        for method_type in types:
            if not payment_method(method_type).manual_capture:
                raise InvalidRequestError(
                    f"{payment_method(method_type).label} cannot be captured by hand: use capture_method automatic "
                    f"or leave {method_type} out of payment_method_types.",
                    code="capture_method_invalid",
                    param="capture_method",
                )
    fx_require_rate(currency=currency, settlement_currency=merchant.settlement_currency)
    with transaction.atomic():
        session = CheckoutSession.objects.create(
            merchant=merchant,
            amount=amount,
            currency=currency,
            success_url=success_url,
            cancel_url=cancel_url,
            payment_method_types=types,
            capture_method=capture_method,
            customer_email=customer_email,
            description=description,
            metadata=metadata or {},
            expires_at=timezone.now() + timedelta(seconds=settings.CHECKOUT_SESSION_TTL_SECONDS),
            creation_idempotency_key=idempotency_key,
        )
        if checkpoint is not None:
            checkpoint(session)
    return session


def checkout_session_expire(*, merchant: Merchant, session_id: str) -> CheckoutSession:
    """Expire an open session now (the merchant's ``POST …/expire``), with its ``checkout.session.expired`` event.

    An expired session answers with itself (expiring twice changes nothing). Refused (400
    ``checkout_session_unexpected_state``) when the session is complete, or while a payment attempt is under way:
    its payment may still succeed (a wallet awaiting approval, a bank transfer), and the session must then
    complete with it."""
    checkout_session_sync(session_id=session_id)
    with transaction.atomic():
        session = _lock(session_id)
        if session.merchant_id != merchant.pk:
            raise CheckoutSession.DoesNotExist
        if session.status == S.EXPIRED:
            return session
        if session.status == S.COMPLETE:
            raise CheckoutSessionUnexpectedState("This checkout session is complete: it was paid.")
        if session.attempt_in_flight:
            raise CheckoutSessionUnexpectedState(
                "A payment of this checkout session is under way; it cannot be expired until that payment ends."
            )
        session.expire(now=timezone.now())
        session.save()
        _record_event(session, EventType.CHECKOUT_SESSION_EXPIRED)
        return session


def _expire_if_due(session_id: str) -> bool:
    with transaction.atomic():
        session = _lock(session_id)
        now = timezone.now()
        if session.status != S.OPEN or session.expires_at > now or session.attempt_in_flight:
            return False
        session.expire(now=now)
        session.save()
        _record_event(session, EventType.CHECKOUT_SESSION_EXPIRED)
        return True


def checkout_sessions_expire_due(*, limit: int = 500) -> int:
    """Expire open sessions past ``expires_at`` (beat). Idempotent: each is re-read under its lock, so one expired
    meanwhile, or paid, is left alone. A session whose payment attempt is still under way is skipped until
    ``checkout_sessions_sync_attempts`` has settled it. Returns how many expired."""
    from checkout import selectors

    expired = 0
    for session_id in selectors.checkout_session_ids_due(now=timezone.now(), limit=limit):
        if _expire_if_due(session_id):
            expired += 1
    return expired


# --- Paying on the hosted page -------------------------------------------------------------------


@dataclass(frozen=True)
class PayOutcome:
    """What one press of "Pay" came to. ``state``:

    - ``complete``: the session is paid (by this attempt or an earlier one);
    - ``closed``: the session expired;
    - ``busy``: another attempt is under way (another tab): nothing was done;
    - ``failed``: this attempt's payment failed (a decline: ``payment`` says why); the session is open again;
    - ``redirect``: the customer must approve the payment elsewhere (a wallet): go to ``redirect_url``;
    - ``pending``: the payment is under way (a bank transfer until it settles, or an unknown outcome).
    """

    state: str
    session: CheckoutSession
    payment: Payment | None = None
    redirect_url: str | None = None


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.CHECKOUT_ATTEMPT_STALE_SECONDS)


def _claim_attempt(session_id: str) -> tuple[str | None, CheckoutSession]:
    """Step 1: under the row lock, start an attempt unless the session is closed or one is under way.
    Returns (None, session) when it started, else (the outcome's state, session)."""
    with transaction.atomic():
        session = _lock(session_id)
        now = timezone.now()
        if session.status == S.COMPLETE:
            return "complete", session
        if session.status == S.EXPIRED or session.expires_at <= now:
            return "closed", session
        if session.attempt_in_flight:
            # An attempt whose process died before it made its payment would hold the session forever: after
            # CHECKOUT_ATTEMPT_STALE_SECONDS (longer than any request), it is taken over.
            if session.attempt_payment_id is not None or session.attempt_started_at > _stale_before():
                return "busy", session
        session.start_attempt(now=now)
        session.save()
        return None, session


def _record_attempt_payment(session_id: str, attempt_number: int):
    """The checkpoint of the payment's creating transaction: the payment becomes the session's attempt there."""

    def checkpoint(payment: Payment) -> None:
        recorded = CheckoutSession.objects.filter(
            pk=session_id, status=S.OPEN, attempt_number=attempt_number, attempt_payment__isnull=True
        ).update(attempt_payment=payment, updated=timezone.now())
        if recorded != 1:
            # The attempt was taken over as stale meanwhile: roll the payment back rather than leave it orphaned.
            raise CheckoutSessionUnexpectedState("This payment attempt is no longer the session's. Try again.")

    return checkpoint


def _release_attempt(session_id: str, attempt_number: int) -> None:
    with transaction.atomic():
        session = _lock(session_id)
        if session.attempt_number == attempt_number and session.attempt_payment_id is None:
            session.release_attempt()
            session.save()


def checkout_session_pay(*, session_id: str, method_type: str, method_input, actor: str = "checkout") -> PayOutcome:
    """Pay the session with one method (``method_input``: a card token, a bank account, a wallet), at most one
    attempt at a time, and never with a lock or transaction held across a processor call.

    Raises the API's errors for an input the processor refuses (an unknown token, a refused bank account) or a
    processor it cannot reach; the attempt is then released and the customer may try again."""
    state, session = _claim_attempt(session_id)
    if state is not None:
        return PayOutcome(state, session, payment=session.payment)
    number = session.attempt_number
    method = payment_method(method_type)
    try:
        route = route_choose(merchant=session.merchant, currency=session.currency, payment_method_type=method.type)
        resolved = method.resolve(method_input, route=route)
        created = payment_services.payment_create(
            merchant=session.merchant,
            amount=session.amount,
            currency=session.currency,
            payment_method=resolved,
            capture_method=session.capture_method,
            description=session.description,
            metadata=session.metadata,
            customer_email=session.customer_email,
            # One payment per attempt, even if this request is sent twice.
            idempotency_key=f"checkout:{session.id}:{number}",
            confirm=True,
            actor=actor,
            checkpoint=_record_attempt_payment(session.id, number),
        )
    except Exception:
        _release_attempt(session.id, number)
        raise
    payment = payment_services.payment_confirm_execute(payment=created.payment, actor=actor)
    return _settle(session.id, payment)


def _settle(session_id: str, payment: Payment) -> PayOutcome:
    """Step 3: in a new transaction, under the row lock, apply the attempt's payment as it is now."""
    with transaction.atomic():
        session = _lock(session_id)
        if session.attempt_payment_id != payment.pk:
            # Settled meanwhile (by the other tab's return, or the sweep): the session as it is.
            state = {S.COMPLETE: "complete", S.EXPIRED: "closed"}.get(session.status, "failed")
            return PayOutcome(state, session, payment=session.payment or payment)
        if payment.status in PAID:
            session.complete(payment=payment, now=timezone.now())
            session.save()
            _record_event(session, EventType.CHECKOUT_SESSION_COMPLETED)
            return PayOutcome("complete", session, payment=payment)
        if payment.status in UNPAID:
            session.release_attempt()
            session.save()
            return PayOutcome("failed", session, payment=payment)
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url:
        return PayOutcome("redirect", session, payment=payment, redirect_url=payment.next_action_url)
    return PayOutcome("pending", session, payment=payment)


def checkout_session_sync(*, session_id: str) -> PayOutcome | None:
    """Settle the session's attempt in flight from its payment as it is now: a wallet payment is first brought in
    line with the processor (the customer's return, or the sweep), outside any transaction. None when no attempt
    with a payment is in flight."""
    session = CheckoutSession.objects.get(pk=session_id)
    if session.status != S.OPEN or session.attempt_payment_id is None:
        if session.status == S.OPEN and session.attempt_in_flight and session.attempt_started_at <= _stale_before():
            _release_attempt(session.id, session.attempt_number)
        return None
    payment = Payment.objects.get(pk=session.attempt_payment_id)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        payment = payment_services.payment_sync_awaiting_action(payment_id=payment.pk, actor="system:checkout")
    return _settle(session.id, payment)


def checkout_sessions_sync_attempts(*, limit: int = 200) -> int:
    """Beat: settle every open session's attempt in flight (the customer may never come back from the wallet,
    a bank transfer settles days later). Returns how many sessions completed."""
    from checkout import selectors

    completed = 0
    for session_id in selectors.checkout_session_ids_with_attempt(limit=limit):
        try:
            outcome = checkout_session_sync(session_id=session_id)
        except Exception:  # noqa: BLE001 - one session's trouble must not stop the sweep
            logger.exception("could not settle the payment attempt of checkout session %s", session_id)
            continue
        if outcome is not None and outcome.state == "complete":
            completed += 1
    return completed
