"""Each business event's postings, its idempotency, and the two-phase flows."""

import pytest
from django.db import transaction

from core.ids import new_id
from ledger import posting_rules
from ledger.errors import LedgerError, LedgerEventMissing, PendingEntryResolved
from ledger.invariants import run_checks
from ledger.models import JournalEntry
from ledger.selectors import balance_get
from tests.ledger.helpers import lines, new_payment_id, signed_sum

pytestmark = pytest.mark.django_db

PENDING, POSTED = "pending", "posted"


def available(merchant, currency="USD"):
    return {b.currency: b.amount for b in balance_get(merchant=merchant).available}.get(currency, 0)


def authorize(merchant, amount=10_000, currency="USD"):
    pay = new_payment_id()
    with transaction.atomic():
        entry = posting_rules.payment_authorized(payment_id=pay, merchant=merchant, amount=amount, currency=currency)
    return pay, entry


def capture(merchant, amount=10_000, currency="USD", pay=None):
    """Capture ``pay`` (authorised before), or a new payment with automatic capture."""
    authorized = pay is not None
    pay = pay or new_payment_id()
    with transaction.atomic():
        entry = posting_rules.payment_captured(
            payment_id=pay, merchant=merchant, amount_captured=amount, currency=currency, authorized=authorized
        )
    return pay, entry


# --- Payments ------------------------------------------------------------------------------


def test_authorization_reserves_in_the_pending_phase_only(merchant):
    pay, entry = authorize(merchant, 10_000)

    assert entry.status == "pending" and entry.type == "authorization" and entry.source == pay
    assert entry.event_key == f"payment.authorized:{pay}" and entry.id.startswith("txn_")
    assert lines(entry) == [("merchant_pending", -10_000, PENDING), ("processor_receivable", 10_000, PENDING)]
    assert available(merchant) == 0
    assert balance_get(merchant=merchant).pending[0].amount == 0


def test_automatic_capture_posts_net_of_fee(merchant):
    pay, entry = capture(merchant, 10_000)

    assert entry.status == "posted" and entry.type == "charge" and entry.pending_entry is None
    assert lines(entry) == [
        ("fee_revenue", -320, POSTED),
        ("merchant_available", -9_680, POSTED),
        ("processor_receivable", 10_000, POSTED),
    ]
    assert available(merchant) == 9_680
    assert signed_sum(code="fee_revenue") == -320


def test_capturing_an_authorization_that_was_never_posted_is_refused(merchant):
    with transaction.atomic(), pytest.raises(LedgerEventMissing):
        posting_rules.payment_captured(
            payment_id=new_payment_id(), merchant=merchant, amount_captured=100, currency="USD", authorized=True
        )
    assert not JournalEntry.objects.exists()


def test_full_capture_of_an_authorization_posts_it(merchant):
    pay, auth = authorize(merchant, 10_000)
    _, entry = capture(merchant, 10_000, pay=pay)

    auth.refresh_from_db()
    assert auth.status == "posted"
    assert entry.pending_entry_id == auth.id and entry.status == "posted" and entry.type == "charge"
    assert lines(entry) == [
        ("fee_revenue", -320, POSTED),
        ("merchant_available", -9_680, POSTED),
        ("merchant_pending", 10_000, PENDING),
        ("processor_receivable", -10_000, PENDING),
        ("processor_receivable", 10_000, POSTED),
    ]
    assert signed_sum(code="merchant_pending", merchant=merchant, phase=PENDING) == 0
    assert available(merchant) == 9_680


def test_partial_capture_posts_part_and_releases_the_rest(merchant):
    pay, auth = authorize(merchant, 10_000)
    _, entry = capture(merchant, 6_000, pay=pay)

    auth.refresh_from_db()
    assert auth.status == "posted"
    fee = 174 + 30
    assert lines(entry) == [
        ("fee_revenue", -fee, POSTED),
        ("merchant_available", -(6_000 - fee), POSTED),
        ("merchant_pending", 10_000, PENDING),
        ("processor_receivable", -10_000, PENDING),
        ("processor_receivable", 6_000, POSTED),
    ]
    assert "4000 released" in entry.memo
    # Nothing stays reserved, and only the captured part moved.
    assert signed_sum(code="processor_receivable", phase=PENDING) == 0
    assert signed_sum(code="processor_receivable") == 6_000
    assert available(merchant) == 6_000 - fee
    assert run_checks().ok


