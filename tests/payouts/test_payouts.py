"""Payouts (issue 15): paid out by hand through the real API, sent by a worker to the sandbox processor (a real
process), paid or failed by its webhooks or the sweep, and never sent twice whatever crashes. The ledger's
invariants (payouts_in_transit included) are checked after every test of this folder (tests/conftest.py)."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from core.models import AuditEntry
from events.models import Event
from gateways.base import ProcessorUnavailable
from gateways.registry import processor as processor_named
from gateways.sandbox_acquirer.client import SandboxProcessor
from ledger import posting_rules
from ledger.models import JournalEntry
from merchants.services import api_key_issue
from payouts import payout_services
from payouts.models import ExternalAccount, Payout
from tests.conftest import requires_postgres
from tests.payments.helpers import balance_of, error_of, post, sandbox_sending_webhooks_to, wait_for

URL = "/api/v1/payouts"
US = {"country": "US", "holder_name": "Jane Doe", "routing_number": "110000000", "account_number": "000123456789"}
# The sandbox's closed account (like Stripe's test account): its payouts fail with account_closed.
CLOSED = {**US, "account_number": "000123451116"}


def fund(merchant, amount: int, currency: str = "USD") -> None:
    """Credit the merchant's available balance through the ledger (a staff adjustment), whatever the rules that
    make captured funds available."""
    with transaction.atomic():
        posting_rules.manual_adjustment(
            adjustment_id=uuid.uuid4().hex, merchant=merchant, amount=amount, currency=currency, memo="test funds"
        )


def add_account(client, account: dict = US, **fields) -> dict:
    response = post(client, "/api/v1/external_accounts", {"currency": "USD", "bank_account": account, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def pay_out(client, amount: int, *, key: str | None = None, **fields):
    return post(client, URL, {"amount": amount, "currency": "USD", **fields}, key=key)


def at_processor(sandbox, payout_id: str) -> list[dict]:
    """The sandbox's payouts whose reference is ``payout_id``."""
    answer = sandbox.request("GET", "/v1/payouts", params={"reference": payout_id})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def events_of(payout_id: str) -> list[str]:
    return [event.type for event in Event.objects.order_by("id") if f'"id":"{payout_id}"' in event.payload]


def transit(body: dict) -> int:
    """The days from a payout's creation to its arrival_date. The estimate is made a moment before ``created`` is
    stamped (milliseconds; seconds on a loaded machine), so whole days, give or take a few minutes."""
    gap = parse_datetime(body["arrival_date"]) - parse_datetime(body["created"])
    days = round(gap / timedelta(days=1))
    assert abs(gap - timedelta(days=days)) < timedelta(minutes=5), gap
    return days


@pytest.fixture
def funded(merchant, api_client, sandbox):
    """A merchant with 10 000 available in USD and a default USD account at the sandbox."""
    fund(merchant, 10_000)
    return add_account(api_client)


# --- Creation ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_payout_is_created_pending_takes_the_amount_at_once_and_is_not_sent_in_the_request(
    api_client, merchant, funded, sandbox
):
    response = pay_out(api_client, 4_000, description="November")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "object",
        "amount",
        "currency",
        "status",
        "arrival_date",
        "destination",
        "automatic",
        "description",
        "failure_code",
        "failure_message",
        "balance_transaction",
        "created",
    }
    assert body["id"].startswith("po_") and body["object"] == "payout"
    assert (body["amount"], body["currency"], body["status"]) == (4_000, "USD", "pending")
    assert (body["destination"], body["automatic"], body["description"]) == (funded["id"], False, "November")
    assert body["failure_code"] is None and body["failure_message"] is None
    # An estimate at once: created + the usual transit time to a US bank (PAYOUT_TRANSIT_DAYS, 2 days).
    assert transit(body) == 2
    # The balance drops at once; the payout's balance transaction is the entry that took it.
    assert balance_of(merchant) == (6_000, 0)
    entry = JournalEntry.objects.get(pk=body["balance_transaction"])
    assert (entry.type, entry.source, entry.event_key) == ("payout", body["id"], f"payout.created:{body['id']}")
    listed = api_client.get(f"/api/v1/balance_transactions/{entry.id}")
    assert listed.status_code == 200 and listed.json()["net"] == -4_000
    assert events_of(body["id"]) == ["payout.created"]
    # The request never called the processor.
    assert at_processor(sandbox, body["id"]) == []
    assert api_client.get(f"{URL}/{body['id']}").json() == body


