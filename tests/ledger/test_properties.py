"""Property: any sequence of payment, refund and dispute events keeps every ledger invariant.

Hypothesis draws sequences of authorise / capture / partial capture / automatic
capture / cancel / expire / refund (created, succeeded, failed) / dispute
(opened, won, lost) / duplicate delivery across a few payments. A plain model of
what should have happened is kept beside the ledger; after every sequence the
balances must equal the model's and every ledger_check invariant must hold.
Events the payment state machine would refuse are sent anyway when the ledger
must refuse them too (capture after cancel, cancel after capture, a second
outcome for a refund).
"""

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ids import new_id
from ledger import posting_rules
from ledger.errors import PendingEntryResolved
from ledger.fees import platform_fee
from ledger.invariants import run_checks
from ledger.models import JournalEntry
from merchants.services import merchant_create
from tests.ledger.helpers import signed_sum

PAYMENTS = 4

# Each step picks a payment and one of the actions its state allows (by index), so every step does something.
operations = st.lists(
    st.tuples(st.integers(0, PAYMENTS - 1), st.integers(0, 1_000), st.integers(1, 100_000)),
    min_size=20,
    max_size=60,
)


@dataclass
class PaymentModel:
    id: str = field(default_factory=lambda: new_id("pay"))
    status: str = "new"  # new | authorized | captured | released
    authorized: int = 0
    captured: int = 0
    refund_reserved: int = 0  # created or succeeded, not failed
    refunds: list = field(default_factory=list)  # [refund_id, amount, status]
    dispute: list | None = None  # [dispute_id, amount, fee, status]


@dataclass
class LedgerModel:
    available: int = 0
    reserved_authorizations: int = 0
    reserved_refunds: int = 0
    receivable: int = 0
    fees: int = 0


def run(call):
    with transaction.atomic():
        return call()


def actions_for(payment: "PaymentModel", history: list) -> list[str]:
    """What may happen next to ``payment``, including events the ledger must refuse; productive ones first."""
    replay = ["replay"] if history else []
    if payment.status == "new":
        return ["auto_capture", "authorize", "cancel", *replay]
    if payment.status == "authorized":
        return ["capture_partial", "capture", "cancel", "expire", *replay]
    if payment.status == "released":
        return ["capture", "expire", *replay]
    statuses = {refund[2] for refund in payment.refunds}
    actions = ["refund"] if payment.captured > payment.refund_reserved else []
    actions += ["refund_succeed", "refund_fail"] if statuses else []
    actions += ["dispute_open"] if payment.dispute is None else []
    actions += ["dispute_win", "dispute_lose"] if payment.dispute and payment.dispute[3] == "open" else []
    actions += ["cancel"] if payment.authorized else []
    return [*actions, *replay] or ["replay"]


