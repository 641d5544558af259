"""The posting engine: balance per phase, transactions, idempotency, balance limits, accounts."""

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from core.ids import new_id
from edge.exception_handler import error_answer
from ledger import posting_rules
from ledger.errors import InsufficientBalance, LedgerError, LedgerEventConflict, UnbalancedEntry
from ledger.invariants import run_checks
from ledger.models import Account, JournalEntry, Posting
from ledger.services import (
    Leg,
    accounts_get_or_create,
    entry_post,
    entry_post_pending,
    entry_resolve_pending,
    entry_reverse,
)
from tests.ledger.helpers import lines, new_payment_id, signed_sum

PENDING, POSTED = "pending", "posted"


def _accounts(merchant, currency="USD"):
    return accounts_get_or_create(
        merchant=merchant,
        currency=currency,
        codes=["processor_receivable", "merchant_available", "merchant_pending", "fee_revenue", "adjustments"],
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amounts",
    [
        (100, -99),  # does not sum to zero
        (100, -100, 0),  # a zero posting
        (),  # nothing at all
    ],
)
def test_unbalanced_entries_are_refused(merchant, amounts):
    accounts = _accounts(merchant)
    codes = ["processor_receivable", "merchant_available", "fee_revenue"]
    legs = [Leg(accounts[code], amount) for code, amount in zip(codes, amounts, strict=False)]
    with pytest.raises(UnbalancedEntry):
        entry_post(event_key=new_id("evt"), type="adjustment", source="x", merchant=merchant, currency="USD", legs=legs)
    assert not JournalEntry.objects.exists() and not Posting.objects.exists()


@pytest.mark.django_db
def test_entries_balance_per_currency(merchant):
    usd, eur = _accounts(merchant, "USD"), _accounts(merchant, "EUR")
    # 100 USD in and 100 EUR out sums to zero numerically but not per currency.
    legs = [Leg(usd["processor_receivable"], 100), Leg(eur["merchant_available"], -100)]
    with pytest.raises(UnbalancedEntry):
        entry_post(event_key=new_id("evt"), type="adjustment", source="x", merchant=merchant, currency="USD", legs=legs)
    # An FX-style entry balanced in each currency is fine.
    legs = [
        Leg(usd["processor_receivable"], 100),
        Leg(usd["merchant_available"], -100),
        Leg(eur["merchant_available"], 90),
        Leg(eur["processor_receivable"], -90),
    ]
    entry = entry_post(
        event_key=new_id("evt"), type="adjustment", source="x", merchant=merchant, currency="USD", legs=legs
    )
    assert len(lines(entry)) == 4
    assert run_checks().ok


@pytest.mark.django_db(transaction=True)
def test_the_engine_refuses_to_run_outside_a_transaction(merchant):
    with pytest.raises(TransactionManagementError):
        posting_rules.payment_authorized(payment_id=new_payment_id(), merchant=merchant, amount=100, currency="USD")
    with pytest.raises(TransactionManagementError):
        accounts_get_or_create(merchant=merchant, currency="USD", codes=["merchant_available"])
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_entries_roll_back_with_the_callers_transaction(merchant):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            posting_rules.payment_captured(
                payment_id=new_payment_id(), merchant=merchant, amount_captured=100, currency="USD", authorized=False
            )
            raise RuntimeError("the payment's own write failed")
    assert not JournalEntry.objects.exists() and not Posting.objects.exists()


@pytest.mark.django_db
def test_a_replay_with_other_facts_is_a_conflict(merchant, other_merchant):
    accounts = _accounts(merchant)
    legs = [Leg(accounts["adjustments"], 5), Leg(accounts["merchant_available"], -5)]
    entry_post(
        event_key="adjustment:adj_1", type="adjustment", source="adj_1", merchant=merchant, currency="USD", legs=legs
    )
    with pytest.raises(LedgerEventConflict):
        entry_post(
            event_key="adjustment:adj_1", type="charge", source="adj_1", merchant=merchant, currency="USD", legs=legs
        )
    with pytest.raises(LedgerEventConflict):
        entry_post(
            event_key="adjustment:adj_1",
            type="adjustment",
            source="adj_1",
            merchant=other_merchant,
            currency="USD",
            legs=legs,
        )
    assert JournalEntry.objects.count() == 1


