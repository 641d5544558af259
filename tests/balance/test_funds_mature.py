"""Funds that mature: a capture's net waits in ``pending`` until its ``available_on``, then the maturing task
moves it to ``available`` with a ledger entry, once. Real delays of about a second (no clock is faked: the
ledger check compares the maturing entry's real creation time with ``available_on``). The ledger check runs
after each test (tests/conftest.py)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from core.ids import new_id
from core.money import convert
from ledger import posting_rules
from ledger.fees import cross_border_fee, platform_fee
from ledger.maturing import funds_mature_due
from ledger.models import JournalEntry, MaturingFunds
from ledger.tasks import mature_funds
from tests.conftest import requires_postgres
from tests.ledger.helpers import new_payment_id
from tests.payments.helpers import balance_of

DELAY = 1  # second


@pytest.fixture
def delay(settings):
    """Every capture's funds mature DELAY seconds after it (the platform-wide override)."""
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = DELAY
    settings.LEDGER_FEE_PERCENT_BPS = 290
    settings.LEDGER_FEE_FIXED = {"USD": 30, "EUR": 25}
    return DELAY


def capture(merchant, amount: int = 10_000, **fields) -> JournalEntry:
    with transaction.atomic():
        return posting_rules.payment_captured(
            payment_id=new_payment_id(), merchant=merchant, amount_captured=amount, currency="USD", **fields
        )


def net(amount: int) -> int:
    return amount - platform_fee(amount=amount, currency="USD")


def wait_until_due(entry: JournalEntry) -> None:
    remaining = (entry.available_on - JournalEntry.objects.get(pk=entry.pk).created).total_seconds()
    time.sleep(max(0.0, remaining) + 0.05)


# --- The rule ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_capture_is_pending_until_its_available_on_then_matures_exactly_once(merchant, delay):
    entry = capture(merchant, authorized=False)

    assert entry.available_on == entry.created + timedelta(seconds=DELAY)
    assert balance_of(merchant) == (0, net(10_000))
    assert MaturingFunds.objects.get(entry=entry).available_on == entry.available_on
    assert funds_mature_due() == 0  # not due yet

    wait_until_due(entry)
    assert mature_funds() == {"matured": 1}
    assert mature_funds() == {"matured": 0}
    assert funds_mature_due() == 0

    assert balance_of(merchant) == (net(10_000), 0)
    matured = JournalEntry.objects.get(event_key=f"funds.matured:{entry.pk}")
    assert (matured.type, matured.source, matured.status) == ("funds_matured", entry.source, "posted")
    assert matured.created >= entry.available_on
    assert not MaturingFunds.objects.exists()


@pytest.mark.django_db
def test_a_delay_of_zero_credits_available_at_once_with_nothing_to_mature(merchant, settings):
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 0
    entry = capture(merchant, authorized=False)
    assert balance_of(merchant) == (net(10_000), 0)
    assert entry.available_on == entry.created
    assert not MaturingFunds.objects.exists()


@pytest.mark.django_db
def test_without_the_override_the_merchants_payout_delay_applies(merchant, settings):
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = None
    assert merchant.payout_delay_days == 2  # the default
    two_days = capture(merchant, authorized=False)
    assert two_days.available_on == two_days.created + timedelta(days=2)
    assert balance_of(merchant) == (0, net(10_000))

    merchant.payout_delay_days = 0
    merchant.save(update_fields=["payout_delay_days"])
    at_once = capture(merchant, 5_000, authorized=False)  # a change applies to the next capture
    assert balance_of(merchant) == (net(5_000), net(10_000))
    assert MaturingFunds.objects.get().entry_id == two_days.pk
    assert at_once.available_on == at_once.created


@pytest.mark.django_db
def test_a_manual_capture_after_an_authorisation_is_pending_too(merchant, delay):
    pay = new_payment_id()
    with transaction.atomic():
        posting_rules.payment_authorized(payment_id=pay, merchant=merchant, amount=8_000, currency="USD")
        entry = posting_rules.payment_captured(
            payment_id=pay, merchant=merchant, amount_captured=6_000, currency="USD", authorized=True
        )
    assert balance_of(merchant) == (0, net(6_000))
    wait_until_due(entry)
    assert funds_mature_due() == 1
    assert balance_of(merchant) == (net(6_000), 0)


