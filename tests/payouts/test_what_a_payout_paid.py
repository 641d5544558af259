"""What an automatic payout paid (issue 15): ``GET /api/v1/balance_transactions?payout=po_…`` lists the balance
transactions it settled, and their nets sum to its amount (Stripe's payout reconciliation).

Real maturing delays of about a second (the ledger check compares a maturing entry's creation with its capture's
``available_on``); the ledger check, with ``payouts_settle``, runs after each test (tests/conftest.py)."""

import random
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from ledger import posting_rules
from ledger.invariants import check_payouts_settle
from ledger.maturing import funds_mature_due
from ledger.models import JournalEntry, SettledTransaction
from ledger.selectors import balance_transactions_to_settle
from payouts import payout_services
from payouts.models import Payout
from tests.conftest import requires_postgres
from tests.ledger.helpers import new_payment_id
from tests.payments.helpers import balance_of, error_of, wait_for
from tests.payouts.test_automatic_payouts import schedule
from tests.payouts.test_payouts import CLOSED, add_account, at_processor, fund, pay_out

URL = "/api/v1/balance_transactions"
DAY_ONE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY_TWO = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def delay(settings):
    settings.BALANCE_SETTLEMENT_DELAY_SECONDS = 1
    settings.LEDGER_FEE_PERCENT_BPS = 290
    settings.LEDGER_FEE_FIXED = {"USD": 30}


def capture(merchant, amount: int) -> JournalEntry:
    with transaction.atomic():
        return posting_rules.payment_captured(
            payment_id=new_payment_id(), merchant=merchant, amount_captured=amount, currency="USD", authorized=False
        )


def refund(merchant, entry: JournalEntry, amount: int) -> JournalEntry:
    refund_id = f"re_{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        posting_rules.refund_created(
            refund_id=refund_id, payment_id=entry.source, merchant=merchant, amount=amount, currency="USD"
        )
    with transaction.atomic():
        return posting_rules.refund_succeeded(refund_id=refund_id)


def mature_all() -> None:
    time.sleep(1.1)
    funds_mature_due()


def automatic_run(now) -> Payout:
    assert payout_services.payouts_pay_out_automatically(now=now)["created"] == 1
    return Payout.objects.filter(automatic=True).order_by("-created").first()


