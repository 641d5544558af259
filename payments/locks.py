"""Every row lock payments takes, in one place, so every transaction takes them in the same order.

The order, for any transaction that holds more than one:

1. the payment (``payment_lock``);
2. then one of its refunds or disputes (``refund_lock``, ``dispute_lock``);
3. then the ledger's accounts, which ``ledger.services`` locks itself, in primary-key order, when a
   posting rule runs: postings always come after the rows they describe.

A refund or a dispute is never locked before its payment: a service that starts from a refund reads the
refund's ``payment_id`` (which never changes) without a lock, locks the payment, then the refund. Two
transactions that follow this order can wait for each other but never deadlock.

An exchange rate (``fx_rate_lock``, ``fx_rate_lock_pair``) is locked only by the rate import and the
admin's edit, which take no other lock; so is a routing rule (``routing_rule_lock``), by the admin's edit.
The settlement conversion "locked" at confirmation
(``services._lock_settlement``) is not a row lock: it fixes the payment's settlement amount and rate while
the payment's row is locked.

Every lock is held until the caller's transaction ends (Django refuses one outside a transaction), and no
caller may call the processor while it holds one (design.md): the callers open short transactions around
these calls.
"""

from core.db import PreparedRead
from payments.models import Dispute, FxRate, Payment, Refund, RoutingRule

# Every confirmation, capture, refund and dispute locks its payment first: compiled once (core.db.PreparedRead).
# The merchant comes with it (its settlement delay is read at capture) and is not locked: FOR UPDATE OF the
# payment only, so a merchant's payments never wait for each other.
_payment_for_update = PreparedRead(
    lambda payment_id: Payment.objects.select_related("merchant").select_for_update(of=("self",)).filter(pk=payment_id)
)


def payment_lock(payment_id: str) -> Payment:
    """The payment (its merchant attached, not locked), locked FOR UPDATE until the caller's transaction ends.
    Lock it first."""
    return _payment_for_update.get(payment_id)


def refund_lock(refund_id: str) -> Refund:
    """The refund, locked FOR UPDATE. Its payment, when the caller needs it too, must be locked before."""
    return Refund.objects.select_for_update().get(pk=refund_id)


def dispute_lock(dispute_id: str) -> Dispute:
    """The dispute, locked FOR UPDATE. Its payment, when the caller needs it too, must be locked before."""
    return Dispute.objects.select_for_update().get(pk=dispute_id)


def fx_rate_lock(rate_id: int) -> FxRate:
    """The exchange rate, locked FOR UPDATE."""
    return FxRate.objects.select_for_update().get(pk=rate_id)


def fx_rate_lock_pair(*, base_currency: str, quote_currency: str) -> FxRate | None:
    """The rate of a currency pair, locked FOR UPDATE, or None when there is none yet."""
    return FxRate.objects.select_for_update().filter(base_currency=base_currency, quote_currency=quote_currency).first()


def routing_rule_lock(rule_id: int) -> RoutingRule:
    """The routing rule, locked FOR UPDATE (its edit reads what it was for the audit trail)."""
    return RoutingRule.objects.select_for_update().get(pk=rule_id)
