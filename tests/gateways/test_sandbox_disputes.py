"""Disputes at the sandbox: opened after capture or on demand, answered with evidence, won, lost, accepted, expired."""

import time
import uuid

import pytest

from gateways.base import Dispute, ProcessorRequestRejected
from gateways.sandbox_acquirer.webhooks import signature_header


def charge(adapter, new_key, reference, *, amount=5000, token="tok_visa", capture=True):
    return adapter.authorize(
        reference=reference, amount=amount, currency="EUR", token=token, capture=capture, idempotency_key=new_key()
    )


def opened(adapter, new_key, reference, **kwargs) -> Dispute:
    """A dispute opened at once (sandbox control) on a fresh captured charge."""
    captured = charge(adapter, new_key, reference)
    return adapter.open_dispute(processor_charge_id=captured.processor_id, **kwargs)


def closed_event(adapter, webhook_receiver, dispute_id: str):
    [delivery] = webhook_receiver.wait_for_event("dispute.closed", about=dispute_id)
    return adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)


def test_a_create_dispute_charge_is_disputed_after_capture_with_a_signed_webhook(
    adapter, webhook_receiver, webhook_secret, new_key, reference
):
    started = time.monotonic()
    captured = charge(adapter, new_key, reference, token="tok_createDispute")
    assert webhook_receiver.matching(lambda event: event["data"]["object"].get("charge") == captured.processor_id) == []

    [delivery] = webhook_receiver.wait_for_event("dispute.created", about=captured.processor_id)

    assert delivery.received_at - started >= 0.9  # dispute_delay_seconds is 1 in these tests
    timestamp = int(delivery.headers["Sandbox-Signature"].split(",")[0][2:])
    assert delivery.headers["Sandbox-Signature"] == signature_header(webhook_secret, timestamp, delivery.body)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert (event.type, event.charge, event.refund) == ("dispute.created", None, None)
    dispute = event.dispute
    assert isinstance(dispute, Dispute)
    assert dispute.processor_id.startswith("dsp_")
    assert (dispute.charge_id, dispute.payment_reference) == (captured.processor_id, reference)
    assert (dispute.amount, dispute.currency, dispute.reason) == (5000, "EUR", "fraudulent")
    assert (dispute.status, dispute.evidence) == ("needs_response", {})
    assert abs(dispute.evidence_due_by - (time.time() + 7 * 24 * 3600)) < 60
    assert adapter.retrieve_dispute(processor_dispute_id=dispute.processor_id) == dispute
    assert adapter.charges_for(reference=reference)[0].disputed is True
    body = delivery.event["data"]["object"]
    assert set(body) == {
        "id",
        "object",
        "charge",
        "reference",
        "amount",
        "currency",
        "reason",
        "status",
        "evidence_due_by",
        "evidence",
        "created",
    }