def test_capture_of_more_than_authorized_is_refused(merchant):
    pay, auth = authorize(merchant, 10_000)
    with pytest.raises(LedgerError):
        capture(merchant, 10_001, pay=pay)
    auth.refresh_from_db()
    assert auth.status == "pending"


@pytest.mark.parametrize("reason", ["canceled", "expired"])
def test_release_voids_the_authorization(merchant, reason):
    pay, auth = authorize(merchant, 10_000)
    with transaction.atomic():
        entry = posting_rules.payment_authorization_released(payment_id=pay, reason=reason)

    auth.refresh_from_db()
    assert auth.status == "voided"
    assert entry.status == "voided" and entry.type == "authorization_release" and entry.memo == reason
    assert entry.pending_entry_id == auth.id
    assert lines(entry) == [("merchant_pending", 10_000, PENDING), ("processor_receivable", -10_000, PENDING)]
    assert signed_sum(code="processor_receivable", phase=PENDING) == 0
    assert available(merchant) == 0
    assert run_checks().ok


def test_release_without_authorization_is_a_no_op(merchant):
    with transaction.atomic():
        assert posting_rules.payment_authorization_released(payment_id=new_payment_id(), reason="canceled") is None
    assert not JournalEntry.objects.exists()


def test_a_pending_entry_is_resolved_at_most_once(merchant):
    pay, auth = authorize(merchant, 10_000)
    capture(merchant, 10_000, pay=pay)
    with pytest.raises(PendingEntryResolved) as refused:
        with transaction.atomic():
            posting_rules.payment_authorization_released(payment_id=pay, reason="expired")
    assert refused.value.code == "ledger_entry_already_resolved"

    pay2, auth2 = authorize(merchant, 5_000)
    with transaction.atomic():
        posting_rules.payment_authorization_released(payment_id=pay2, reason="canceled")
    with pytest.raises(PendingEntryResolved):
        capture(merchant, 5_000, pay=pay2)
    auth.refresh_from_db()
    auth2.refresh_from_db()
    assert (auth.status, auth2.status) == ("posted", "voided")
    assert JournalEntry.objects.filter(pending_entry__isnull=False).count() == 2


def test_payment_failed_writes_nothing(merchant):
    with transaction.atomic():
        assert posting_rules.payment_failed(payment_id=new_payment_id()) is None
    assert not JournalEntry.objects.exists()


def test_capture_in_another_currency_or_for_another_merchant_is_refused(merchant, other_merchant):
    pay, _ = authorize(merchant, 10_000, "USD")
    with pytest.raises(LedgerError):
        capture(merchant, 10_000, "EUR", pay=pay)
    with pytest.raises(LedgerError):
        capture(other_merchant, 10_000, "USD", pay=pay)
    assert available(other_merchant) == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, "100", True, 100_000_000_000, None])
def test_amounts_must_be_positive_integers(merchant, bad):
    with pytest.raises(ValueError):
        posting_rules.payment_authorized(payment_id=new_payment_id(), merchant=merchant, amount=bad, currency="USD")


def test_unknown_currency_is_refused(merchant):
    with pytest.raises(ValueError):
        posting_rules.payment_captured(
            payment_id=new_payment_id(), merchant=merchant, amount_captured=1, currency="XXX", authorized=False
        )


# --- Idempotency ---------------------------------------------------------------------------


def test_the_same_event_twice_is_one_entry(merchant):
    pay, auth = authorize(merchant, 10_000)
    with transaction.atomic():
        again = posting_rules.payment_authorized(payment_id=pay, merchant=merchant, amount=10_000, currency="USD")
    assert again.pk == auth.pk

    _, first = capture(merchant, 10_000, pay=pay)
    _, second = capture(merchant, 10_000, pay=pay)
    assert first.pk == second.pk

    with transaction.atomic():
        release = posting_rules.payment_authorization_released  # already captured: refused, not replayed
        with pytest.raises(PendingEntryResolved):
            release(payment_id=pay, reason="canceled")

    assert JournalEntry.objects.count() == 2
    assert available(merchant) == 9_680


