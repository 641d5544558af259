"""Which acquirer takes a payment, and when a payment may move to another one.

Routing: the first enabled ``RoutingRule`` (lowest priority) whose every set condition (currency, payment
method type, merchant) matches chooses the processor and its fallback; no rule matches,
``settings.PROCESSOR_DEFAULT`` takes the payment, without a fallback. The choice is recorded on the payment
when it is created (``payment_create``), before anything is sent: its card or bank account is tokenised at that
processor, and every later call about the payment goes there.

Failover (``payment_fail_over``) moves a ``processing`` payment to its fallback only while its processor
provably holds no charge for it: the one authorisation ever sent there was never received (connection refused)
or was refused with a definite "not here" (``ProcessorRequestRejected.retry_elsewhere``). After a timeout, or
any answer that leaves the outcome unknown, it never moves: the resolver asks the same processor, as for any
other payment. The switch commits (with its history row) before the fallback is called, so a crash at any point
leaves a payment that names the processor to ask.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict

from core.audit import audit_record
from core.db import PreparedRead
from gateways.base import Processor, ProcessorNotReached
from gateways.registry import processor_exists, processor_names, processor_outside_transaction
from merchants.models import Merchant
from payments.locks import payment_lock, routing_rule_lock
from payments.models import Payment, PaymentStatus, PaymentTransition, RoutingRule

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    processor: str
    fallback: str = ""  # "" when the payment may not fail over
    # Set when ``processor`` is the fallback of a route whose processor was not reached before the payment existed.
    failed_over_from: str = ""


# Read by every new payment, in the order they are tried: compiled once (core.db.PreparedRead).
_enabled_rules = PreparedRead(lambda: RoutingRule.objects.filter(enabled=True).order_by("priority", "id"))


def route_choose(*, merchant: Merchant, currency: str, payment_method_type: str) -> Route:
    """The route of a new payment: the first matching enabled rule's, else the default processor's.

    A rule naming a processor that is no longer configured is skipped (and its fallback with it), so a
    removed acquirer never receives a payment."""
    rules = _enabled_rules.all()
    for rule in rules:
        if rule.currency and rule.currency != currency:
            continue
        if rule.payment_method_type and rule.payment_method_type != payment_method_type:
            continue
        if rule.merchant_id and rule.merchant_id != merchant.pk:
            continue
        if not processor_exists(rule.processor):
            continue
        fallback = rule.fallback_processor if processor_exists(rule.fallback_processor) else ""
        return Route(processor=rule.processor, fallback=fallback)
    return Route(processor=settings.PROCESSOR_DEFAULT)


@dataclass(frozen=True)
class Tokenized(Generic[T]):
    """What a processor said about a payment method, and the route of the payment that will use it: the route
    asked, or its fallback when the route's processor could not be reached."""

    details: T
    route: Route


def tokenize_at_route(route: Route, call: Callable[[Processor], T]) -> Tokenized[T]:
    """``call(adapter)`` (a token look-up or tokenisation, before the payment exists) at the route's processor.
    When that processor cannot be reached at all and the route has a fallback, at the fallback instead, which then
    takes the payment with no further fallback: nothing about the payment was ever sent to the first."""
    try:
        return Tokenized(details=call(processor_outside_transaction(route.processor)), route=route)
    except ProcessorNotReached:
        if not route.fallback:
            raise
        logger.warning("%s not reached: the payment method is asked of %s", route.processor, route.fallback)
        details = call(processor_outside_transaction(route.fallback))
        return Tokenized(details=details, route=Route(processor=route.fallback, failed_over_from=route.processor))


def routing_rule_validate(rule: RoutingRule) -> None:
    """Raise ValidationError (per field) for a rule that names an unknown processor or falls back to itself."""
    known = ", ".join(processor_names())
    errors = {}
    if not processor_exists(rule.processor):
        errors["processor"] = f"Unknown processor '{rule.processor}'. Configured processors: {known}."
    from payments.methods import PAYMENT_METHODS  # the methods import this module (Route)

    if rule.payment_method_type and rule.payment_method_type not in PAYMENT_METHODS:
        errors["payment_method_type"] = (
            f"Unknown payment method type '{rule.payment_method_type}'. Known: {', '.join(PAYMENT_METHODS)}."
        )
    if rule.fallback_processor:
        if not processor_exists(rule.fallback_processor):
            errors["fallback_processor"] = (
                f"Unknown processor '{rule.fallback_processor}'. Configured processors: {known}."
            )
        elif rule.fallback_processor == rule.processor:
            errors["fallback_processor"] = "The fallback must be another processor."
    if errors:
        raise ValidationError(errors)


def _rule_state(rule: RoutingRule) -> dict:
    state = model_to_dict(rule, exclude=["id"])
    state["merchant"] = rule.merchant_id
    return state


def routing_rule_save(*, rule: RoutingRule, actor: str, reason: str = "") -> RoutingRule:
    """Create or change a routing rule, validated, with its audit entry (before and after) in one transaction."""
    routing_rule_validate(rule)
    with transaction.atomic():
        before = None
        if rule.pk:
            before = _rule_state(routing_rule_lock(rule.pk))
        rule.save()
        audit_record(
            actor=actor,
            action="routing_rule.change" if before else "routing_rule.create",
            obj=rule,
            before=before,
            after=_rule_state(rule),
            reason=reason,
        )
    return rule


def routing_rule_delete(*, rule: RoutingRule, actor: str, reason: str = "") -> None:
    """Delete a routing rule, with its audit entry (what it was) in the same transaction."""
    with transaction.atomic():
        locked = routing_rule_lock(rule.pk)
        audit_record(actor=actor, action="routing_rule.delete", obj=locked, before=_rule_state(locked), reason=reason)
        locked.delete()


def payment_fail_over(*, payment_id: str, failed_processor: str, why: str, actor: str) -> Payment | None:
    """Move a ``processing`` payment from ``failed_processor`` to its fallback, in one transaction with its
    history row; returns the payment (now naming the fallback), or None when it may not move.

    The caller has proof that ``failed_processor`` did not process the authorisation it sent (``why``). It may
    move only if that send was the only one ever made there (``processor_attempts`` is 1: an earlier send
    could still be charging), nothing was recorded from it (no charge id), and it has a fallback, used once.
    The resolver counts a re-send under the same conditions (processor and attempts), so the two never race.
    """
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if (
            payment.status != PaymentStatus.PROCESSING
            or payment.processor != failed_processor
            or payment.processor_attempts != 1
            or payment.processor_charge_id
            or not payment.fallback_processor
            or payment.failed_over_from
            or not processor_exists(payment.fallback_processor)
        ):
            return None
        fallback = payment.fallback_processor
        payment.processor, payment.fallback_processor, payment.failed_over_from = fallback, "", failed_processor
        Payment.objects.filter(pk=payment.pk).update(
            processor=fallback, fallback_processor="", failed_over_from=failed_processor
        )
        PaymentTransition.objects.create(
            payment=payment,
            from_status=payment.status,
            to_status=payment.status,
            transition="fail_over",
            actor=actor,
            reason=f"{failed_processor} did not process the authorisation ({why}); sent to {fallback}",
        )
    return payment