@pytest.mark.django_db
def test_resolve_needs_the_right_legs(merchant):
    accounts = _accounts(merchant)
    pending = entry_post_pending(
        event_key=new_id("evt"),
        type="authorization",
        source="pay_x",
        merchant=merchant,
        currency="USD",
        legs=[Leg(accounts["processor_receivable"], 50), Leg(accounts["merchant_pending"], -50)],
    )
    with pytest.raises(LedgerError):
        entry_resolve_pending(pending_entry=pending, action="post", event_key=new_id("evt"), type="charge")
    with pytest.raises(LedgerError):
        entry_resolve_pending(
            pending_entry=pending,
            action="void",
            event_key=new_id("evt"),
            type="authorization_release",
            legs=[Leg(accounts["merchant_available"], 1)],
        )
    with pytest.raises(ValueError):
        entry_resolve_pending(pending_entry=pending, action="capture", event_key=new_id("evt"), type="charge")
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_entry_reverse_negates_the_posted_postings(merchant):
    charge = posting_rules.payment_captured(
        payment_id=new_payment_id(), merchant=merchant, amount_captured=1_000, currency="USD", authorized=False
    )
    reversal = entry_reverse(entry=charge, event_key=f"reverse:{charge.pk}", type="adjustment", memo="mistake")
    assert sorted((code, -amount, phase) for code, amount, phase in lines(charge)) == lines(reversal)
    assert signed_sum(code="merchant_available", merchant=merchant) == 0
    assert run_checks().ok


# --- Balance limits --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_debit_beyond_the_credits_of_a_limited_account_is_refused(merchant):
    accounts = _accounts(merchant)
    # A limited account no posting rule uses: posted merchant_pending is the captures' and maturing's only.
    limited = accounts_get_or_create(merchant=merchant, currency="USD", codes=["dispute_reserve"])["dispute_reserve"]
    assert limited.debits_must_not_exceed_credits

    def move(amount, *, pending=False, key=None):
        post = entry_post_pending if pending else entry_post
        return post(
            event_key=key or new_id("evt"),
            type="adjustment",
            source="x",
            merchant=merchant,
            currency="USD",
            legs=[Leg(limited, amount), Leg(accounts["adjustments"], -amount)],
        )

    with pytest.raises(InsufficientBalance) as refused:
        move(1)  # nothing credited yet
    assert refused.value.code == "balance_insufficient" and error_answer(refused.value).status == 400

    move(-1_000)  # credit 1 000 (posted)
    move(600)  # debit 600 of it
    reservation = move(300, pending=True)  # reserve 300 more: 100 left
    with pytest.raises(InsufficientBalance):
        move(101)
    with pytest.raises(InsufficientBalance):
        move(101, pending=True)
    move(100)  # exactly the rest

    # Voiding the reservation frees its 300 again.
    entry_resolve_pending(
        pending_entry=reservation, action="void", event_key=new_id("evt"), type="authorization_release"
    )
    move(300)
    with pytest.raises(InsufficientBalance):
        move(1)
    assert signed_sum(code="dispute_reserve", merchant=merchant) == 0
    assert run_checks().ok


@pytest.mark.django_db
def test_an_entry_that_asks_for_a_floor_may_not_take_the_account_below_zero_and_others_still_may(merchant):
    accounts = _accounts(merchant)
    available = accounts["merchant_available"]
    assert not available.debits_must_not_exceed_credits  # no limit of its own: disputes may take it negative

    def move(amount, *, floor):
        return entry_post(
            event_key=new_id("evt"),
            type="adjustment",
            source="x",
            merchant=merchant,
            currency="USD",
            legs=[Leg(available, amount), Leg(accounts["adjustments"], -amount)],
            not_below_zero=[available] if floor else (),
        )

    move(-1_000, floor=False)  # credit 1 000
    with pytest.raises(InsufficientBalance) as refused:
        move(1_001, floor=True)
    assert refused.value.code == "balance_insufficient"
    assert signed_sum(code="merchant_available", merchant=merchant) == -1_000  # the refused entry is not written
    move(1_000, floor=True)  # exactly all of it
    move(500, floor=False)  # an entry without the floor goes below zero
    assert signed_sum(code="merchant_available", merchant=merchant) == 500
    with pytest.raises(InsufficientBalance):
        move(1, floor=True)
    assert run_checks().ok


