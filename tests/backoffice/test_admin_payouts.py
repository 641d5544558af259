"""Payouts in the back office (issue 15): the finance queue, each payout's page (history, balance transactions,
ledger entries), holds on a merchant's payouts (Finance only, audited, respected by the API and the worker), and
the merchants whose available balance is below zero. Real requests to the admin and the API, a real sandbox."""

import datetime

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEntry
from gateways.base import ProcessorUnavailable
from gateways.sandbox_acquirer.client import SandboxProcessor
from merchants.services import merchant_create, merchant_payout_schedule_update
from payouts import payout_services
from payouts.models import Payout, PayoutHold
from tests.backoffice.conftest import client_for, messages_of
from tests.payments.helpers import balance_of, error_of
from tests.payouts.test_payouts import add_account, at_processor, fund, pay_out

pytestmark = pytest.mark.django_db

PAYOUTS = "/admin/payouts/payout/"
HOLDS = "/admin/payouts/payouthold/"
NEGATIVE = "/admin/backoffice/negativebalance/"


@pytest.fixture
def funded(merchant, api_client, sandbox):
    """A merchant with 10 000 available in USD and a default USD account at the sandbox."""
    fund(merchant, 10_000)
    return add_account(api_client)


def hold(merchant, reason: str = "chargeback spike under review"):
    return payout_services.payouts_hold(merchant=merchant, reason=reason, actor="staff:test")


def shown(response) -> list[str]:
    return [row.pk for row in response.context["cl"].result_list]


# --- Holds: the API and the worker respect them ---------------------------------------------------------


def test_a_held_merchant_cannot_create_a_payout_and_can_again_once_released(api_client, merchant, funded):
    hold(merchant)
    response = pay_out(api_client, 1_000)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payouts_held")
    # The hold's reason is internal: the merchant is told only that its payouts are on hold.
    assert "on hold" in error["message"] and "chargeback" not in error["message"]
    assert not Payout.objects.exists() and balance_of(merchant) == (10_000, 0)
    payout_services.payouts_release(merchant=merchant, reason="review done", actor="staff:test")
    assert pay_out(api_client, 1_000).status_code == 201