@pytest.mark.django_db
def test_a_retry_with_the_same_key_makes_one_payout(api_client, merchant, funded):
    key = str(uuid.uuid4())
    first = pay_out(api_client, 1_000, key=key)
    second = pay_out(api_client, 1_000, key=key)
    assert first.status_code == second.status_code == 201, first.content
    assert first.json() == second.json()
    assert Payout.objects.count() == 1 and balance_of(merchant) == (9_000, 0)


@pytest.mark.django_db
def test_the_destination_is_the_currency_default_or_one_named(api_client, merchant, funded):
    other = add_account(api_client, {**US, "account_number": "000555566667"})
    assert pay_out(api_client, 100).json()["destination"] == funded["id"]
    assert pay_out(api_client, 100, destination=other["id"]).json()["destination"] == other["id"]
    unknown = pay_out(api_client, 100, destination="ea_nope")
    assert unknown.status_code == 400
    assert (error_of(unknown)["code"], error_of(unknown)["param"]) == ("external_account_missing", "destination")


@pytest.mark.django_db
def test_no_external_account_in_the_currency_is_a_400(api_client, merchant, sandbox):
    fund(merchant, 1_000)
    response = pay_out(api_client, 500)
    assert response.status_code == 400 and error_of(response)["code"] == "external_account_missing"
    assert not Payout.objects.exists() and balance_of(merchant) == (1_000, 0)


# --- More than is available ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_more_than_is_available_is_balance_insufficient_and_writes_nothing(api_client, merchant, funded):
    response = pay_out(api_client, 10_001)
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["param"]) == ("balance_insufficient", "amount")
    assert "10000" in error_of(response)["message"]
    assert not Payout.objects.exists() and balance_of(merchant) == (10_000, 0)
    assert not Event.objects.filter(type="payout.created").exists()
    # All of it can be paid out, and then nothing more.
    assert pay_out(api_client, 10_000).status_code == 201
    assert error_of(pay_out(api_client, 1))["code"] == "balance_insufficient"