def test_a_manually_captured_create_dispute_charge_is_disputed_after_its_capture(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    authorized = charge(adapter, new_key, reference, token="tok_createDispute", capture=False)
    time.sleep(1.3)
    assert live_sandbox.request("GET", "/v1/disputes", params={"charge": authorized.processor_id}).json()["data"] == []

    adapter.capture(processor_id=authorized.processor_id, amount=3000, idempotency_key=new_key())

    [delivery] = webhook_receiver.wait_for_event("dispute.created", about=authorized.processor_id)
    assert delivery.event["data"]["object"]["amount"] == 3000


def test_the_disputed_amount_leaves_out_what_was_refunded(adapter, webhook_receiver, new_key, reference):
    captured = charge(adapter, new_key, reference, token="tok_createDispute")
    adapter.refund(
        processor_charge_id=captured.processor_id, amount=1200, reference="re_part", idempotency_key=new_key()
    )

    [delivery] = webhook_receiver.wait_for_event("dispute.created", about=captured.processor_id)

    assert delivery.event["data"]["object"]["amount"] == 3800


def test_a_dispute_opened_on_demand(adapter, live_sandbox, webhook_receiver, new_key, reference):
    captured = charge(adapter, new_key, reference)

    dispute = adapter.open_dispute(
        processor_charge_id=captured.processor_id, reason="product_not_received", amount=4000
    )

    assert (dispute.status, dispute.reason, dispute.amount, dispute.payment_reference) == (
        "needs_response",
        "product_not_received",
        4000,
        reference,
    )
    [delivery] = webhook_receiver.wait_for_event("dispute.created", about=dispute.processor_id)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert event.dispute == dispute
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.open_dispute(processor_charge_id=captured.processor_id)
    assert caught.value.code == "charge_already_disputed"
    listed = live_sandbox.request("GET", "/v1/disputes", params={"reference": reference}).json()
    assert [item["id"] for item in listed["data"]] == [dispute.processor_id]


def test_a_dispute_opened_on_demand_by_reference(live_sandbox, adapter, new_key, reference):
    captured = charge(adapter, new_key, reference)

    answer = live_sandbox.request(
        "POST", "/v1/control/disputes", json={"reference": reference, "evidence_due_in_seconds": 3600}
    )

    assert answer.status_code == 201
    body = answer.json()
    assert (body["charge"], body["reason"], body["amount"]) == (captured.processor_id, "general", 5000)
    assert abs(body["evidence_due_by"] - (time.time() + 3600)) < 60


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "parameter_missing"),
        ({"charge": "ch_x", "reference": "pay_x"}, 400, "parameter_missing"),
        ({"charge": "ch_nothing"}, 404, "resource_missing"),
        ({"reference": "pay_nothing"}, 404, "resource_missing"),
        ({"charge": "ch_x", "reason": "bored"}, 400, "parameter_invalid"),
        ({"charge": "ch_x", "amount": 0}, 400, "amount_invalid"),
    ],
)
def test_bad_requests_to_open_a_dispute_are_refused(live_sandbox, body, status, code):
    answer = live_sandbox.request("POST", "/v1/control/disputes", json=body)

    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_only_what_was_captured_and_not_refunded_can_be_disputed(adapter, new_key, reference):
    authorized = charge(adapter, new_key, reference, capture=False)
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.open_dispute(processor_charge_id=authorized.processor_id)
    assert caught.value.code == "charge_unexpected_state"

    captured = charge(adapter, new_key, reference)
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.open_dispute(processor_charge_id=captured.processor_id, amount=5001)
    assert caught.value.code == "amount_too_large"

    adapter.refund(
        processor_charge_id=captured.processor_id, amount=5000, reference="re_all", idempotency_key=new_key()
    )
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.open_dispute(processor_charge_id=captured.processor_id)
    assert caught.value.code == "charge_unexpected_state"


def test_a_disputed_charge_cannot_be_refunded(adapter, new_key, reference):
    dispute = opened(adapter, new_key, reference)

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.refund(processor_charge_id=dispute.charge_id, amount=1, reference="re_x", idempotency_key=new_key())

    assert caught.value.code == "charge_disputed"