# --- Money that leaves before the funds matured -------------------------------------------------------------


@pytest.mark.django_db
def test_a_refund_of_an_unmatured_payment_takes_from_available_and_the_capture_still_matures(merchant, delay):
    entry = capture(merchant, authorized=False)
    refund = new_id("re")
    with transaction.atomic():
        posting_rules.refund_created(
            refund_id=refund, payment_id=entry.source, merchant=merchant, amount=4_000, currency="USD"
        )
        posting_rules.refund_succeeded(refund_id=refund)
    assert balance_of(merchant) == (-4_000, net(10_000))  # negative available is allowed, as with Stripe

    wait_until_due(entry)
    assert funds_mature_due() == 1
    assert balance_of(merchant) == (net(10_000) - 4_000, 0)


@pytest.mark.django_db
def test_a_bank_return_of_an_unmatured_capture_debits_available_and_the_capture_still_matures(merchant, delay):
    entry = capture(merchant, 5_000, authorized=False)
    with transaction.atomic():
        returned = posting_rules.payment_returned(payment_id=entry.source, return_code="R01")
    assert balance_of(merchant) == (-net(5_000), net(5_000))
    assert returned.available_on == returned.created  # it left at once
    assert not returned.postings.filter(account__code="merchant_pending").exists()

    wait_until_due(entry)
    assert funds_mature_due() == 1
    assert balance_of(merchant) == (0, 0)  # right in sum: the whole capture went back


@pytest.mark.django_db
def test_a_dispute_and_an_adjustment_move_available_at_once(merchant, delay):
    entry = capture(merchant, authorized=False)
    with transaction.atomic():
        posting_rules.dispute_opened(
            dispute_id=new_id("dp"), payment_id=entry.source, merchant=merchant, amount=3_000, fee=1_500, currency="USD"
        )
        posting_rules.manual_adjustment(
            adjustment_id=new_id("adj"), merchant=merchant, amount=500, currency="USD", memo="goodwill"
        )
    assert balance_of(merchant) == (-4_000, net(10_000))


@pytest.mark.django_db
def test_a_converted_capture_is_pending_and_matures_in_the_settlement_currency(other_merchant, delay):
    rate = Decimal("1.0850000000")  # EUR per USD, locked on the payment
    with transaction.atomic():
        entry = posting_rules.payment_captured(
            payment_id=new_payment_id(),
            merchant=other_merchant,
            amount_captured=10_000,
            currency="USD",
            authorized=False,
            settlement_currency="EUR",
            fx_rate=rate,
        )
    settled = convert(10_000, "USD", "EUR", rate)
    expected = settled - (platform_fee(amount=settled, currency="EUR") + cross_border_fee(amount=settled))
    assert balance_of(other_merchant, "EUR") == (0, expected)
    assert entry.currency == "USD"  # the entry keeps the payment's currency; the balance moved in EUR

    wait_until_due(entry)
    assert funds_mature_due() == 1
    assert balance_of(other_merchant, "EUR") == (expected, 0)
    matured = JournalEntry.objects.get(event_key=f"funds.matured:{entry.pk}")
    assert {posting.account.currency for posting in matured.postings.select_related("account")} == {"EUR"}


# --- Through the API -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_shows_pending_then_available_and_hides_the_maturing_entries(api_client, merchant, delay):
    entry = capture(merchant, authorized=False)

    balance = api_client.get("/api/v1/balance").json()
    assert balance["available"] == [{"currency": "USD", "amount": 0}]
    assert balance["pending"] == [{"currency": "USD", "amount": net(10_000)}]
    shown = api_client.get(f"/api/v1/balance_transactions/{entry.pk}").json()
    assert (shown["status"], shown["net"]) == ("pending", net(10_000))
    assert parse_datetime(shown["available_on"]) == entry.available_on
    assert parse_datetime(shown["created"]) < parse_datetime(shown["available_on"])

    wait_until_due(entry)
    funds_mature_due()

    balance = api_client.get("/api/v1/balance").json()
    assert balance["available"] == [{"currency": "USD", "amount": net(10_000)}]
    assert balance["pending"] == [{"currency": "USD", "amount": 0}]
    assert api_client.get(f"/api/v1/balance_transactions/{entry.pk}").json()["status"] == "available"
    listed = api_client.get("/api/v1/balance_transactions").json()["data"]
    assert [row["id"] for row in listed] == [entry.pk]  # the maturing entry is not a balance transaction
    assert sum(row["net"] for row in listed) == net(10_000)
    matured = JournalEntry.objects.get(type="funds_matured")
    assert api_client.get(f"/api/v1/balance_transactions/{matured.pk}").status_code == 404
    assert api_client.get("/api/v1/balance_transactions", {"type": "funds_matured"}).status_code == 400