def test_the_worker_and_the_sweep_leave_a_held_merchants_payouts_pending_and_cancelable(
    api_client, merchant, funded, sandbox
):
    first = pay_out(api_client, 1_000).json()["id"]
    second = pay_out(api_client, 2_000).json()["id"]
    hold(merchant)
    sent = payout_services.payout_send(payout_id=first)
    assert (sent.status, sent.is_claimed) == ("pending", False)
    # Even once its queued send is long overdue, the sweep does not send it (nor count it).
    Payout.objects.update(created=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
    assert payout_services.payouts_sweep()["unsent"] == 0
    assert at_processor(sandbox, first) == [] and at_processor(sandbox, second) == []
    assert Payout.objects.get(pk=second).status == "pending"
    # Never claimed, so the merchant can still take it back.
    canceled = api_client.post(f"/api/v1/payouts/{first}/cancel", HTTP_IDEMPOTENCY_KEY="cancel-1")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert balance_of(merchant) == (8_000, 0)
    # Released: the next sweep sends what was left pending.
    payout_services.payouts_release(merchant=merchant, reason="review done", actor="staff:test")
    assert payout_services.payouts_sweep()["unsent"] == 1
    assert Payout.objects.get(pk=second).status == "in_transit"
    assert len(at_processor(sandbox, second)) == 1


def test_a_send_that_died_is_not_sent_again_while_held_and_is_once_released(
    api_client, merchant, funded, sandbox, settings
):
    payout_id = pay_out(api_client, 1_000).json()["id"]
    # Claimed, then the worker died before calling the processor: the sweep finds the processor has none.
    Payout.objects.filter(pk=payout_id).update(sending_since=timezone.now() - datetime.timedelta(hours=1))
    hold(merchant)
    settings.PAYOUT_SEND_LEASE_SECONDS = 0
    assert payout_services.payouts_sweep()["stale"] == 1
    assert Payout.objects.get(pk=payout_id).status == "pending" and at_processor(sandbox, payout_id) == []
    payout_services.payouts_release(merchant=merchant, reason="review done", actor="staff:test")
    payout_services.payouts_sweep()
    assert Payout.objects.get(pk=payout_id).status == "in_transit"
    assert len(at_processor(sandbox, payout_id)) == 1


# --- Holds in the admin: Finance only, with a reason, audited ----------------------------------------------


def test_finance_holds_and_releases_with_a_reason_and_both_are_audited(merchant, finance):
    client = client_for(finance)
    page = client.get(f"{HOLDS}add/", {"merchant": merchant.pk})
    assert page.status_code == 200 and page.context["form"].initial["merchant"] == merchant.pk
    # No reason, no hold.
    refused = client.post(f"{HOLDS}add/", {"merchant": merchant.pk, "reason": ""})
    assert refused.status_code == 200 and "reason" in refused.context["form"].errors
    assert not PayoutHold.objects.exists()
    response = client.post(f"{HOLDS}add/", {"merchant": merchant.pk, "reason": "KYC documents expired"})
    assert response.status_code == 302, response.content
    held = PayoutHold.objects.get(merchant=merchant)
    assert (held.reason, held.held_by) == ("KYC documents expired", "staff:fay.finance")
    entry = AuditEntry.objects.get(action="payouts.hold")
    assert (entry.actor, entry.object_type, entry.object_id) == ("staff:fay.finance", "merchant", merchant.pk)
    assert (entry.reason, entry.before, entry.after) == (
        "KYC documents expired",
        {"payouts_held": False},
        {"payouts_held": True},
    )
    # Holding again is refused with a message, and changes nothing.
    again = client.post(f"{HOLDS}add/", {"merchant": merchant.pk, "reason": "twice"}, follow=True)
    assert any("held already" in message for message in messages_of(again))
    assert AuditEntry.objects.filter(action="payouts.hold").count() == 1
    # The hold's page has the release button; releasing needs a reason too.
    assert "Release" in client.get(f"{HOLDS}{quote(merchant.pk)}/change/").content.decode()
    release = f"{HOLDS}{quote(merchant.pk)}/release/"
    assert client.post(release, {"reason": ""}).status_code == 200 and PayoutHold.objects.exists()
    assert client.post(release, {"reason": "documents received"}).status_code == 302
    assert not PayoutHold.objects.exists()
    released = AuditEntry.objects.get(action="payouts.release")
    assert (released.actor, released.object_id, released.reason) == (
        "staff:fay.finance",
        merchant.pk,
        "documents received",
    )
    assert released.before["reason"] == "KYC documents expired" and released.after == {"payouts_held": False}


def test_support_sees_payouts_and_holds_but_cannot_hold_or_release(merchant, support):
    client = client_for(support)
    assert client.get(PAYOUTS).status_code == 200
    assert client.get(HOLDS).status_code == 200
    assert client.get(f"{HOLDS}add/").status_code == 403
    assert client.post(f"{HOLDS}add/", {"merchant": merchant.pk, "reason": "x"}).status_code == 403
    assert not PayoutHold.objects.exists()
    hold(merchant)
    assert "/release/" not in client.get(f"{HOLDS}{quote(merchant.pk)}/change/").content.decode()
    assert client.post(f"{HOLDS}{quote(merchant.pk)}/release/", {"reason": "x"}).status_code == 403
    assert PayoutHold.objects.filter(merchant=merchant).exists()
    # Nor the merchants in the negative: that list is Finance's.
    assert client.get(NEGATIVE).status_code == 403


def test_operations_sees_nothing_about_payouts(merchant, operations):
    client = client_for(operations)
    hold(merchant)
    for url in (PAYOUTS, HOLDS, f"{HOLDS}add/", NEGATIVE, f"{HOLDS}{quote(merchant.pk)}/release/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{HOLDS}{quote(merchant.pk)}/release/", {"reason": "x"}).status_code == 403
    assert PayoutHold.objects.filter(merchant=merchant).exists()


# --- The queue and a payout's page -------------------------------------------------------------------------


def test_the_queue_filters_by_status_merchant_and_date(api_client, merchant, funded, finance, other_merchant):
    pending = pay_out(api_client, 1_000).json()["id"]
    canceled = pay_out(api_client, 2_000).json()["id"]
    assert api_client.post(f"/api/v1/payouts/{canceled}/cancel", HTTP_IDEMPOTENCY_KEY="c").status_code == 200
    client = client_for(finance)
    listed = client.get(PAYOUTS)
    assert listed.status_code == 200 and shown(listed) == [canceled, pending]
    page = listed.content.decode()
    assert "10.00 USD" in page and "····6789" in page
    assert f"/admin/merchants/merchant/{quote(merchant.pk)}/change/" in page
    assert "/admin/ledger/journalentry/" in page
    assert shown(client.get(PAYOUTS, {"status__exact": "pending"})) == [pending]
    assert shown(client.get(PAYOUTS, {"merchant_id": merchant.pk})) == [canceled, pending]
    assert shown(client.get(PAYOUTS, {"merchant_id": other_merchant.pk})) == []
    # As the date filter's own links ask ("Today"), and a day with none.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + datetime.timedelta(days=1)
    assert len(shown(client.get(PAYOUTS, {"created__gte": str(today), "created__lt": str(tomorrow)}))) == 2
    assert shown(client.get(PAYOUTS, {"created__gte": str(tomorrow)})) == []
    assert shown(client.get(PAYOUTS, {"automatic__exact": "1"})) == []
    assert shown(client.get(PAYOUTS, {"q": pending})) == [pending]


def test_the_queue_shows_finance_the_payouts_that_need_attention(api_client, funded, finance, settings, monkeypatch):
    """A payout whose sends the processor never recorded, PAYOUT_MAX_PROCESSOR_ATTEMPTS times, is flagged, not
    failed: the queue's "needs attention" filter and its status column show it."""
    settings.PAYOUT_MAX_PROCESSOR_ATTEMPTS, settings.PAYOUT_SEND_LEASE_SECONDS = 1, 0
    stuck = pay_out(api_client, 1_000).json()["id"]
    fine = pay_out(api_client, 2_000).json()["id"]

    def lost(self, **kwargs):
        raise ProcessorUnavailable("lost on the way")

    with monkeypatch.context() as patched:
        patched.setattr(SandboxProcessor, "create_payout", lost)
        payout_services.payout_send(payout_id=stuck)
        payout_services.payouts_sweep()
    assert Payout.objects.get(pk=stuck).needs_attention
    client = client_for(finance)
    flagged = client.get(PAYOUTS, {"needs_attention": "yes"})
    assert flagged.status_code == 200 and shown(flagged) == [stuck]
    assert "needs attention" in flagged.content.decode()
    assert set(shown(client.get(PAYOUTS))) == {stuck, fine}
    page = client.get(f"{PAYOUTS}{quote(stuck)}/change/").content.decode()
    assert "needs attention" in page and "payout.needs_attention" in page


def test_a_payouts_page_shows_its_history_balance_transactions_and_ledger_entries(
    api_client, merchant, funded, finance, support
):
    payout_id = pay_out(api_client, 1_500).json()["id"]
    assert api_client.post(f"/api/v1/payouts/{payout_id}/cancel", HTTP_IDEMPOTENCY_KEY="c").status_code == 200
    payout = Payout.objects.get(pk=payout_id)
    response = client_for(finance).get(f"{PAYOUTS}{quote(payout_id)}/change/")
    assert response.status_code == 200
    dossier = response.context["payout_dossier"]
    assert [entry.action for entry in dossier.history] == ["payout.create", "payout.cancel"]
    # Its creation took 15.00 from the balance and its cancel gave it back: two balance transactions, two entries.
    assert [(txn.id == payout.balance_transaction, txn.net) for txn in dossier.balance_transactions] == [
        (True, -1_500),
        (False, 1_500),
    ]
    assert len(dossier.journal_entries) == 2
    assert all(entry.postings.all() for entry in dossier.journal_entries)
    page = response.content.decode()
    assert 'id="ledger"' in page and payout.balance_transaction in page and "merchant_available" in page
    assert f"/admin/merchants/merchant/{quote(merchant.pk)}/change/" in page
    assert f"/admin/payouts/externalaccount/{quote(funded['id'])}/change/" in page
    assert f"/admin/payouts/payouthold/add/?merchant={merchant.pk}" in page
    assert f"/admin/payouts/payout/?merchant_id={merchant.pk}" in page
    assert f"/admin/ledger/journalentry/{quote(payout.balance_transaction)}/change/" in page
    # Support sees the history and the balance transactions, not the ledger (nor links into it), and no hold button.
    support_page = client_for(support).get(f"{PAYOUTS}{quote(payout_id)}/change/").content.decode()
    assert 'id="history"' in support_page and 'id="ledger"' not in support_page
    assert payout.balance_transaction in support_page and "/admin/ledger/" not in support_page
    support_list = client_for(support).get(PAYOUTS).content.decode()
    assert payout.balance_transaction in support_list and "/admin/ledger/journalentry/" not in support_list
    assert "/admin/payouts/payouthold/add/" not in support_page
    # Held: the page says so, and offers Finance the release instead.
    hold(merchant, "fraud review")
    held_page = client_for(finance).get(f"{PAYOUTS}{quote(payout_id)}/change/").content.decode()
    assert "fraud review" in held_page and f"/admin/payouts/payouthold/{quote(merchant.pk)}/release/" in held_page


def test_an_automatic_payouts_page_shows_what_it_paid_out(api_client, merchant, funded, finance):
    fund(merchant, 2_500)
    merchant_payout_schedule_update(merchant=merchant, interval="daily", actor="test")
    assert payout_services.payouts_pay_out_automatically()["created"] == 1
    payout = Payout.objects.get(merchant=merchant, automatic=True)
    assert payout.amount == 12_500
    response = client_for(finance).get(f"{PAYOUTS}{quote(payout.id)}/change/")
    dossier = response.context["payout_dossier"]
    assert sorted(txn.net for txn in dossier.paid_out) == [2_500, 10_000] and dossier.paid_out_count == 2
    page = response.content.decode()
    assert 'id="paid-out"' in page and "What it paid out (2 balance transactions)" in page
    # A payout made by hand pays out an amount, not particular transactions: no such section.
    fund(merchant, 100)
    manual_id = pay_out(api_client, 100).json()["id"]
    manual_page = client_for(finance).get(f"{PAYOUTS}{quote(manual_id)}/change/")
    assert manual_page.context["payout_dossier"].paid_out is None
    assert 'id="paid-out"' not in manual_page.content.decode()


def test_the_queue_costs_the_same_number_of_queries_for_5_or_50_payouts(api_client, merchant, funded, finance):
    client = client_for(finance)
    client.get(PAYOUTS)  # warm the session and permission caches

    def queries_for_list() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(PAYOUTS)
        assert response.status_code == 200
        return len(captured.captured_queries), len(response.context["cl"].result_list)

    def create(count: int) -> None:
        for _ in range(count):
            payout_services.payout_create(
                merchant=merchant, amount=10, currency="USD", destination_id=None, description=None, actor="test"
            )

    create(5)
    few, shown = queries_for_list()
    create(45)
    many, shown_many = queries_for_list()
    assert (shown, shown_many) == (5, 50)
    assert 0 < many == few, f"{few} queries for 5 payouts, {many} for 50: a query per row"


def test_nothing_in_the_payout_admin_writes_except_the_pay_out_page(api_client, funded, finance, superuser):
    payout_id = pay_out(api_client, 1_000).json()["id"]
    for user in (finance, superuser):
        client = client_for(user)
        # "Add" is the pay-out page (through payout_create), not a model form.
        assert "Pay a merchant out" in client.get(f"{PAYOUTS}add/").content.decode()
        assert client.post(f"{PAYOUTS}{quote(payout_id)}/change/", {"amount": 1}).status_code == 403
        assert client.get(f"{PAYOUTS}{quote(payout_id)}/delete/").status_code == 403
    assert Payout.objects.get(pk=payout_id).amount == 1_000


# --- Merchants in the negative ------------------------------------------------------------------------------


def test_finance_sees_the_merchants_whose_available_balance_is_below_zero(merchant, other_merchant, finance):
    fund(merchant, 1_000)
    fund(merchant, -3_500)
    fund(other_merchant, 2_000, "EUR")
    fund(merchant, 500, "EUR")
    fund(other_merchant, -9_000)
    client = client_for(finance)
    response = client.get(NEGATIVE)
    assert response.status_code == 200
    rows = [(row.merchant_id, row.currency, row.posted_sum, row.held) for row in response.context["cl"].result_list]
    # The most negative first; balances at or above zero are not listed.
    assert rows == [(other_merchant.pk, "USD", 9_000, False), (merchant.pk, "USD", 2_500, False)]
    assert "-25.00 USD" in response.content.decode() and "-90.00 USD" in response.content.decode()
    hold(merchant)
    held = client.get(NEGATIVE, {"merchant_id": merchant.pk}).context["cl"].result_list
    assert [(row.merchant_id, row.held) for row in held] == [(merchant.pk, True)]
    assert list(client.get(NEGATIVE, {"currency": "eur"}).context["cl"].result_list) == []
    # A query per page, not per row.
    with CaptureQueriesContext(connection) as two_rows:
        client.get(NEGATIVE)
    for number in range(10):
        fund(merchant_create(name=f"Negative {number}", settlement_currency="USD"), -100)
    with CaptureQueriesContext(connection) as twelve_rows:
        assert len(client.get(NEGATIVE).context["cl"].result_list) == 12
    assert 0 < len(twelve_rows.captured_queries) == len(two_rows.captured_queries)


# --- Paying out by hand -----------------------------------------------------------------------------------


def pay_out_form(client, merchant, amount: str, *, token: str = "t-1", reason: str = "merchant asked by phone"):
    return client.post(
        f"{PAYOUTS}add/",
        {
            "merchant": merchant.pk,
            "currency": "USD",
            "amount": amount,
            "description": "By hand",
            "reason": reason,
            "token": token,
        },
    )


def test_finance_pays_a_merchant_out_by_hand_in_major_units_once_audited(merchant, funded, finance):
    client = client_for(finance)
    page = client.get(f"{PAYOUTS}add/?merchant={merchant.pk}")
    assert page.status_code == 200 and "100.00 USD" in page.content.decode()  # what is available now
    response = pay_out_form(client, merchant, "25.50")
    payout = Payout.objects.get(merchant=merchant)
    assert response.status_code == 302 and response["Location"].endswith(f"{quote(payout.id)}/change/")
    assert (payout.amount, payout.status, payout.automatic, payout.requested_by) == (
        2_550,
        "pending",
        False,
        "staff:fay.finance",
    )
    assert balance_of(merchant) == (10_000 - 2_550, 0)
    audit = AuditEntry.objects.get(object_type="payout", object_id=payout.id)
    assert (audit.actor, audit.action, audit.reason) == (
        "staff:fay.finance",
        "payout.create",
        "merchant asked by phone",
    )
    # The same form submitted again (a double click, a reload) makes no second payout.
    assert pay_out_form(client, merchant, "25.50").status_code == 302
    assert Payout.objects.filter(merchant=merchant).count() == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [("abc", "Type an amount"), ("1.234", "2 decimal places"), ("0", "above zero"), ("-5", "above zero")],
)
def test_a_bad_amount_is_refused_on_the_form_and_nothing_is_written(merchant, funded, finance, amount, message):
    response = pay_out_form(client_for(finance), merchant, amount)
    assert response.status_code == 200 and message in response.content.decode()
    assert not Payout.objects.exists() and balance_of(merchant) == (10_000, 0)


def test_more_than_is_available_or_a_held_merchant_is_refused_with_a_message(merchant, funded, finance):
    client = client_for(finance)
    response = pay_out_form(client, merchant, "100.01")
    assert response.status_code == 200 and messages_of(response)
    assert "more than can be paid out" in " ".join(messages_of(response))
    hold(merchant)
    response = pay_out_form(client, merchant, "1.00", token="t-2")
    assert response.status_code == 200 and not Payout.objects.exists()


def test_support_and_operations_cannot_pay_out(merchant, funded, support, operations):
    for user in (support, operations):
        client = client_for(user)
        assert client.get(f"{PAYOUTS}add/").status_code == 403
        assert pay_out_form(client, merchant, "1.00").status_code == 403
    assert not Payout.objects.exists()
