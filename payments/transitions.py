"""The one way a payment, a refund or a dispute changes status.

``transition`` runs the django-fsm transition, saves the row, appends its history and records the
merchant's event, all in the caller's transaction (the outbox): the history row and the event exist if
and only if the change committed. What differs between the three is a ``Trail``: where the history goes
(``PaymentTransition`` for payments, the audit log for refunds and disputes), which event the merchant
gets, and what a refused transition raises.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django_fsm import TransitionNotAllowed

from core.audit import audit_record
from core.db import SavesChangedFields, insert_statement, write
from events.services import event_record
from payments.errors import PaymentUnexpectedState
from payments.models import PaymentTransition
from payments.representations import dispute_representation, payment_representation, refund_representation


@dataclass(frozen=True)
class Change:
    """One recorded change of ``obj``: the transition's name, the status before it, who and why."""

    obj: models.Model
    name: str
    before: str
    actor: str
    reason: str


@dataclass(frozen=True)
class Trail:
    """How one kind of object's changes are recorded."""

    append_history: Callable[[Change], None]
    event_type: Callable[[models.Model], str]
    representation: Callable[[models.Model], dict]
    # The error for a transition its source status does not allow; None lets TransitionNotAllowed through
    # (the callers check the status first, under the row lock).
    refused: Callable[[Change], Exception] | None = None

    def record(self, change: Change, *, event_type: str | None = None) -> None:
        """Append the change's history row and the merchant's event (``event_type`` overrides the trail's)."""
        self.append_history(change)
        event_record(
            merchant=change.obj.merchant_id,
            type=event_type or self.event_type(change.obj),
            data_object=self.representation(change.obj),
        )


def transition(obj: SavesChangedFields, name: str, *, trail: Trail, actor: str, reason: str = "", **kwargs) -> None:
    """Run the FSM transition ``name`` with ``kwargs``, save ``obj`` and record the change along ``trail``.

    Must run inside the caller's transaction, with ``obj`` locked (``payments.locks``). Raises the trail's
    ``refused`` error (nothing written) when the transition is not allowed from the current status.
    """
    before = obj.status
    try:
        getattr(obj, name)(**kwargs)
    except TransitionNotAllowed as exc:
        if trail.refused is None:
            raise
        raise trail.refused(Change(obj, name, before, actor, reason)) from exc
    # Only the columns that differ from the row: what the transition set and what the caller set before it
    # (the whole row, for an object not inserted yet). Sent with the history and the event in one statement
    # when the caller writes together (core.db.writes_together).
    obj.save_changes()
    trail.record(Change(obj, name, before, actor, reason))


# --- The three trails ---------------------------------------------------------------------------

PAST_TENSE = {"confirm": "confirmed", "capture": "captured", "cancel": "canceled", "expire": "expired"}


def _payment_history(change: Change) -> None:
    row = PaymentTransition(
        payment=change.obj,
        from_status=change.before,
        to_status=change.obj.status,
        transition=change.name,
        actor=change.actor,
        reason=change.reason,
    )
    write(insert_statement([row]))


def _payment_refused(change: Change) -> PaymentUnexpectedState:
    return PaymentUnexpectedState(
        f"This payment's status is {change.before}; it cannot be {PAST_TENSE.get(change.name, change.name)}.",
        param=None,
    )


def _audited(kind: str) -> Callable[[Change], None]:
    def append(change: Change) -> None:
        audit_record(
            actor=change.actor,
            action=f"{kind}.{change.name}",
            obj=change.obj,
            before={"status": change.before},
            after={"status": change.obj.status},
            reason=change.reason,
        )

    return append


PAYMENTS = Trail(
    append_history=_payment_history,
    event_type=lambda payment: f"payment.{payment.status}",
    representation=payment_representation,
    refused=_payment_refused,
)

REFUNDS = Trail(
    append_history=_audited("refund"),
    event_type=lambda refund: f"refund.{refund.status}",
    representation=refund_representation,
)

DISPUTES = Trail(
    append_history=_audited("dispute"),
    event_type=lambda dispute: "dispute.updated" if dispute.is_open else "dispute.closed",
    representation=dispute_representation,
)