# --- Two workers at once -------------------------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_mature_each_entry_exactly_once(merchant, delay):
    entries = [capture(merchant, 1_000 + i, authorized=False) for i in range(40)]
    wait_until_due(entries[-1])
    workers = 2
    start = threading.Barrier(workers)

    def run(_):
        try:
            start.wait(timeout=30)
            # Small batches, so that the two workers interleave over many transactions.
            return funds_mature_due(batch_size=5)
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        counts = list(pool.map(run, range(workers)))

    assert sum(counts) == 40
    assert JournalEntry.objects.filter(type="funds_matured").count() == 40
    assert balance_of(merchant) == (sum(net(1_000 + i) for i in range(40)), 0)
    assert not MaturingFunds.objects.exists()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_entry_matured_by_two_transactions_at_once_is_posted_once(merchant, delay):
    entry = capture(merchant, authorized=False)
    wait_until_due(entry)
    start = threading.Barrier(2)

    def mature(_):
        try:
            start.wait(timeout=30)
            with transaction.atomic():
                return posting_rules.funds_matured(entry=JournalEntry.objects.get(pk=entry.pk)).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        ids = set(pool.map(mature, range(2)))

    assert len(ids) == 1
    assert balance_of(merchant) == (net(10_000), 0)
    assert not MaturingFunds.objects.exists()


@pytest.mark.django_db
def test_a_bank_transfer_settled_then_returned_before_its_funds_matured(api_client, merchant, sandbox, delay):
    """Through the payments service: the settlement credits pending; the return takes from available at once."""
    from gateways.base import Charge
    from payments.models import Payment
    from payments.services import payment_apply_charge
    from tests.payments.test_bank_transfers import US_RETURNED, create_bank_payment

    body = create_bank_payment(api_client, US_RETURNED, amount=3000, confirm=True).json()
    payment = Payment.objects.get(pk=body["id"])
    template = dict(
        processor_id=payment.processor_charge_id,
        reference=payment.id,
        amount=3000,
        currency="USD",
        decline_code=None,
        failure_message=None,
        card=None,
    )
    payment_apply_charge(
        payment_id=payment.id, charge=Charge(**template, status="captured", amount_captured=3000), actor="test"
    )
    assert balance_of(merchant) == (0, net(3000))
    payment_apply_charge(
        payment_id=payment.id,
        charge=Charge(**template, status="returned", amount_captured=3000, return_code="R01"),
        actor="test",
    )
    assert balance_of(merchant) == (-net(3000), net(3000))

    entry = JournalEntry.objects.get(source=payment.id, type="charge")
    wait_until_due(entry)
    assert funds_mature_due() == 1
    assert balance_of(merchant) == (0, 0)


@pytest.mark.django_db
def test_pending_funds_cannot_be_paid_out_until_they_matured(api_client, merchant, sandbox, delay):
    from tests.payments.helpers import error_of, post
    from tests.payouts.test_payouts import add_account

    add_account(api_client)
    entry = capture(merchant, authorized=False)

    def pay_out(amount: int):
        return post(api_client, "/api/v1/payouts", {"amount": amount, "currency": "USD"})

    refused = pay_out(net(10_000))
    assert (refused.status_code, error_of(refused)["code"]) == (400, "balance_insufficient")

    wait_until_due(entry)
    funds_mature_due()
    assert pay_out(net(10_000)).status_code == 201
    assert balance_of(merchant) == (0, 0)
