"""ledger_check's ``funds_mature``: passes on captures pending and matured, and names each corruption written
behind the engine's back (merchant_pending touched by something else, a capture matured twice or early,
one missing from the maturing work list)."""

import time

import pytest

from core.ids import new_id
from ledger import invariants, posting_rules
from ledger.errors import LedgerError
from ledger.maturing import funds_mature_due
from ledger.models import JournalEntry, MaturingFunds, Posting
from ledger.services import accounts_get_or_create
from tests.ledger.helpers import new_payment_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def delay(settings):
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 1


def capture(merchant, amount=10_000) -> JournalEntry:
    return posting_rules.payment_captured(
        payment_id=new_payment_id(), merchant=merchant, amount_captured=amount, currency="USD", authorized=False
    )


@pytest.fixture
def matured_and_pending(merchant, delay):
    """One capture matured (and refunded in part), one still pending."""
    matured = capture(merchant)
    refund = new_id("re")
    posting_rules.refund_created(
        refund_id=refund, payment_id=matured.source, merchant=merchant, amount=1_000, currency="USD"
    )
    posting_rules.refund_succeeded(refund_id=refund)
    time.sleep(1.05)
    assert funds_mature_due() == 1
    pending = capture(merchant, 5_000)
    return matured, pending


def funds_mature(report):
    return next(result for result in report.results if result.name == "funds_mature")


def corrupt_entry(merchant, *, type="adjustment", source="x", event_key=None, **fields) -> JournalEntry:
    return JournalEntry.objects.create(
        event_key=event_key or new_id("evt"),
        type=type,
        source=source,
        merchant=merchant,
        currency="USD",
        status="posted",
        **fields,
    )


def test_a_sound_ledger_with_pending_and_matured_funds_passes(matured_and_pending):
    report = invariants.run_checks()
    assert report.ok, report.as_dict()
    assert funds_mature(report).status == "passed"


def test_funds_are_not_matured_before_their_available_on_nor_where_there_are_none(merchant, delay):
    entry = capture(merchant)
    with pytest.raises(LedgerError, match="not due"):
        posting_rules.funds_matured(entry=entry)
    assert funds_mature_due() == 0
    refund = new_id("re")
    posting_rules.refund_created(
        refund_id=refund, payment_id=entry.source, merchant=merchant, amount=100, currency="USD"
    )
    refunded = posting_rules.refund_succeeded(refund_id=refund)
    with pytest.raises(LedgerError, match="no pending funds"):
        posting_rules.funds_matured(entry=refunded)


def test_something_else_posting_to_merchant_pending_is_found(matured_and_pending, merchant):
    accounts = accounts_get_or_create(merchant=merchant, currency="USD", codes=["merchant_pending", "adjustments"])
    entry = corrupt_entry(merchant)
    Posting.objects.create(entry=entry, account=accounts["merchant_pending"], amount=-700, phase="posted")
    Posting.objects.create(entry=entry, account=accounts["adjustments"], amount=700, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["foreign_posting", entry.pk] in result.sample
    assert ["pending_mismatch", accounts["merchant_pending"].pk] in result.sample


def test_a_capture_matured_twice_is_found(matured_and_pending, merchant):
    matured, _ = matured_and_pending
    accounts = accounts_get_or_create(
        merchant=merchant, currency="USD", codes=["merchant_pending", "merchant_available"]
    )
    again = corrupt_entry(merchant, type="funds_matured", source=matured.source, event_key=f"again:{matured.pk}")
    amount = JournalEntry.objects.get(event_key=f"funds.matured:{matured.pk}").postings.get(amount__gt=0).amount
    Posting.objects.create(entry=again, account=accounts["merchant_pending"], amount=amount, phase="posted")
    Posting.objects.create(entry=again, account=accounts["merchant_available"], amount=-amount, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["matured_twice", matured.source] in result.sample
    assert ["maturing_without_source", again.pk] in result.sample
    assert ["pending_mismatch", accounts["merchant_pending"].pk] in result.sample


def test_a_capture_matured_before_its_available_on_is_found(matured_and_pending, merchant):
    _, pending = matured_and_pending
    accounts = accounts_get_or_create(
        merchant=merchant, currency="USD", codes=["merchant_pending", "merchant_available"]
    )
    early = corrupt_entry(
        merchant, type="funds_matured", source=pending.source, event_key=f"funds.matured:{pending.pk}"
    )
    amount = -pending.postings.get(account__code="merchant_pending").amount
    Posting.objects.create(entry=early, account=accounts["merchant_pending"], amount=amount, phase="posted")
    Posting.objects.create(entry=early, account=accounts["merchant_available"], amount=-amount, phase="posted")

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert ["matured_early", early.pk] in result.sample
    assert result.failures == 1  # the amounts agree: only its timing is wrong


def test_unmatured_funds_missing_from_the_work_list_are_found(matured_and_pending):
    _, pending = matured_and_pending
    MaturingFunds.objects.filter(entry=pending).delete()

    result = funds_mature(invariants.run_checks())
    assert result.status == "failed"
    assert result.sample == [["unscheduled", pending.pk]]