def test_every_rule_is_idempotent(merchant):
    pay, _ = capture(merchant, 10_000)
    refund_id, dispute_id, adjustment_id = new_id("re"), new_id("dp"), new_id("adj")
    calls = [
        lambda: posting_rules.payment_captured(
            payment_id=pay, merchant=merchant, amount_captured=10_000, currency="USD", authorized=False
        ),
        lambda: posting_rules.refund_created(
            refund_id=refund_id, payment_id=pay, merchant=merchant, amount=1_000, currency="USD"
        ),
        lambda: posting_rules.refund_succeeded(refund_id=refund_id),
        lambda: posting_rules.dispute_opened(
            dispute_id=dispute_id, payment_id=pay, merchant=merchant, amount=2_000, fee=1_500, currency="USD"
        ),
        lambda: posting_rules.dispute_won(dispute_id=dispute_id),
        lambda: posting_rules.manual_adjustment(
            adjustment_id=adjustment_id, merchant=merchant, amount=-700, currency="USD", memo="correction"
        ),
    ]
    for call in calls:
        with transaction.atomic():
            first = call()
        count = JournalEntry.objects.count()
        with transaction.atomic():
            second = call()
        assert second.pk == first.pk
        assert JournalEntry.objects.count() == count
    assert available(merchant) == 9_680 - 1_000 - 3_500 + 2_000 - 700
    assert run_checks().ok


# --- Refunds -------------------------------------------------------------------------------


def test_refund_reserves_then_posts(merchant):
    pay, _ = capture(merchant, 10_000)
    refund_id = new_id("re")
    with transaction.atomic():
        created = posting_rules.refund_created(
            refund_id=refund_id, payment_id=pay, merchant=merchant, amount=4_000, currency="USD"
        )
    assert created.status == "pending" and created.type == "refund" and created.source == refund_id
    assert lines(created) == [("merchant_available", 4_000, PENDING), ("processor_receivable", -4_000, PENDING)]
    assert available(merchant) == 9_680  # a refund in flight does not move the posted balance

    with transaction.atomic():
        succeeded = posting_rules.refund_succeeded(refund_id=refund_id)
    created.refresh_from_db()
    assert created.status == "posted" and succeeded.pending_entry_id == created.id
    assert succeeded.type == "refund" and succeeded.status == "posted"
    assert lines(succeeded) == [
        ("merchant_available", -4_000, PENDING),
        ("merchant_available", 4_000, POSTED),
        ("processor_receivable", -4_000, POSTED),
        ("processor_receivable", 4_000, PENDING),
    ]
    assert available(merchant) == 5_680
    assert signed_sum(code="processor_receivable") == 6_000


def test_refund_failure_before_success_releases_it(merchant):
    pay, _ = capture(merchant, 10_000)
    refund_id = new_id("re")
    with transaction.atomic():
        created = posting_rules.refund_created(
            refund_id=refund_id, payment_id=pay, merchant=merchant, amount=10_000, currency="USD"
        )
        failed = posting_rules.refund_failed(refund_id=refund_id)
    created.refresh_from_db()
    assert created.status == "voided" and failed.status == "voided" and failed.type == "refund_release"
    assert lines(failed) == [("merchant_available", -10_000, PENDING), ("processor_receivable", 10_000, PENDING)]
    assert available(merchant) == 9_680
    with pytest.raises(PendingEntryResolved):
        with transaction.atomic():
            posting_rules.refund_succeeded(refund_id=refund_id)


def test_refund_failure_after_success_returns_the_money(merchant):
    pay, _ = capture(merchant, 10_000)
    refund_id = new_id("re")
    with transaction.atomic():
        posting_rules.refund_created(
            refund_id=refund_id, payment_id=pay, merchant=merchant, amount=10_000, currency="USD"
        )
        posting_rules.refund_succeeded(refund_id=refund_id)
    assert available(merchant) == -320  # the fee is not returned with a refund
    with transaction.atomic():
        failure = posting_rules.refund_failed(refund_id=refund_id)
    assert failure.type == "refund_failure" and failure.status == "posted"
    assert lines(failure) == [("merchant_available", -10_000, POSTED), ("processor_receivable", 10_000, POSTED)]
    assert available(merchant) == 9_680
    assert run_checks().ok