def test_winning_evidence_wins_the_dispute_and_gives_the_money_back(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    dispute = opened(adapter, new_key, reference)
    evidence = {"shipping_documentation": "Tracking 1Z999: winning_evidence", "refund_policy": "30 days."}

    answered = adapter.submit_dispute_evidence(
        processor_dispute_id=dispute.processor_id, evidence=evidence, idempotency_key=new_key()
    )

    assert (answered.status, answered.evidence) == ("under_review", evidence)
    [updated] = webhook_receiver.wait_for_event("dispute.updated", about=dispute.processor_id)
    assert updated.event["data"]["object"]["status"] == "under_review"
    event = closed_event(adapter, webhook_receiver, dispute.processor_id)
    assert event.dispute.status == "won"
    assert event.dispute.evidence == evidence
    assert adapter.retrieve_dispute(processor_dispute_id=dispute.processor_id).status == "won"
    assert adapter.charges_for(reference=reference)[0].disputed is False
    # The money came back: the charge can be refunded again.
    refund = adapter.refund(
        processor_charge_id=dispute.charge_id, amount=100, reference="re_w", idempotency_key=new_key()
    )
    assert refund.status == "succeeded"


def test_other_evidence_loses_the_dispute(adapter, webhook_receiver, new_key, reference):
    dispute = opened(adapter, new_key, reference)

    adapter.submit_dispute_evidence(
        processor_dispute_id=dispute.processor_id,
        evidence={"customer_communication": "The customer agreed by email.", "uncategorized_text": "winning"},
        idempotency_key=new_key(),
    )

    event = closed_event(adapter, webhook_receiver, dispute.processor_id)
    assert event.type == "dispute.closed"
    assert event.dispute.status == "lost"
    assert adapter.charges_for(reference=reference)[0].disputed is True


def test_evidence_is_accepted_only_while_the_dispute_needs_a_response(adapter, live_sandbox, new_key, reference):
    dispute = opened(adapter, new_key, reference)
    key = new_key()
    evidence = {"uncategorized_text": "Receipt attached."}
    first = adapter.submit_dispute_evidence(
        processor_dispute_id=dispute.processor_id, evidence=evidence, idempotency_key=key
    )

    again = adapter.submit_dispute_evidence(
        processor_dispute_id=dispute.processor_id, evidence=evidence, idempotency_key=key
    )
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.submit_dispute_evidence(
            processor_dispute_id=dispute.processor_id, evidence=evidence, idempotency_key=new_key()
        )

    assert again == first  # the same key replays the answer
    assert caught.value.code == "dispute_unexpected_state"
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.accept_dispute(processor_dispute_id=dispute.processor_id, idempotency_key=new_key())
    assert caught.value.code == "dispute_unexpected_state"


def test_accepting_a_dispute_loses_it_at_once(adapter, webhook_receiver, new_key, reference):
    dispute = opened(adapter, new_key, reference)

    accepted = adapter.accept_dispute(processor_dispute_id=dispute.processor_id, idempotency_key=new_key())

    assert accepted.status == "lost"
    assert closed_event(adapter, webhook_receiver, dispute.processor_id).dispute == accepted
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.submit_dispute_evidence(
            processor_dispute_id=dispute.processor_id, evidence={"refund_policy": "x"}, idempotency_key=new_key()
        )
    assert caught.value.code == "dispute_unexpected_state"
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.accept_dispute(processor_dispute_id=dispute.processor_id, idempotency_key=new_key())
    assert caught.value.code == "dispute_unexpected_state"


def test_a_dispute_without_evidence_by_its_due_date_is_lost(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    captured = charge(adapter, new_key, reference)
    opened_now = live_sandbox.request(
        "POST", "/v1/control/disputes", json={"charge": captured.processor_id, "evidence_due_in_seconds": 1}
    ).json()

    event = closed_event(adapter, webhook_receiver, opened_now["id"])

    assert event.dispute.status == "lost"
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.submit_dispute_evidence(
            processor_dispute_id=opened_now["id"], evidence={"refund_policy": "x"}, idempotency_key=new_key()
        )
    assert caught.value.code == "dispute_unexpected_state"


@pytest.mark.parametrize(
    ("evidence", "code"),
    [({"receipt": "x"}, "parameter_unknown"), ({"refund_policy": 5}, "parameter_invalid")],
)
def test_bad_evidence_is_refused(adapter, live_sandbox, new_key, reference, evidence, code):
    dispute = opened(adapter, new_key, reference)

    answer = live_sandbox.request(
        "POST", f"/v1/disputes/{dispute.processor_id}/evidence", idempotency_key=new_key(), json=evidence
    )

    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)
    assert adapter.retrieve_dispute(processor_dispute_id=dispute.processor_id).status == "needs_response"


def test_an_unknown_dispute_is_missing(adapter, new_key):
    missing = f"dsp_{uuid.uuid4().hex}"

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.retrieve_dispute(processor_dispute_id=missing)
    assert caught.value.code == "resource_missing"
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.accept_dispute(processor_dispute_id=missing, idempotency_key=new_key())
    assert caught.value.status_code == 404