@pytest.mark.django_db
def test_no_payout_while_the_balance_is_negative(api_client, merchant, funded):
    fund(merchant, -12_000)  # e.g. disputes took more than there was
    assert balance_of(merchant) == (-2_000, 0)
    assert error_of(pay_out(api_client, 1))["code"] == "balance_insufficient"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payouts_that_would_overdraw_together_exactly_one_succeeds(merchant, funded):
    secret = api_key_issue(merchant=merchant, name="concurrent").secret
    for _round in range(3):
        before = balance_of(merchant)[0]
        amount = before // 2 + 1  # either fits, both do not
        start = threading.Barrier(2)
        statuses = []

        def run(amount=amount, start=start, statuses=statuses):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
            try:
                start.wait(timeout=30)
                statuses.append(pay_out(client, amount).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [201, 400]
        assert balance_of(merchant)[0] == before - amount >= 0
        fund(merchant, 10_000)


@pytest.mark.django_db
def test_the_arrival_estimate_follows_the_destinations_country_and_the_settings(api_client, merchant, funded, settings):
    settings.PAYOUT_TRANSIT_DAYS = {"US": 3}
    assert transit(pay_out(api_client, 100).json()) == 3
    # A country the setting does not name: the default.
    settings.PAYOUT_TRANSIT_DAYS, settings.PAYOUT_TRANSIT_DAYS_DEFAULT = {}, 1
    assert transit(pay_out(api_client, 100).json()) == 1


# --- Sending -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_worker_sends_the_payout_once_and_it_is_in_transit(api_client, merchant, funded, sandbox):
    payout_id = pay_out(api_client, 2_500).json()["id"]
    estimate = Payout.objects.get(pk=payout_id).arrival_date
    sent = payout_services.payout_send(payout_id=payout_id)
    assert sent.status == "in_transit" and sent.processor_payout_id and sent.arrival_date
    [remote] = at_processor(sandbox, payout_id)
    assert (remote["id"], remote["amount"], remote["status"]) == (sent.processor_payout_id, 2_500, "in_transit")
    # The processor's arrival date (the sandbox's: seconds from now) replaced the estimate (days from now).
    assert int(sent.arrival_date.timestamp()) == remote["arrival_date"] and sent.arrival_date < estimate
    # A second message, and the sweep, change nothing.
    assert payout_services.payout_send(payout_id=payout_id).status == "in_transit"
    payout_services.payouts_sweep()
    assert len(at_processor(sandbox, payout_id)) == 1
    body = api_client.get(f"{URL}/{payout_id}").json()
    assert body["status"] == "in_transit" and body["arrival_date"]
    assert balance_of(merchant) == (7_500, 0)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_send_run_concurrently_sends_once(api_client, merchant, funded, sandbox):
    payout_id = pay_out(api_client, 1_000).json()["id"]
    start = threading.Barrier(4)
    results = []

    def run():
        try:
            start.wait(timeout=30)
            results.append(payout_services.payout_send(payout_id=payout_id).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4
    assert Payout.objects.get(pk=payout_id).status == "in_transit"
    assert len(at_processor(sandbox, payout_id)) == 1
    assert Payout.objects.get(pk=payout_id).processor_attempts == 1


@pytest.mark.django_db
def test_a_crash_after_the_processor_call_is_resolved_without_a_second_payout(
    api_client, merchant, funded, sandbox, monkeypatch, settings
):
    payout_id = pay_out(api_client, 3_000).json()["id"]

    def crash(**kwargs):
        raise RuntimeError("the worker died before it recorded the answer")

    # The processor is called, then the recording fails (as a worker killed at that point).
    with monkeypatch.context() as patched:
        patched.setattr(payout_services, "payout_apply_processor_payout", crash)
        with pytest.raises(RuntimeError):
            payout_services.payout_send(payout_id=payout_id)
    payout = Payout.objects.get(pk=payout_id)
    assert payout.status == "pending" and payout.sending_since is not None
    assert len(at_processor(sandbox, payout_id)) == 1
    # Claimed: it may be at the processor, so it can no longer be canceled.
    refused = post(api_client, f"{URL}/{payout_id}/cancel")
    assert refused.status_code == 400 and error_of(refused)["code"] == "payout_not_cancelable"
    # Another message does not send it again; the sweep, once the claim's lease is over, finds it by its key.
    assert payout_services.payout_send(payout_id=payout_id).status == "pending"
    settings.PAYOUT_SEND_LEASE_SECONDS = 0
    summary = payout_services.payouts_sweep()
    assert summary["stale"] == 1
    [remote] = at_processor(sandbox, payout_id)
    payout = Payout.objects.get(pk=payout_id)
    assert (payout.status, payout.processor_payout_id) == ("in_transit", remote["id"])
    assert balance_of(merchant) == (7_000, 0)


@pytest.mark.django_db
def test_a_claim_that_never_reached_the_processor_is_sent_by_the_sweep_with_the_same_key(
    api_client, merchant, funded, sandbox, settings
):
    payout_id = pay_out(api_client, 1_500).json()["id"]
    sandbox.set_faults(error_rate=1.0)  # every call fails: nothing is recorded
    assert payout_services.payout_send(payout_id=payout_id).status == "pending"
    sandbox.set_faults(error_rate=0.0)
    assert at_processor(sandbox, payout_id) == []
    settings.PAYOUT_SEND_LEASE_SECONDS = 0
    payout_services.payouts_sweep()
    payout_services.payouts_sweep()
    assert Payout.objects.get(pk=payout_id).status == "in_transit"
    assert len(at_processor(sandbox, payout_id)) == 1


@pytest.mark.django_db
def test_a_payout_the_processor_never_records_is_not_sent_for_ever_and_needs_attention_not_failure(
    api_client, merchant, funded, sandbox, settings, monkeypatch
):
    settings.PAYOUT_MAX_PROCESSOR_ATTEMPTS = 3
    settings.PAYOUT_SEND_LEASE_SECONDS = 0
    payout_id = pay_out(api_client, 1_200).json()["id"]
    sends = []

    def lost(self, **kwargs):
        """Every send is lost on the way: the processor never records it (its look-ups still answer)."""
        sends.append(kwargs["idempotency_key"])
        raise ProcessorUnavailable("lost on the way")

    monkeypatch.setattr(SandboxProcessor, "create_payout", lost)
    payout_services.payout_send(payout_id=payout_id)
    for _ in range(5):
        payout_services.payouts_sweep()
    payout = Payout.objects.get(pk=payout_id)
    # Three sends, all with the one key, then no more: pending (not failed), its amount still out of available.
    assert sends == [payout_services.payout_key(payout_id)] * 3
    assert (payout.status, payout.processor_attempts, payout.failure_code) == ("pending", 3, None)
    assert payout.needs_attention and payout.needs_attention_since is not None
    assert balance_of(merchant) == (8_800, 0)
    assert events_of(payout_id) == ["payout.created"]
    [entry] = AuditEntry.objects.filter(action="payout.needs_attention", object_id=payout_id)
    assert entry.actor == "system:payouts" and "3 sends" in entry.reason
    assert at_processor(sandbox, payout_id) == []
    # The send that was "lost" reaches the processor after all, late: the sweep still asks, finds it, records it.
    monkeypatch.undo()
    answer = processor_named("sandbox").create_payout(
        amount=1_200,
        currency="USD",
        destination=ExternalAccount.objects.get(pk=funded["id"]).processor_token,
        reference=payout_id,
        idempotency_key=payout_services.payout_key(payout_id),
    )
    payout_services.payouts_sweep()
    payout = Payout.objects.get(pk=payout_id)
    assert (payout.status, payout.processor_payout_id) == ("in_transit", answer.processor_id)
    assert not payout.needs_attention and len(at_processor(sandbox, payout_id)) == 1
    assert AuditEntry.objects.filter(action="payout.needs_attention").count() == 1


@pytest.mark.django_db
def test_a_payout_whose_send_message_was_lost_is_sent_by_the_sweep(api_client, funded, sandbox):
    payout_id = pay_out(api_client, 1_000).json()["id"]
    Payout.objects.filter(pk=payout_id).update(created=Payout.objects.get(pk=payout_id).created.replace(year=2025))
    assert payout_services.payouts_sweep()["unsent"] == 1
    assert Payout.objects.get(pk=payout_id).status == "in_transit"
    assert len(at_processor(sandbox, payout_id)) == 1


@pytest.mark.django_db
def test_a_lost_webhook_is_made_up_for_by_the_sweep(api_client, merchant, funded, sandbox, settings):
    sandbox.set_faults(payout_seconds=0)
    try:
        payout_id = pay_out(api_client, 2_000).json()["id"]
        payout_services.payout_send(payout_id=payout_id)
        wait_for(lambda: at_processor(sandbox, payout_id)[0]["status"] == "paid")
    finally:
        sandbox.set_faults(payout_seconds=5)
    settings.PAYOUT_RESOLVE_AFTER_SECONDS = 0
    assert payout_services.payouts_sweep()["overdue"] == 1
    assert Payout.objects.get(pk=payout_id).status == "paid"
    assert events_of(payout_id) == ["payout.created", "payout.paid"]
    assert balance_of(merchant) == (8_000, 0)
    assert JournalEntry.objects.filter(source=payout_id).count() == 2


@pytest.mark.django_db
def test_a_lost_failure_webhook_is_made_up_for_by_the_sweep(api_client, merchant, sandbox, settings):
    fund(merchant, 5_000)
    add_account(api_client, CLOSED)
    sandbox.set_faults(payout_seconds=0)
    try:
        payout_id = pay_out(api_client, 5_000).json()["id"]
        payout_services.payout_send(payout_id=payout_id)
        wait_for(lambda: at_processor(sandbox, payout_id)[0]["status"] == "failed")
    finally:
        sandbox.set_faults(payout_seconds=5)
    assert balance_of(merchant) == (0, 0)
    settings.PAYOUT_RESOLVE_AFTER_SECONDS = 0
    payout_services.payouts_sweep()
    payout = Payout.objects.get(pk=payout_id)
    assert (payout.status, payout.failure_code) == ("failed", "account_closed")
    assert balance_of(merchant) == (5_000, 0)
    assert events_of(payout_id) == ["payout.created", "payout.failed"]


@pytest.mark.django_db
def test_a_payout_webhook_from_another_processor_is_ignored(api_client, merchant, funded, sandbox):
    from gateways.base import Payout as ProcessorPayout
    from gateways.base import PayoutStatus, ProcessorEvent
    from payments.processor_events import processor_event_receive

    payout_id = pay_out(api_client, 1_000).json()["id"]
    payout_services.payout_send(payout_id=payout_id)
    paid = ProcessorPayout(
        processor_id="po_elsewhere",
        reference=payout_id,
        amount=1_000,
        currency="USD",
        destination="ba_x",
        status=PayoutStatus.PAID,
        arrival_date=int(time.time()),
        failure_code=None,
    )
    event = ProcessorEvent(
        event_id=f"evt_{uuid.uuid4().hex}", type="payout.paid", created=0, charge=None, payout=paid, payload={}
    )
    stored = processor_event_receive(processor="sandbox_eu", event=event)
    assert stored.status == "ignored" and Payout.objects.get(pk=payout_id).status == "in_transit"
    # The same event from the processor that has the payout is applied, once.
    assert processor_event_receive(processor="sandbox", event=event).status == "processed"
    assert processor_event_receive(processor="sandbox", event=event).status == "processed"
    assert Payout.objects.get(pk=payout_id).status == "paid"
    assert events_of(payout_id) == ["payout.created", "payout.paid"]


# --- Cancel ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pending_payout_is_canceled_and_the_amount_returns(api_client, merchant, funded, sandbox):
    payout_id = pay_out(api_client, 4_000).json()["id"]
    response = post(api_client, f"{URL}/{payout_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert balance_of(merchant) == (10_000, 0)
    assert events_of(payout_id) == ["payout.created", "payout.canceled"]
    entry = JournalEntry.objects.get(event_key=f"payout.canceled:{payout_id}")
    assert entry.type == "payout_cancel"
    # Canceled: never sent, and not canceled twice.
    assert payout_services.payout_send(payout_id=payout_id).status == "canceled"
    assert at_processor(sandbox, payout_id) == []
    again = post(api_client, f"{URL}/{payout_id}/cancel")
    assert again.status_code == 400 and error_of(again)["code"] == "payout_not_cancelable"
    assert balance_of(merchant) == (10_000, 0)


@pytest.mark.django_db
def test_a_payout_sent_cannot_be_canceled(api_client, merchant, funded, sandbox):
    payout_id = pay_out(api_client, 4_000).json()["id"]
    payout_services.payout_send(payout_id=payout_id)
    response = post(api_client, f"{URL}/{payout_id}/cancel")
    assert response.status_code == 400 and error_of(response)["code"] == "payout_not_cancelable"
    assert "in_transit" in error_of(response)["message"]
    assert balance_of(merchant) == (6_000, 0)


@pytest.mark.django_db
def test_another_merchants_payout_is_a_404(api_client, other_api_client, funded):
    payout_id = pay_out(api_client, 100).json()["id"]
    assert other_api_client.get(f"{URL}/{payout_id}").status_code == 404
    assert post(other_api_client, f"{URL}/{payout_id}/cancel").status_code == 404
    assert Payout.objects.get(pk=payout_id).status == "pending"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_and_send_racing_exactly_one_wins(merchant, funded, api_client, sandbox):
    outcomes = set()
    for _round in range(6):
        payout_id = pay_out(api_client, 100).json()["id"]
        start = threading.Barrier(2)
        canceled = []

        def cancel(payout_id=payout_id, start=start, canceled=canceled):
            try:
                start.wait(timeout=30)
                canceled.append(post(api_client, f"{URL}/{payout_id}/cancel").status_code == 200)
            finally:
                connection.close()

        def send(payout_id=payout_id, start=start):
            try:
                start.wait(timeout=30)
                payout_services.payout_send(payout_id=payout_id)
            finally:
                connection.close()

        threads = [threading.Thread(target=cancel), threading.Thread(target=send)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        status = Payout.objects.get(pk=payout_id).status
        sent = at_processor(sandbox, payout_id)
        if canceled == [True]:
            assert status == "canceled" and sent == []
        else:
            assert status == "in_transit" and len(sent) == 1
        outcomes.add(status)
    assert balance_of(merchant)[0] == 10_000 - 100 * sum(1 for p in Payout.objects.all() if p.status != "canceled")


# --- Outcomes by webhook --------------------------------------------------------------------------------


@pytest.fixture
def webhook_sandbox(live_server, settings):
    """A sandbox whose webhooks reach this test's live server, paying out after half a second."""
    with sandbox_sending_webhooks_to(live_server, settings, SANDBOX_PAYOUT_SECONDS=0.5) as process:
        yield process


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_payout_is_paid_by_webhook_and_a_duplicate_webhook_is_harmless(api_client, merchant, webhook_sandbox):
    fund(merchant, 10_000)
    add_account(api_client)
    webhook_sandbox.set_faults(duplicate_webhooks=True)
    payout_id = pay_out(api_client, 6_000).json()["id"]
    payout_services.payout_send(payout_id=payout_id)
    wait_for(lambda: Payout.objects.get(pk=payout_id).status == "paid")
    time.sleep(1.5)  # the duplicate delivery arrives too
    assert events_of(payout_id) == ["payout.created", "payout.paid"]
    assert JournalEntry.objects.filter(event_key=f"payout.paid:{payout_id}").count() == 1
    assert balance_of(merchant) == (4_000, 0)
    assert api_client.get(URL, {"status": "paid"}).json()["data"][0]["id"] == payout_id


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_payout_to_a_closed_account_fails_and_the_money_returns(api_client, merchant, webhook_sandbox):
    fund(merchant, 10_000)
    add_account(api_client, CLOSED)
    payout_id = pay_out(api_client, 7_000).json()["id"]
    assert payout_services.payout_send(payout_id=payout_id).status == "in_transit"
    assert balance_of(merchant) == (3_000, 0)
    wait_for(lambda: Payout.objects.get(pk=payout_id).status == "failed")
    body = api_client.get(f"{URL}/{payout_id}").json()
    assert body["status"] == "failed" and body["failure_code"] == "account_closed"
    assert balance_of(merchant) == (10_000, 0)
    assert events_of(payout_id) == ["payout.created", "payout.failed"]
    assert JournalEntry.objects.get(event_key=f"payout.failed:{payout_id}").type == "payout_failure"
    # A late or repeated outcome moves nothing.
    [remote] = at_processor(webhook_sandbox, payout_id)
    from gateways.registry import processor

    answer = processor("sandbox").retrieve_payout(processor_payout_id=remote["id"])
    payout_services.payout_apply_processor_payout(payout_id=payout_id, answer=answer, actor="test")
    assert balance_of(merchant) == (10_000, 0)


# --- Lists ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_pages_newest_first_and_filters_by_status(api_client, funded):
    ids = [pay_out(api_client, 100 + i).json()["id"] for i in range(3)]
    post(api_client, f"{URL}/{ids[0]}/cancel")
    page = api_client.get(URL, {"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [p["id"] for p in page["data"]] == [ids[2], ids[1]]
    assert [p["id"] for p in api_client.get(URL, {"status": "canceled"}).json()["data"]] == [ids[0]]
    assert [p["id"] for p in api_client.get(URL, {"status": "pending"}).json()["data"]] == [ids[2], ids[1]]
    bad = api_client.get(URL, {"status": "lost"})
    assert bad.status_code == 400 and error_of(bad)["param"] == "status"


# --- The ledger proves it ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_ledger_check_finds_a_payout_whose_status_disagrees_with_the_in_transit_account(api_client, funded):
    from ledger.invariants import check_payouts_in_transit

    payout_id = pay_out(api_client, 1_000).json()["id"]
    assert check_payouts_in_transit()[0] == 0
    # A payout marked paid with no ledger entry for it: in transit still holds its amount.
    Payout.objects.filter(pk=payout_id).update(status="paid", sending_since=Payout.objects.get(pk=payout_id).created)
    failures, sample, _ = check_payouts_in_transit()
    assert failures == 1 and sample[0][2:] == [1_000, 0]
    Payout.objects.filter(pk=payout_id).update(status="pending", sending_since=None)
    assert check_payouts_in_transit()[0] == 0