@pytest.mark.django_db
def test_posting_a_reservation_counts_once(merchant):
    accounts = _accounts(merchant)
    limited = accounts_get_or_create(merchant=merchant, currency="USD", codes=["dispute_reserve"])["dispute_reserve"]
    entry_post(
        event_key=new_id("evt"),
        type="adjustment",
        source="x",
        merchant=merchant,
        currency="USD",
        legs=[Leg(limited, -500), Leg(accounts["adjustments"], 500)],
    )
    reservation = entry_post_pending(
        event_key=new_id("evt"),
        type="adjustment",
        source="x",
        merchant=merchant,
        currency="USD",
        legs=[Leg(limited, 500), Leg(accounts["adjustments"], -500)],
    )
    # Posting the whole reservation: its pending debit is reversed as its posted debit lands.
    entry_resolve_pending(
        pending_entry=reservation,
        action="post",
        event_key=new_id("evt"),
        type="adjustment",
        legs=[Leg(limited, 500), Leg(accounts["adjustments"], -500)],
    )
    assert signed_sum(code="dispute_reserve", merchant=merchant) == 0  # credited 500, debited 500
    with pytest.raises(InsufficientBalance):
        entry_post(
            event_key=new_id("evt"),
            type="adjustment",
            source="x",
            merchant=merchant,
            currency="USD",
            legs=[Leg(limited, 1), Leg(accounts["adjustments"], -1)],
        )
    assert run_checks().ok


@pytest.mark.django_db
def test_credits_must_not_exceed_debits(merchant):
    account = Account.objects.create(
        code="fx_clearing", type="asset", currency="USD", credits_must_not_exceed_debits=True
    )
    other = _accounts(merchant)["adjustments"]
    with pytest.raises(InsufficientBalance):
        entry_post(
            event_key=new_id("evt"),
            type="adjustment",
            source="x",
            merchant=None,
            currency="USD",
            legs=[Leg(account, -1), Leg(other, 1)],
        )
    entry_post(
        event_key=new_id("evt"),
        type="adjustment",
        source="x",
        merchant=None,
        currency="USD",
        legs=[Leg(account, 10), Leg(other, -10)],
    )
    entry_post(
        event_key=new_id("evt"),
        type="adjustment",
        source="x",
        merchant=None,
        currency="USD",
        legs=[Leg(account, -10), Leg(other, 10)],
    )
    assert run_checks().ok


# --- Accounts ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_accounts_are_created_once_from_the_chart(merchant):
    first = _accounts(merchant)
    second = _accounts(merchant)
    assert {code: a.pk for code, a in first.items()} == {code: a.pk for code, a in second.items()}
    assert Account.objects.count() == 5
    assert first["merchant_available"].merchant_id == merchant.pk and first["merchant_available"].type == "liability"
    assert first["processor_receivable"].merchant_id is None and first["processor_receivable"].type == "asset"
    assert first["fee_revenue"].type == "revenue" and first["adjustments"].type == "expense"
    assert all(a.pk.startswith("acct_") for a in first.values())


@pytest.mark.django_db
def test_a_lost_creation_race_rereads_the_winner(merchant, monkeypatch):
    """The second creator hits the unique constraint inside a savepoint and returns the existing row."""
    winner = _accounts(merchant)["merchant_available"]
    monkeypatch.setattr(Account.objects, "filter", lambda *a, **k: Account.objects.none())
    again = accounts_get_or_create(merchant=merchant, currency="USD", codes=["merchant_available"])
    assert again["merchant_available"].pk == winner.pk
    assert Account.objects.all().count() == 5


@pytest.mark.django_db
def test_merchant_accounts_need_a_merchant():
    with pytest.raises(LedgerError):
        accounts_get_or_create(merchant=None, currency="USD", codes=["merchant_available"])
