"""Payouts through the adapter against the sandbox as a real process: made, looked up, paid or failed by signed
webhook, refused, unknown, and settled in the report that reconciliation reads."""

import datetime
import socket
import uuid
from dataclasses import replace

import pytest

from gateways.base import (
    Payout,
    PayoutStatus,
    ProcessorNotReached,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    TokenInvalid,
)
from gateways.sandbox_acquirer.client import SandboxProcessor
from reconciliation.report import ProcessorFees, ReportReader


def payout_ref() -> str:
    """A reference (our payout id) no other test uses."""
    return f"po_test_{uuid.uuid4().hex}"


def account(adapter, account_number: str = "000123456789") -> str:
    return adapter.tokenize_bank_account(
        country="US", holder_name="Jane Merchant", routing_number="110000000", account_number=account_number
    ).processor_id


def test_a_payout_is_in_transit_then_paid_by_a_signed_webhook(adapter, webhook_receiver, new_key):
    destination, our_id, key = account(adapter), payout_ref(), new_key()

    payout = adapter.create_payout(
        amount=25_000, currency="USD", destination=destination, reference=our_id, idempotency_key=key
    )

    assert isinstance(payout, Payout)
    assert payout.processor_id.startswith("po_")
    assert (payout.reference, payout.amount, payout.currency, payout.destination) == (
        our_id,
        25_000,
        "USD",
        destination,
    )
    assert (payout.status, payout.failure_code) == (PayoutStatus.IN_TRANSIT, None)
    assert payout.arrival_date > 0
    assert adapter.lookup_payout(idempotency_key=key) == payout

    [delivery] = webhook_receiver.wait_for_event("payout.paid", about=payout.processor_id)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)

    assert (event.type, event.charge, event.refund, event.dispute) == ("payout.paid", None, None, None)
    assert event.payout == replace(payout, status=PayoutStatus.PAID)
    assert adapter.retrieve_payout(processor_payout_id=payout.processor_id) == event.payout


def test_a_payout_to_a_closed_account_fails_by_webhook_with_account_closed(adapter, webhook_receiver, new_key):
    destination = account(adapter, "000111111116")

    payout = adapter.create_payout(
        amount=900, currency="USD", destination=destination, reference=payout_ref(), idempotency_key=new_key()
    )

    assert payout.status == PayoutStatus.IN_TRANSIT
    [delivery] = webhook_receiver.wait_for_event("payout.failed", about=payout.processor_id)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert event.payout.status == PayoutStatus.FAILED
    assert (event.payout.failure_code, event.payout.failure_message) == (
        "account_closed",
        "The bank account has been closed.",
    )
    assert adapter.retrieve_payout(processor_payout_id=payout.processor_id) == event.payout


def test_the_same_key_never_pays_out_twice(adapter, live_sandbox, new_key):
    destination, our_id, key = account(adapter), payout_ref(), new_key()
    arguments = {"amount": 4_000, "currency": "EUR", "destination": destination, "reference": our_id}

    first = adapter.create_payout(**arguments, idempotency_key=key)
    again = adapter.create_payout(**arguments, idempotency_key=key)

    assert again == first
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.create_payout(**{**arguments, "amount": 4_001}, idempotency_key=key)
    assert (caught.value.code, caught.value.status_code) == ("idempotency_key_reused", 422)
    listed = live_sandbox.request("GET", "/v1/payouts", params={"reference": our_id}).json()["data"]
    assert [item["id"] for item in listed] == [first.processor_id]


def test_lookup_payout_finds_the_payout_of_a_key_or_none(adapter, new_key):
    key = new_key()
    payout = adapter.create_payout(
        amount=100, currency="USD", destination=account(adapter), reference=payout_ref(), idempotency_key=key
    )

    assert adapter.lookup_payout(idempotency_key=key).processor_id == payout.processor_id
    assert adapter.lookup_payout(idempotency_key=new_key()) is None


def test_an_unknown_destination_is_token_invalid_and_pays_out_nothing(adapter, new_key):
    key = new_key()

    with pytest.raises(TokenInvalid) as caught:
        adapter.create_payout(
            amount=100, currency="USD", destination="ba_nothing", reference=payout_ref(), idempotency_key=key
        )

    assert (caught.value.param, caught.value.status_code) == ("destination", 400)
    assert adapter.lookup_payout(idempotency_key=key) is None


def test_a_refused_payout_is_rejected_with_its_code(adapter, new_key):
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.create_payout(
            amount=0, currency="USD", destination=account(adapter), reference=payout_ref(), idempotency_key=new_key()
        )

    assert (caught.value.code, caught.value.param) == ("amount_invalid", "amount")
    assert not isinstance(caught.value, ProcessorUnavailable)


def test_an_injected_error_is_unknown_and_a_retry_with_the_key_pays_out_once(adapter, live_sandbox, new_key):
    destination, our_id, key = account(adapter), payout_ref(), new_key()
    live_sandbox.set_faults(error_rate=1.0)

    with pytest.raises(ProcessorUnavailable) as caught:
        adapter.create_payout(
            amount=300, currency="USD", destination=destination, reference=our_id, idempotency_key=key
        )

    assert caught.value.status_code == 500
    assert adapter.lookup_payout(idempotency_key=key) is None
    live_sandbox.set_faults(error_rate=0.0)
    payout = adapter.create_payout(
        amount=300, currency="USD", destination=destination, reference=our_id, idempotency_key=key
    )
    assert adapter.lookup_payout(idempotency_key=key) == payout


def test_an_unknown_payout_id_is_unavailable_not_rejected(adapter):
    with pytest.raises(ProcessorUnavailable) as caught:
        adapter.retrieve_payout(processor_payout_id="po_nothing")
    assert caught.value.status_code == 404


def test_a_processor_that_cannot_be_reached_pays_out_nothing():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = SandboxProcessor(base_url=f"http://127.0.0.1:{port}", connect_timeout=0.5, read_timeout=0.5)

    with pytest.raises(ProcessorNotReached):
        nowhere.create_payout(amount=1, currency="USD", destination="ba_x", reference="po_x", idempotency_key="k")
    with pytest.raises(ProcessorNotReached):
        nowhere.lookup_payout(idempotency_key="k")


def test_a_paid_payout_settles_as_a_payout_line_that_reconciliation_stages_by_our_payout_id(
    adapter, webhook_receiver, new_key
):
    our_id = payout_ref()
    payout = adapter.create_payout(
        amount=7_777, currency="USD", destination=account(adapter), reference=our_id, idempotency_key=new_key()
    )
    webhook_receiver.wait_for_event("payout.paid", about=payout.processor_id)
    day = datetime.datetime.now(datetime.UTC).date()

    report = adapter.settlement_report(day=day)

    [line] = [line for batch in report.batches(size=100) for line in batch if line.processor_id == payout.processor_id]
    assert (line.type, line.reference, line.currency, line.amount, line.fee, line.net) == (
        "payout",
        our_id,
        "USD",
        -7_777,
        0,
        -7_777,
    )
    reader = ReportReader(report, day=day, fees=ProcessorFees(bps=250, fixed=25, dispute=1500))
    staged = [row for batch in reader.batches() for row in batch]
    [row] = [row for row in staged if row[2] == payout.processor_id]
    assert (row[1], row[4], row[-1]) == ("payout", our_id, 0)  # matched on our payout id, no fee expected