def test_refund_rules_need_the_refund_to_exist(merchant):
    with pytest.raises(LedgerEventMissing):
        posting_rules.refund_succeeded(refund_id=new_id("re"))
    with pytest.raises(LedgerEventMissing):
        posting_rules.refund_failed(refund_id=new_id("re"))


# --- Disputes ------------------------------------------------------------------------------


def test_dispute_opened_takes_amount_and_fee(merchant):
    pay, _ = capture(merchant, 10_000)
    dispute_id = new_id("dp")
    with transaction.atomic():
        entry = posting_rules.dispute_opened(
            dispute_id=dispute_id, payment_id=pay, merchant=merchant, amount=10_000, fee=1_500, currency="USD"
        )
    assert entry.type == "dispute" and entry.status == "posted" and entry.source == dispute_id
    assert lines(entry) == [
        ("fee_revenue", -1_500, POSTED),
        ("merchant_available", 11_500, POSTED),
        ("processor_receivable", -10_000, POSTED),
    ]
    assert available(merchant) == 9_680 - 11_500  # may go negative: the processor already took it


def test_dispute_won_returns_the_amount_not_the_fee(merchant):
    pay, _ = capture(merchant, 10_000)
    dispute_id = new_id("dp")
    with transaction.atomic():
        posting_rules.dispute_opened(
            dispute_id=dispute_id, payment_id=pay, merchant=merchant, amount=10_000, fee=1_500, currency="USD"
        )
        won = posting_rules.dispute_won(dispute_id=dispute_id)
    assert won.type == "dispute_reversal" and won.source == dispute_id
    assert lines(won) == [("merchant_available", -10_000, POSTED), ("processor_receivable", 10_000, POSTED)]
    assert available(merchant) == 9_680 - 1_500
    with pytest.raises(LedgerError):
        posting_rules.dispute_lost(dispute_id=dispute_id)


def test_dispute_lost_moves_nothing_more(merchant):
    pay, _ = capture(merchant, 10_000)
    dispute_id = new_id("dp")
    with transaction.atomic():
        posting_rules.dispute_opened(
            dispute_id=dispute_id, payment_id=pay, merchant=merchant, amount=10_000, fee=0, currency="USD"
        )
        count = JournalEntry.objects.count()
        assert posting_rules.dispute_lost(dispute_id=dispute_id) is None
    assert JournalEntry.objects.count() == count
    assert available(merchant) == 9_680 - 10_000
    with pytest.raises(LedgerEventMissing):
        posting_rules.dispute_lost(dispute_id=new_id("dp"))
    with pytest.raises(LedgerEventMissing):
        posting_rules.dispute_won(dispute_id=new_id("dp"))


# --- Adjustments ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [500, -500])
def test_manual_adjustment_moves_the_available_balance(merchant, amount):
    adjustment_id = new_id("adj")
    with transaction.atomic():
        entry = posting_rules.manual_adjustment(
            adjustment_id=adjustment_id, merchant=merchant, amount=amount, currency="USD", memo="goodwill"
        )
    assert entry.type == "adjustment" and entry.memo == "goodwill" and entry.source == adjustment_id
    assert lines(entry) == sorted([("adjustments", amount, POSTED), ("merchant_available", -amount, POSTED)])
    assert available(merchant) == amount


def test_manual_adjustment_of_zero_is_refused(merchant):
    with pytest.raises(ValueError):
        posting_rules.manual_adjustment(
            adjustment_id=new_id("adj"), merchant=merchant, amount=0, currency="USD", memo=""
        )


def test_accounts_are_per_merchant_and_currency(merchant, other_merchant):
    capture(merchant, 10_000, "USD")
    capture(merchant, 10_000, "EUR")
    capture(other_merchant, 5_000, "EUR")
    assert available(merchant, "USD") == 9_680
    assert available(merchant, "EUR") == 10_000 - 290 - 25
    assert available(other_merchant, "EUR") == 5_000 - 145 - 25
    # One platform receivable per currency, shared.
    assert signed_sum(code="processor_receivable", currency="EUR") == 15_000
    assert run_checks().ok
