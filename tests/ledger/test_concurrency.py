"""100 payments of one merchant posted concurrently, each in its own transaction, leave the balance exact."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from core.ids import new_id
from ledger import posting_rules
from ledger.fees import platform_fee
from ledger.invariants import run_checks
from ledger.models import Account, JournalEntry
from ledger.selectors import balance_get
from tests.conftest import requires_postgres
from tests.ledger.helpers import signed_sum

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

PAYMENTS = 100
WORKERS = 12


def _in_thread(work):
    """Run ``work(i)`` on its own connection; the first wave of workers starts together."""
    start = threading.Barrier(WORKERS)

    def run(i: int):
        try:
            if i < WORKERS:
                start.wait(timeout=30)
            return work(i)
        finally:
            connection.close()

    return run


def test_concurrent_payments_leave_the_balance_exact(merchant):
    def pay(i: int) -> int:
        """Payment i: automatic capture, a full or partial capture of an authorisation, or a cancel."""
        payment_id, amount = f"pay_concurrent_{i:03d}", 1_000 + 37 * i
        kind = i % 4
        if kind == 0:
            with transaction.atomic():
                posting_rules.payment_captured(
                    payment_id=payment_id, merchant=merchant, amount_captured=amount, currency="USD", authorized=False
                )
            return amount - platform_fee(amount=amount, currency="USD")
        with transaction.atomic():
            posting_rules.payment_authorized(payment_id=payment_id, merchant=merchant, amount=amount, currency="USD")
        if kind == 3:
            with transaction.atomic():
                posting_rules.payment_authorization_released(payment_id=payment_id, reason="canceled")
            return 0
        captured = amount if kind == 1 else amount // 2
        with transaction.atomic():
            posting_rules.payment_captured(
                payment_id=payment_id, merchant=merchant, amount_captured=captured, currency="USD", authorized=True
            )
        return captured - platform_fee(amount=captured, currency="USD")

    # Given no accounts yet, so the first wave also races to create them,
    # when 100 payments are posted by 12 threads at once,
    with ThreadPoolExecutor(WORKERS) as pool:
        nets = list(pool.map(_in_thread(pay), range(PAYMENTS)))

    # then the balance is the exact sum of what each payment put in,
    assert balance_get(merchant=merchant).available[0].amount == sum(nets)
    assert -signed_sum(code="merchant_pending", merchant=merchant, phase="pending") == 0
    # each account exists once, each event was posted once, and every invariant holds.
    assert Account.objects.filter(merchant=merchant).count() == 2
    assert Account.objects.filter(merchant__isnull=True).count() == 2
    assert JournalEntry.objects.filter(type="charge").count() == 75
    assert JournalEntry.objects.count() == 25 * 1 + 50 * 2 + 25 * 2  # automatic; authorised+captured; +released
    report = run_checks()
    assert report.ok, report.as_dict()


def test_the_same_event_delivered_concurrently_is_posted_once(merchant):
    """Duplicate webhooks racing: the unique event key lets one through and replays the others."""
    authorizations = [new_id("pay") for _ in range(10)]
    for payment_id in authorizations:
        with transaction.atomic():
            posting_rules.payment_authorized(payment_id=payment_id, merchant=merchant, amount=5_000, currency="USD")

    def capture_or_cancel(i: int) -> str:
        payment_id = authorizations[i % len(authorizations)]
        try:
            with transaction.atomic():
                if i % 3 == 2:
                    entry = posting_rules.payment_authorization_released(payment_id=payment_id, reason="expired")
                else:
                    entry = posting_rules.payment_captured(
                        payment_id=payment_id,
                        merchant=merchant,
                        amount_captured=5_000,
                        currency="USD",
                        authorized=True,
                    )
                return entry.id
        except Exception as error:  # noqa: BLE001 - the loser of capture-vs-expire is refused
            return type(error).__name__

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(_in_thread(capture_or_cancel), range(60)))

    # Each authorisation was resolved exactly once: captured or released, never both.
    for payment_id in authorizations:
        resolutions = JournalEntry.objects.filter(pending_entry__source=payment_id)
        assert resolutions.count() == 1
    assert set(outcomes) - set(JournalEntry.objects.values_list("id", flat=True)) <= {"PendingEntryResolved"}
    captured = JournalEntry.objects.filter(type="charge").count()
    assert balance_get(merchant=merchant).available[0].amount == captured * (5_000 - 175)
    report = run_checks()
    assert report.ok, report.as_dict()
