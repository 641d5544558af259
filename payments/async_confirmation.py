"""Asynchronous confirmation (docs/api.md, "Asynchronous confirmation"; docs/design.md).

A merchant that sends ``Prefer: respond-async`` is answered ``202`` as soon as step 1 of the confirmation
(``payments.services``: the intent, ``requires_confirmation`` → ``processing``) has committed. Steps 2 and 3
run in a worker (``payments.confirm_async``), through the synchronous path's own services, so the rules
that turn a processor's answer into a payment's outcome are written once:

- the first try is ``payment_confirm_execute``: the processor is called with the payment's key
  (``pay_…:authorize``) holding no transaction or lock, and its answer is recorded in a new transaction;
- a retry (the processor was not reached or did not answer) is ``payment_resolve``: the processor is asked
  about that same key first, and the request is sent again with it only if the processor never received it.

Nothing here can charge twice: every send carries the same processor key, whoever sends it (this worker, a
duplicate of its message, a synchronous retry of the merchant's request, the resolver). Nothing is lost: the
payment is ``processing`` in the database from the 202 on, so a message that was never queued or never ran
leaves it to the resolver (``payments.resolve_processing``, every 30 s), which settles it the same way.
"""

import logging

from payments.models import Payment
from payments.services import payment_confirm_execute, payment_outcome_known, payment_resolve

logger = logging.getLogger(__name__)

ACTOR = "system:async_confirmation"


def payment_confirm_later(*, payment_id: str) -> bool:
    """Queue steps 2 and 3 for a payment whose intent has committed. Never raises; returns whether it was queued.

    A broker that cannot be reached (``core.failsoft``) or a process that dies before this call loses only the
    hint: the payment stays ``processing`` and the resolver settles it within about a minute.
    """
    from core.failsoft import BROKER
    from payments.tasks import confirm_async

    return BROKER.call(
        lambda: bool(confirm_async.apply_async(args=[payment_id], retry=False)),
        otherwise=False,
        degraded="asynchronous confirmations are not queued; the resolver settles them",
    )


def payment_confirm_carry_on(*, payment_id: str, retried: bool) -> Payment | None:
    """Steps 2 and 3 of an asynchronous confirmation, in a worker. Safe to run any number of times.

    A payment whose outcome is already known (a duplicate message, a synchronous retry, a processor webhook or
    the resolver got there first) is returned as it is. Otherwise the first try calls the processor
    (``payment_confirm_execute``) and a ``retried`` one asks it about the key first (``payment_resolve``).
    Returns the payment as it is afterwards (still ``processing`` when the processor could not tell), or None
    when there is no such payment.
    """
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        logger.warning("asynchronous confirmation of %s: no such payment", payment_id)
        return None
    if payment_outcome_known(payment):
        return payment
    if retried:
        return payment_resolve(payment_id=payment_id, actor=ACTOR)
    return payment_confirm_execute(payment=payment, actor=ACTOR)