def apply(kind: str, payment: PaymentModel, number: int, merchant, expected: LedgerModel, history: list) -> None:
    """Apply one operation to the ledger and to the model (or check that the ledger refuses it)."""
    pay = payment.id
    if kind == "authorize" and payment.status == "new":
        call = lambda: posting_rules.payment_authorized(
            payment_id=pay,
            merchant=merchant,
            amount=number,
            currency="USD",
        )
        run(call)
        history.append(call)
        payment.status, payment.authorized = "authorized", number
        expected.reserved_authorizations += number
    elif kind in ("capture", "capture_partial", "auto_capture"):
        if payment.status == "new":  # automatic capture: no authorisation first
            amount = number
        elif payment.status == "authorized":
            amount = payment.authorized if kind == "capture" else 1 + number % payment.authorized
        elif payment.status == "released":
            with pytest.raises(PendingEntryResolved):
                run(
                    lambda: posting_rules.payment_captured(
                        payment_id=pay,
                        merchant=merchant,
                        amount_captured=payment.authorized,
                        currency="USD",
                        authorized=True,
                    )
                )
            return
        else:
            return
        authorized = payment.status == "authorized"
        call = lambda: posting_rules.payment_captured(
            payment_id=pay,
            merchant=merchant,
            amount_captured=amount,
            currency="USD",
            authorized=authorized,
        )
        run(call)
        history.append(call)
        fee = platform_fee(amount=amount, currency="USD")
        if payment.status == "authorized":
            expected.reserved_authorizations -= payment.authorized
        payment.status, payment.captured = "captured", amount
        expected.available += amount - fee
        expected.receivable += amount
        expected.fees += fee
    elif kind in ("cancel", "expire"):
        reason = "canceled" if kind == "cancel" else "expired"
        call = lambda: posting_rules.payment_authorization_released(payment_id=pay, reason=reason)
        if payment.status == "authorized":
            run(call)
            history.append(call)
            payment.status = "released"
            expected.reserved_authorizations -= payment.authorized
        elif payment.status == "new":
            assert run(call) is None
        elif payment.status == "captured" and payment.authorized:
            with pytest.raises(PendingEntryResolved):
                run(call)
    elif kind == "refund" and payment.status == "captured":
        left = payment.captured - payment.refund_reserved
        if left <= 0:
            return
        amount = 1 + number % left
        refund_id = new_id("re")
        call = lambda: posting_rules.refund_created(
            refund_id=refund_id,
            payment_id=pay,
            merchant=merchant,
            amount=amount,
            currency="USD",
        )
        run(call)
        history.append(call)
        payment.refunds.append([refund_id, amount, "pending"])
        payment.refund_reserved += amount
        expected.reserved_refunds += amount
    elif kind in ("refund_succeed", "refund_fail") and payment.refunds:
        # Refund statuses: pending -> succeeded -> reversed (failed after success), or pending -> voided.
        refund = payment.refunds[number % len(payment.refunds)]
        if kind == "refund_succeed" and refund[2] == "succeeded":
            refund = next((r for r in payment.refunds if r[2] != "succeeded"), refund)
        refund_id, amount, status = refund
        rule = posting_rules.refund_succeeded if kind == "refund_succeed" else posting_rules.refund_failed
        call = lambda: rule(refund_id=refund_id)
        if status == "pending":
            run(call)
            history.append(call)
            expected.reserved_refunds -= amount
            if kind == "refund_succeed":
                refund[2] = "succeeded"
                expected.available -= amount
                expected.receivable -= amount
            else:
                refund[2] = "voided"
                payment.refund_reserved -= amount
        elif status == "succeeded" and kind == "refund_fail":
            run(call)  # the processor failed it after all: the money comes back
            history.append(call)
            refund[2] = "reversed"
            payment.refund_reserved -= amount
            expected.available += amount
            expected.receivable += amount
        elif status == "voided" and kind == "refund_succeed":
            with pytest.raises(PendingEntryResolved):
                run(call)
        else:
            # A late duplicate of an outcome already recorded (success, or a failure): a replay, no new entry.
            count = JournalEntry.objects.count()
            run(call)
            assert JournalEntry.objects.count() == count
    elif kind == "dispute_open" and payment.status == "captured" and payment.dispute is None:
        amount, fee = payment.captured, number % 2_000
        dispute_id = new_id("dp")
        call = lambda: posting_rules.dispute_opened(
            dispute_id=dispute_id,
            payment_id=pay,
            merchant=merchant,
            amount=amount,
            fee=fee,
            currency="USD",
        )
        run(call)
        history.append(call)
        payment.dispute = [dispute_id, amount, fee, "open"]
        expected.available -= amount + fee
        expected.receivable -= amount
        expected.fees += fee
    elif kind in ("dispute_win", "dispute_lose") and payment.dispute and payment.dispute[3] == "open":
        dispute_id, amount = payment.dispute[0], payment.dispute[1]
        if kind == "dispute_win":
            run(lambda: posting_rules.dispute_won(dispute_id=dispute_id))
            payment.dispute[3] = "won"
            expected.available += amount
            expected.receivable += amount
        else:
            assert run(lambda: posting_rules.dispute_lost(dispute_id=dispute_id)) is None
            payment.dispute[3] = "lost"
    elif kind == "replay" and history:
        # A duplicate delivery of an earlier event: the same entry comes back, nothing new is written.
        count = JournalEntry.objects.count()
        run(history[number % len(history)])
        assert JournalEntry.objects.count() == count


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_any_sequence_of_events_keeps_the_invariants(ops):
    with transaction.atomic():
        merchant = merchant_create(name="Property merchant")
        payments = [PaymentModel() for _ in range(PAYMENTS)]
        expected = LedgerModel()
        history: list = []
        for index, choice, number in ops:
            payment = payments[index]
            actions = actions_for(payment, history)
            apply(actions[choice % len(actions)], payment, number, merchant, expected, history)

        # Balances equal the model's.
        assert -signed_sum(code="merchant_available", merchant=merchant) == expected.available
        assert signed_sum(code="merchant_pending", merchant=merchant) == 0
        assert -signed_sum(code="merchant_pending", merchant=merchant, phase="pending") == (
            expected.reserved_authorizations
        )
        assert signed_sum(code="merchant_available", merchant=merchant, phase="pending") == expected.reserved_refunds
        assert signed_sum(code="processor_receivable") == expected.receivable
        assert -signed_sum(code="fee_revenue") == expected.fees
        # Every invariant holds: entries balance, totals are zero, no limit is broken,
        # every pending entry is resolved at most once and exactly reversed.
        report = run_checks()
        assert report.ok, report.as_dict()
        # Each example starts from an empty ledger.
        transaction.set_rollback(True)
