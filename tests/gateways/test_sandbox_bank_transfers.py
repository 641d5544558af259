"""Bank transfers (ACH/SEPA-like): pending, settled by webhook, returned (R01) or refused at once (R03)."""

import datetime
import time

import pytest

from gateways.base import CardDeclined, Charge, ProcessorRequestRejected, TokenInvalid


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def report_lines(adapter, charge_id: str, since: datetime.date) -> list[dict]:
    days = sorted({since, today()})
    found = [
        line
        for day in days
        for batch in adapter.settlement_report(day=day).batches(size=1000)
        for line in batch
        if line.processor_id == charge_id
    ]
    return [
        {key: str(getattr(line, key)) for key in ("type", "reference", "currency", "amount", "fee", "net")}
        for line in found
    ]


def bank_account(adapter, account_number: str = "000123456789") -> str:
    return adapter.tokenize_bank_account(
        country="US", holder_name="Jane Doe", routing_number="110000000", account_number=account_number
    ).processor_id


def debit(adapter, key: str, reference: str, source: str, amount: int = 10_000, currency: str = "USD") -> Charge:
    return adapter.authorize(
        reference=reference, amount=amount, currency=currency, token=source, capture=True, idempotency_key=key
    )


def test_a_bank_transfer_is_pending_then_settles_with_a_webhook_and_a_charge_line(
    adapter, webhook_receiver, new_key, reference
):
    started = today()
    key = new_key()

    pending = debit(adapter, key, reference, bank_account(adapter))

    assert (pending.status, pending.amount, pending.amount_captured) == ("pending", 10_000, 0)
    assert pending.card is None and pending.return_code is None and pending.next_action_url is None
    assert report_lines(adapter, pending.processor_id, started) == [], "no money has moved yet"

    [delivery] = webhook_receiver.wait_for_event("charge.succeeded", about=pending.processor_id, timeout=10)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)

    assert event.type == "charge.succeeded"
    settled = event.charge
    assert (settled.status, settled.amount_captured, settled.reference) == ("captured", 10_000, reference)
    assert adapter.lookup(idempotency_key=key) == event.charge
    assert report_lines(adapter, pending.processor_id, started) == [
        {"type": "charge", "reference": reference, "currency": "USD", "amount": "10000", "fee": "275", "net": "9725"}
    ]


def test_it_settles_only_after_the_settlement_delay(adapter, live_sandbox, webhook_receiver, new_key, reference):
    live_sandbox.set_faults(bank_settlement_seconds=1.5)
    source = bank_account(adapter)

    started = time.monotonic()
    pending = debit(adapter, new_key(), reference, source)
    time.sleep(0.8)
    assert adapter.charges_for(reference=reference)[0].status == "pending"

    webhook_receiver.wait_for_event("charge.succeeded", about=pending.processor_id, timeout=10)
    assert time.monotonic() - started >= 1.5


def test_a_returned_account_settles_then_comes_back_r01_with_a_webhook_and_a_return_line(
    adapter, webhook_receiver, new_key, reference
):
    started = today()
    pending = debit(adapter, new_key(), reference, bank_account(adapter, "000111111116"), amount=5_000)

    succeeded = webhook_receiver.wait_for_event("charge.succeeded", about=pending.processor_id, timeout=10)
    [returned] = webhook_receiver.wait_for_event("charge.returned", about=pending.processor_id, timeout=10)

    assert succeeded[0].received_at <= returned.received_at
    event = adapter.parse_webhook(body=returned.body, headers=returned.headers, tolerance_seconds=300)
    assert event.type == "charge.returned"
    assert (event.charge.status, event.charge.return_code, event.charge.amount_captured) == ("returned", "R01", 5_000)
    assert "R01" in event.charge.failure_message
    assert returned.event["data"]["object"]["return_code"] == "R01"
    assert adapter.charges_for(reference=reference) == [event.charge]
    assert report_lines(adapter, pending.processor_id, started) == [
        {"type": "charge", "reference": reference, "currency": "USD", "amount": "5000", "fee": "150", "net": "4850"},
        {"type": "return", "reference": reference, "currency": "USD", "amount": "-5000", "fee": "0", "net": "-5000"},
    ]


