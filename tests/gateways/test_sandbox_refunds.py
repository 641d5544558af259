"""Refunds at the sandbox through the adapter: full, partial, several, refused, racing, failing, replayed, delayed."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from gateways.base import CardDeclined, ProcessorRequestRejected, ProcessorUnavailable, Refund


def captured(adapter, new_key, reference, *, amount=1999, token="tok_visa", currency="USD", capture=True):
    return adapter.authorize(
        reference=reference, amount=amount, currency=currency, token=token, capture=capture, idempotency_key=new_key()
    )


def refund_ref() -> str:
    """A refund reference (our refund id) no other test uses."""
    return f"re_test_{uuid.uuid4().hex}"


def charge_state(live_sandbox, charge_id: str) -> dict:
    return live_sandbox.request("GET", f"/v1/charges/{charge_id}").json()


def test_a_full_refund_succeeds_at_once(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference)
    our_id = refund_ref()

    refund = adapter.refund(
        processor_charge_id=charge.processor_id, amount=1999, reference=our_id, idempotency_key=new_key()
    )

    assert isinstance(refund, Refund)
    assert refund.processor_id.startswith("rf_")
    assert (refund.charge_id, refund.reference, refund.amount, refund.currency) == (
        charge.processor_id,
        our_id,
        1999,
        "USD",
    )
    assert (refund.status, refund.failure_reason) == ("succeeded", None)
    assert charge_state(live_sandbox, charge.processor_id)["amount_refunded"] == 1999
    assert adapter.charges_for(reference=reference) == [replace(charge, amount_refunded=1999)]


def test_several_partial_refunds_up_to_the_captured_amount(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference)
    ours = [refund_ref() for _ in range(3)]

    refunds = [
        adapter.refund(
            processor_charge_id=charge.processor_id, amount=amount, reference=our_id, idempotency_key=new_key()
        )
        for amount, our_id in zip((500, 700, 799), ours, strict=True)
    ]

    assert [refund.status for refund in refunds] == ["succeeded"] * 3
    assert charge_state(live_sandbox, charge.processor_id)["amount_refunded"] == 1999
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(
            processor_charge_id=charge.processor_id, amount=1, reference=refund_ref(), idempotency_key=new_key()
        )
    assert caught.value.code == "amount_too_large"
    listed = live_sandbox.request("GET", "/v1/refunds", params={"charge": charge.processor_id}).json()
    assert listed["object"] == "list"
    assert {item["id"] for item in listed["data"]} == {refund.processor_id for refund in refunds}
    by_reference = live_sandbox.request("GET", "/v1/refunds", params={"reference": ours[1]}).json()["data"]
    assert [item["id"] for item in by_reference] == [refunds[1].processor_id]
    detail = live_sandbox.request("GET", f"/v1/refunds/{refunds[0].processor_id}").json()
    assert set(detail) == {
        "id",
        "object",
        "charge",
        "reference",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "idempotency_key",
        "created",
    }
    assert (detail["object"], detail["amount"]) == ("refund", 500)


def test_a_refund_above_what_was_captured_is_refused_and_records_nothing(adapter, live_sandbox, new_key, reference):
    authorized = captured(adapter, new_key, reference, amount=5000, capture=False)
    adapter.capture(processor_id=authorized.processor_id, amount=3000, idempotency_key=new_key())
    key = new_key()

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(
            processor_charge_id=authorized.processor_id, amount=3001, reference=refund_ref(), idempotency_key=key
        )

    assert caught.value.code == "amount_too_large"
    assert caught.value.status_code == 400
    assert adapter.lookup_refund(idempotency_key=key) is None
    assert charge_state(live_sandbox, authorized.processor_id)["amount_refunded"] == 0


@pytest.mark.parametrize("state", ["authorized", "voided", "declined"])
def test_only_a_captured_charge_can_be_refunded(adapter, new_key, reference, state):
    if state == "declined":
        with pytest.raises(CardDeclined) as declined:
            captured(adapter, new_key, reference, token="tok_chargeDeclined")
        charge = declined.value.charge
    else:
        charge = captured(adapter, new_key, reference, capture=False)
    if state == "voided":
        adapter.void(processor_id=charge.processor_id, idempotency_key=new_key())

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(
            processor_charge_id=charge.processor_id, amount=1, reference=refund_ref(), idempotency_key=new_key()
        )

    assert caught.value.code == "charge_unexpected_state"


def test_a_refund_of_an_unknown_charge_is_refused(adapter, new_key):
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(processor_charge_id="ch_nothing", amount=1, reference=refund_ref(), idempotency_key=new_key())

    assert (caught.value.code, caught.value.status_code) == ("resource_missing", 404)


def test_racing_refunds_never_exceed_the_captured_amount(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference, amount=1000)
    barrier = threading.Barrier(20)

    def attempt(_):
        barrier.wait(timeout=10)
        try:
            return adapter.refund(
                processor_charge_id=charge.processor_id, amount=70, reference=refund_ref(), idempotency_key=new_key()
            )
        except ProcessorRequestRejected as refused:
            return refused.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))

    refunds = [outcome for outcome in outcomes if isinstance(outcome, Refund)]
    assert len(refunds) == 14  # 14 × 70 = 980 ≤ 1000 < 15 × 70
    assert [outcome for outcome in outcomes if not isinstance(outcome, Refund)] == ["amount_too_large"] * 6
    listed = live_sandbox.request("GET", "/v1/refunds", params={"charge": charge.processor_id}).json()["data"]
    assert sum(item["amount"] for item in listed if item["status"] != "failed") == 980
    assert charge_state(live_sandbox, charge.processor_id)["amount_refunded"] == 980


def test_refunds_of_a_refund_failure_card_fail_and_release_their_amount(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference, amount=800, token="tok_refundFailure")
    assert charge.status == "captured"
    assert charge.card.last4 == "5126"

    first = adapter.refund(
        processor_charge_id=charge.processor_id, amount=800, reference=refund_ref(), idempotency_key=new_key()
    )
    second = adapter.refund(
        processor_charge_id=charge.processor_id, amount=800, reference=refund_ref(), idempotency_key=new_key()
    )

    for refund in (first, second):
        assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert charge_state(live_sandbox, charge.processor_id)["amount_refunded"] == 0


def test_the_same_key_replays_the_refund_and_never_refunds_twice(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference)
    key, our_id = new_key(), refund_ref()
    call = {"processor_charge_id": charge.processor_id, "amount": 600, "reference": our_id, "idempotency_key": key}

    first = adapter.refund(**call)
    again = adapter.refund(**call)
    raw = live_sandbox.request(
        "POST",
        "/v1/refunds",
        idempotency_key=key,
        json={"charge": charge.processor_id, "amount": 600, "reference": our_id},
    )

    assert first == again
    assert raw.headers["Idempotent-Replayed"] == "true"
    assert raw.json()["id"] == first.processor_id
    assert charge_state(live_sandbox, charge.processor_id)["amount_refunded"] == 600
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(**{**call, "amount": 601})
    assert caught.value.code == "idempotency_key_reused"


def test_lookup_refund_finds_the_refund_of_a_key_or_none(adapter, new_key, reference):
    charge = captured(adapter, new_key, reference)
    key = new_key()
    refund = adapter.refund(
        processor_charge_id=charge.processor_id, amount=10, reference=refund_ref(), idempotency_key=key
    )

    assert adapter.lookup_refund(idempotency_key=key) == refund
    assert adapter.lookup_refund(idempotency_key=new_key()) is None


def test_an_injected_error_refunds_nothing_and_a_retry_with_the_key_does(adapter, live_sandbox, new_key, reference):
    charge = captured(adapter, new_key, reference)
    live_sandbox.set_faults(error_rate=1.0)
    key, our_id = new_key(), refund_ref()

    with pytest.raises(ProcessorUnavailable) as caught:
        adapter.refund(processor_charge_id=charge.processor_id, amount=999, reference=our_id, idempotency_key=key)

    assert caught.value.status_code == 500
    assert adapter.lookup_refund(idempotency_key=key) is None
    live_sandbox.set_faults(error_rate=0.0)
    refund = adapter.refund(processor_charge_id=charge.processor_id, amount=999, reference=our_id, idempotency_key=key)
    assert refund.status == "succeeded"
    assert adapter.lookup_refund(idempotency_key=key) == refund


def test_delayed_refunds_are_pending_then_settle_with_a_webhook(
    adapter, live_sandbox, webhook_receiver, webhook_secret, new_key, reference
):
    live_sandbox.set_faults(refund_delay_seconds=1)
    good = captured(adapter, new_key, reference, amount=1000)
    bad = captured(adapter, new_key, reference, amount=1000, token="tok_refundFailure")
    good_key = new_key()
    started = time.monotonic()

    pending = adapter.refund(
        processor_charge_id=good.processor_id, amount=400, reference=refund_ref(), idempotency_key=good_key
    )
    failing = adapter.refund(
        processor_charge_id=bad.processor_id, amount=1000, reference=refund_ref(), idempotency_key=new_key()
    )

    assert (pending.status, failing.status) == ("pending", "pending")
    assert failing.failure_reason is None
    assert adapter.lookup_refund(idempotency_key=good_key).status == "pending"
    # A pending refund holds its amount: nothing more than the rest can be refunded meanwhile.
    assert charge_state(live_sandbox, bad.processor_id)["amount_refunded"] == 1000
    with pytest.raises(ProcessorRequestRejected):
        adapter.refund(
            processor_charge_id=bad.processor_id, amount=1, reference=refund_ref(), idempotency_key=new_key()
        )

    [succeeded] = webhook_receiver.wait_for_event("refund.succeeded", about=pending.processor_id)
    [failed] = webhook_receiver.wait_for_event("refund.failed", about=failing.processor_id)

    assert succeeded.received_at - started >= 0.9
    event = adapter.parse_webhook(body=succeeded.body, headers=succeeded.headers, tolerance_seconds=300)
    assert (event.type, event.charge, event.dispute) == ("refund.succeeded", None, None)
    assert event.refund == replace(pending, status="succeeded")
    event = adapter.parse_webhook(body=failed.body, headers=failed.headers, tolerance_seconds=300)
    assert (event.refund.status, event.refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert adapter.lookup_refund(idempotency_key=good_key).status == "succeeded"
    assert charge_state(live_sandbox, good.processor_id)["amount_refunded"] == 400
    assert charge_state(live_sandbox, bad.processor_id)["amount_refunded"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 100}, "parameter_missing"),
        ({"charge": "ch_x", "amount": 0}, "amount_invalid"),
        ({"charge": "ch_x", "amount": 1.5}, "amount_invalid"),
        ({"charge": "ch_x", "amount": "100"}, "amount_invalid"),
        ({"charge": "ch_x", "amount": 100, "reason": "duplicate"}, "parameter_unknown"),
        ({"charge": "ch_x", "amount": 100, "reference": 7}, "parameter_invalid"),
    ],
)
def test_bad_refund_bodies_are_refused_before_anything_runs(live_sandbox, new_key, body, code):
    key = new_key()

    answer = live_sandbox.request("POST", "/v1/refunds", idempotency_key=key, json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert live_sandbox.request("GET", "/v1/refunds", params={"idempotency_key": key}).json()["data"] == []


def test_a_refund_needs_an_idempotency_key(live_sandbox):
    answer = live_sandbox.request("POST", "/v1/refunds", json={"charge": "ch_x", "amount": 1})

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "idempotency_key_missing"