def listed(api_client, payout_id: str) -> list[dict]:
    response = api_client.get(URL, {"payout": payout_id, "limit": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    assert not body["has_more"]
    return body["data"]


def nets(merchant) -> int:
    return sum(net for _, net in balance_transactions_to_settle(merchant=merchant, currency="USD"))


@pytest.mark.django_db(transaction=True)
def test_an_automatic_payout_lists_what_it_paid_and_it_sums_to_its_amount(api_client, merchant, delay, sandbox):
    add_account(api_client)
    schedule(merchant, "daily")
    matured = capture(merchant, 10_000)
    mature_all()
    waiting = capture(merchant, 5_000)  # still pending at the first payout
    refunded = refund(merchant, matured, 2_000)
    canceled_id = pay_out(api_client, 1_000).json()["id"]
    payout_services.payout_cancel(merchant=merchant, payout_id=canceled_id, actor="test")
    manual_id = pay_out(api_client, 500).json()["id"]  # a manual payout: it too is a balance transaction
    available, pending = balance_of(merchant)
    assert pending == waiting_net(waiting) and available == nets(merchant)

    first = automatic_run(DAY_ONE)
    assert first.amount == available and balance_of(merchant) == (0, pending)
    data = listed(api_client, first.id)
    assert sum(row["net"] for row in data) == first.amount
    by_source = {(row["source"], row["type"]) for row in data}
    assert by_source == {
        (matured.source, "charge"),
        (refunded.source, "refund"),
        (canceled_id, "payout"),
        (canceled_id, "payout_cancel"),
        (manual_id, "payout"),
    }
    assert all(row["status"] == "available" for row in data)
    assert waiting.pk not in {row["id"] for row in data}

    # The next day pays out what matured since, and what came back, and nothing it paid before.
    mature_all()
    fund(merchant, 300)
    second = automatic_run(DAY_TWO)
    data = listed(api_client, second.id)
    assert second.amount == waiting_net(waiting) + 300 == sum(row["net"] for row in data)
    assert {row["type"] for row in data} == {"charge", "adjustment"} and waiting.pk in {row["id"] for row in data}
    assert balance_of(merchant) == (0, 0)
    # The transactions listed for one payout are never listed for another.
    assert not {row["id"] for row in listed(api_client, first.id)} & {row["id"] for row in data}


def waiting_net(entry: JournalEntry) -> int:
    return -sum(p.amount for p in entry.postings.filter(phase="posted", account__code="merchant_pending"))


@pytest.mark.django_db
def test_a_negative_balance_is_not_paid_out_and_the_next_payout_settles_it(api_client, merchant, sandbox):
    add_account(api_client)
    schedule(merchant, "daily")
    fund(merchant, 1_000)
    fund(merchant, -3_000)  # e.g. a dispute took more than there was
    assert payout_services.payouts_pay_out_automatically(now=DAY_ONE)["created"] == 0
    assert not Payout.objects.exists()
    fund(merchant, 5_000)  # later captures recover it first
    payout = automatic_run(DAY_ONE)
    assert payout.amount == 3_000
    data = listed(api_client, payout.id)
    assert sorted(row["net"] for row in data) == [-3_000, 1_000, 5_000]


@pytest.mark.django_db
def test_a_failed_automatic_payouts_amount_is_paid_out_by_the_next(api_client, merchant, sandbox, settings):
    add_account(api_client, CLOSED)
    schedule(merchant, "daily")
    fund(merchant, 2_000)
    first = automatic_run(DAY_ONE)
    sandbox.set_faults(payout_seconds=0)
    try:
        payout_services.payout_send(payout_id=first.id)
        wait_for(lambda: at_processor(sandbox, first.id)[0]["status"] == "failed")
    finally:
        sandbox.set_faults(payout_seconds=5)
    settings.PAYOUT_RESOLVE_AFTER_SECONDS = 0
    payout_services.payouts_sweep()
    assert Payout.objects.get(pk=first.id).status == "failed" and balance_of(merchant) == (2_000, 0)
    second = automatic_run(DAY_TWO)
    assert second.amount == 2_000
    assert [(row["type"], row["net"]) for row in listed(api_client, second.id)] == [("payout_failure", 2_000)]
    # What the failed one settled stays its own: history is not rewritten.
    assert [row["net"] for row in listed(api_client, first.id)] == [2_000]


@pytest.mark.django_db
def test_the_filter_refuses_manual_and_unknown_payouts(api_client, merchant, other_api_client, sandbox):
    add_account(api_client)
    fund(merchant, 2_000)
    manual = pay_out(api_client, 500).json()["id"]
    response = api_client.get(URL, {"payout": manual})
    assert response.status_code == 400 and (error_of(response)["code"], error_of(response)["param"]) == (
        "parameter_invalid",
        "payout",
    )
    for unknown in ("po_missing", manual):
        response = (other_api_client if unknown == manual else api_client).get(URL, {"payout": unknown})
        assert response.status_code == 400 and error_of(response)["param"] == "payout"
        assert error_of(response)["code"] == "resource_missing"


class Forged(Exception):
    """Rolls the forged group back, so the ledger check that runs after the test sees the real ledger."""


@pytest.mark.django_db
def test_the_ledger_check_finds_a_group_that_does_not_sum_to_its_payout(merchant):
    fund(merchant, 1_000)
    fund(merchant, 700)
    with pytest.raises(Forged), transaction.atomic():
        entry = posting_rules.payout_created(payout_id="po_forged", merchant=merchant, amount=1_000, currency="USD")
        settled = [i for i, _ in balance_transactions_to_settle(merchant=merchant, currency="USD") if i != entry.pk]
        SettledTransaction.objects.bulk_create(
            [SettledTransaction(entry_id=i, payout_entry=entry) for i in [*settled, entry.pk]]
        )
        count, sample, _ = check_payouts_settle()
        raise Forged
    assert (count, sample) == (1, [["unbalanced", entry.pk]])


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(5))
def test_what_is_to_settle_always_sums_to_the_available_balance(merchant, api_client, sandbox, seed):
    """A property: whatever mix of funds, refunds, payouts (manual, automatic, canceled) and negative moves, the
    available transactions not yet paid out sum to the available balance, so an automatic payout pays it all."""
    rng = random.Random(seed)
    add_account(api_client)
    schedule(merchant, "daily")
    day = 0
    for _ in range(25):
        step = rng.choice(["fund", "fund", "debit", "manual", "cancel", "automatic"])
        available = balance_of(merchant)[0]
        if step == "fund":
            fund(merchant, rng.randint(1, 5_000))
        elif step == "debit":
            fund(merchant, -rng.randint(1, 3_000))
        elif step == "manual" and available > 0:
            pay_out(api_client, rng.randint(1, available))
        elif step == "cancel":
            pending = Payout.objects.filter(status="pending", automatic=False).first()
            if pending is not None:
                payout_services.payout_cancel(merchant=merchant, payout_id=pending.id, actor="test")
        elif step == "automatic":
            day += 1
            made = payout_services.payouts_pay_out_automatically(now=datetime(2027, 1, day, tzinfo=UTC))
            assert made["created"] == (1 if available > 0 else 0)
            if available > 0:
                assert balance_of(merchant)[0] == 0
        assert nets(merchant) == balance_of(merchant)[0]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_manual_payout_racing_an_automatic_one_is_decided_under_the_lock(merchant, api_client, sandbox):
    """The automatic payout reads what it settles under the available account's lock: a manual payout made
    meanwhile is either in its group (made first) or refused for the balance it took (made after)."""
    import threading

    add_account(api_client)
    schedule(merchant, "daily")
    for day in range(1, 6):
        fund(merchant, 1_000)
        start = threading.Barrier(2)
        outcomes = {}

        def automatic(day=day, start=start, outcomes=outcomes):
            try:
                start.wait(timeout=30)
                outcomes["automatic"] = payout_services.payouts_pay_out_automatically(
                    now=datetime(2027, 2, day, tzinfo=UTC)
                )
            finally:
                connection.close()

        def manual(start=start, outcomes=outcomes):
            try:
                start.wait(timeout=30)
                try:
                    payout_services.payout_create(
                        merchant=merchant,
                        amount=600,
                        currency="USD",
                        destination_id=None,
                        description=None,
                        actor="test",
                    )
                    outcomes["manual"] = "made"
                except Exception as error:  # noqa: BLE001 - the refusal is the outcome
                    outcomes["manual"] = type(error).__name__
            finally:
                connection.close()

        threads = [threading.Thread(target=automatic), threading.Thread(target=manual)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # Both decided, neither failed (no deadlock): the manual one made or refused for the balance.
        assert outcomes["manual"] in ("made", "InsufficientBalance"), outcomes
        assert outcomes["automatic"]["created"] + outcomes["automatic"]["skipped"] == 1, outcomes
        assert balance_of(merchant)[0] >= 0
        assert nets(merchant) == balance_of(merchant)[0]
        assert check_payouts_settle()[0] == 0