def test_a_missing_account_fails_at_once_r03_as_a_decline(adapter, live_sandbox, new_key, reference):
    key = new_key()

    with pytest.raises(CardDeclined) as caught:
        debit(adapter, key, reference, bank_account(adapter, "000111111113"))

    declined = caught.value
    assert declined.decline_code == "no_account"
    failed = declined.charge
    assert (failed.status, failed.return_code, failed.amount_captured) == ("failed", "R03", 0)
    assert adapter.lookup(idempotency_key=key) == declined.charge
    body = live_sandbox.request("GET", f"/v1/charges/{declined.charge.processor_id}").json()
    assert (body["status"], body["decline_code"], body["return_code"]) == ("failed", "no_account", "R03")
    replay = live_sandbox.request(
        "POST",
        "/v1/charges",
        idempotency_key=key,
        json={
            "amount": 10_000,
            "currency": "USD",
            "source": body["bank_account"]["id"],
            "capture": True,
            "reference": reference,
        },
    )
    assert replay.status_code == 402 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["error"]["type"] == "card_error"


def test_an_iban_that_fails_r03_declines_the_same_way(adapter, new_key, reference):
    source = adapter.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE12370400440111111113")

    with pytest.raises(CardDeclined) as caught:
        debit(adapter, new_key(), reference, source.processor_id, currency="EUR")

    assert (caught.value.charge.status, caught.value.charge.return_code) == ("failed", "R03")


def test_a_bank_transfer_cannot_be_authorised_for_later_capture(adapter, live_sandbox, new_key, reference):
    key = new_key()
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.authorize(
            reference=reference,
            amount=100,
            currency="USD",
            token=bank_account(adapter),
            capture=False,
            idempotency_key=key,
        )

    assert (caught.value.code, caught.value.param) == ("capture_method_invalid", "capture")
    assert adapter.lookup(idempotency_key=key) is None


def test_an_unknown_bank_account_is_token_invalid(adapter, new_key, reference):
    with pytest.raises(TokenInvalid):
        debit(adapter, new_key(), reference, "ba_doesNotExist")

    assert adapter.charges_for(reference=reference) == []


def test_a_pending_transfer_can_be_neither_captured_voided_nor_refunded(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(bank_settlement_seconds=30)
    pending = debit(adapter, new_key(), reference, bank_account(adapter))

    for call in (
        lambda: adapter.capture(processor_id=pending.processor_id, amount=None, idempotency_key=new_key()),
        lambda: adapter.void(processor_id=pending.processor_id, idempotency_key=new_key()),
        lambda: adapter.refund(
            processor_charge_id=pending.processor_id, amount=100, reference="re_x", idempotency_key=new_key()
        ),
    ):
        with pytest.raises(ProcessorRequestRejected) as caught:
            call()
        assert caught.value.code == "charge_unexpected_state"


def test_a_settled_transfer_is_refunded_like_a_card_charge(adapter, webhook_receiver, new_key, reference):
    pending = debit(adapter, new_key(), reference, bank_account(adapter), amount=3_000)
    webhook_receiver.wait_for_event("charge.succeeded", about=pending.processor_id, timeout=10)

    refund_key = new_key()
    refund = adapter.refund(
        processor_charge_id=pending.processor_id, amount=1_000, reference="re_bank_1", idempotency_key=refund_key
    )

    assert (refund.status, refund.amount, refund.currency) == ("succeeded", 1_000, "USD")
    assert adapter.lookup_refund(idempotency_key=refund_key) == refund
    assert adapter.charges_for(reference=reference)[0].amount_refunded == 1_000


def test_the_same_key_never_debits_twice(adapter, live_sandbox, new_key, reference):
    source, key = bank_account(adapter), new_key()

    first = debit(adapter, key, reference, source)
    again = debit(adapter, key, reference, source)

    assert again == first
    assert len(adapter.charges_for(reference=reference)) == 1
