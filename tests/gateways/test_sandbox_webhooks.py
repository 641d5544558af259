"""Webhooks from the sandbox: signed, queued with the change, retried, duplicated on demand, verified by the adapter."""

import json
import time

import pytest

from gateways.base import ProcessorEvent, ProcessorUnavailable, WebhookSignatureInvalid
from gateways.sandbox_acquirer.client import SandboxProcessor
from gateways.sandbox_acquirer.webhooks import signature_header
from tests.processors import configure_processor


def timed_out_charge(adapter, new_key, reference, *, capture=True):
    """A tok_timeout charge whose answer the adapter gave up on; returns the charge found by look-up."""
    key = new_key()
    with pytest.raises(ProcessorUnavailable):
        adapter.authorize(
            reference=reference, amount=4200, currency="GBP", token="tok_timeout", capture=capture, idempotency_key=key
        )
    charge = adapter.lookup(idempotency_key=key)
    assert charge is not None
    return charge


def wait_for_event(live_sandbox, event_id: str, *, status: str, timeout: float = 5.0) -> dict:
    """The sandbox's record of an event once it has ``status`` (it records an attempt just after making it)."""
    deadline = time.monotonic() + timeout
    while True:
        event = live_sandbox.request("GET", f"/v1/events/{event_id}").json()
        if event["status"] == status or time.monotonic() > deadline:
            assert event["status"] == status
            return event
        time.sleep(0.05)


@pytest.fixture
def short_timeouts(live_sandbox, settings):
    live_sandbox.set_faults(timeout_delay_seconds=1)
    configure_processor(settings, read_timeout=0.5)


def test_a_timed_out_charge_is_reported_by_a_signed_charge_succeeded(
    adapter, short_timeouts, webhook_receiver, webhook_secret, new_key, reference
):
    charge = timed_out_charge(adapter, new_key, reference)

    [delivery] = webhook_receiver.wait_for_charge(charge.processor_id)

    assert delivery.headers["Content-Type"] == "application/json"
    timestamp, _, mac = delivery.headers["Sandbox-Signature"].partition(",v1=")
    assert timestamp.startswith("t=") and len(mac) == 64
    assert delivery.headers["Sandbox-Signature"] == signature_header(webhook_secret, int(timestamp[2:]), delivery.body)
    body = delivery.event
    assert body["id"].startswith("evt_sbx_")
    assert (body["object"], body["type"]) == ("event", "charge.succeeded")
    assert isinstance(body["created"], int)

    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)

    assert isinstance(event, ProcessorEvent)
    assert (event.event_id, event.type, event.created) == (body["id"], "charge.succeeded", body["created"])
    assert event.charge == charge
    assert event.payload == body


def test_an_uncaptured_timed_out_charge_is_reported_by_charge_authorized(
    adapter, short_timeouts, webhook_receiver, new_key, reference
):
    charge = timed_out_charge(adapter, new_key, reference, capture=False)

    [delivery] = webhook_receiver.wait_for_charge(charge.processor_id)

    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert event.type == "charge.authorized"
    assert event.charge.status == "authorized"


def test_the_webhook_is_sent_only_after_the_delay(
    adapter, live_sandbox, settings, webhook_receiver, new_key, reference
):
    live_sandbox.set_faults(timeout_delay_seconds=2)
    configure_processor(settings, read_timeout=0.5)
    started = time.monotonic()

    charge = timed_out_charge(adapter, new_key, reference)

    assert webhook_receiver.for_charge(charge.processor_id) == []
    [delivery] = webhook_receiver.wait_for_charge(charge.processor_id)
    assert delivery.received_at - started >= 1.9


def test_synchronous_answers_send_no_webhook(adapter, live_sandbox, new_key, reference):
    charge = adapter.authorize(
        reference=reference, amount=10, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )

    time.sleep(0.5)
    events = live_sandbox.events()
    assert not [event for event in events if event["payload"]["data"]["object"]["id"] == charge.processor_id]


def test_a_failed_delivery_is_retried_with_the_same_event(
    adapter, short_timeouts, live_sandbox, webhook_receiver, new_key, reference
):
    webhook_receiver.fail_for(reference, times=1)

    charge = timed_out_charge(adapter, new_key, reference)

    accepted = webhook_receiver.wait_for_charge(charge.processor_id, timeout=15)
    everything = webhook_receiver.for_charge(charge.processor_id, accepted_only=False)
    assert [delivery.answered for delivery in everything] == [500, 200]
    assert everything[0].event["id"] == accepted[0].event["id"]
    assert accepted[0].received_at - everything[0].received_at >= 0.9  # the first backoff is one second
    event = wait_for_event(live_sandbox, accepted[0].event["id"], status="sent")
    assert (event["attempts"], event["deliveries"]) == (2, 1)


def test_duplicate_webhooks_sends_each_event_twice(
    adapter, short_timeouts, live_sandbox, webhook_receiver, new_key, reference
):
    live_sandbox.set_faults(duplicate_webhooks=True)

    charge = timed_out_charge(adapter, new_key, reference)

    deliveries = webhook_receiver.wait_for_charge(charge.processor_id, count=2)
    assert len({delivery.event["id"] for delivery in deliveries}) == 1
    assert deliveries[0].body == deliveries[1].body
    for delivery in deliveries:
        adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)


def test_an_event_can_be_sent_again_on_request(
    adapter, short_timeouts, live_sandbox, webhook_receiver, new_key, reference
):
    charge = timed_out_charge(adapter, new_key, reference)
    [first] = webhook_receiver.wait_for_charge(charge.processor_id)

    answer = live_sandbox.request("POST", "/v1/control/webhooks/resend", json={"event_id": first.event["id"]})

    assert answer.status_code == 202
    deliveries = webhook_receiver.wait_for_charge(charge.processor_id, count=2)
    assert deliveries[1].body == first.body
    missing = live_sandbox.request("POST", "/v1/control/webhooks/resend", json={"event_id": "evt_sbx_nothing"})
    assert missing.status_code == 404


def test_shuffled_webhooks_are_all_delivered(
    adapter, short_timeouts, live_sandbox, webhook_receiver, new_key, reference
):
    live_sandbox.set_faults(shuffle_webhooks=True, seed=3)

    charges = [timed_out_charge(adapter, new_key, reference) for _ in range(4)]

    for charge in charges:
        [delivery] = webhook_receiver.wait_for_charge(charge.processor_id, timeout=20)
        assert delivery.event["data"]["object"]["reference"] == reference


def test_events_are_listed(adapter, short_timeouts, live_sandbox, webhook_receiver, new_key, reference):
    charge = timed_out_charge(adapter, new_key, reference)
    [delivery] = webhook_receiver.wait_for_charge(charge.processor_id)

    listed = wait_for_event(live_sandbox, delivery.event["id"], status="sent")

    assert listed["type"] == "charge.succeeded"
    assert listed["payload"] == delivery.event
    assert delivery.event["id"] in {event["id"] for event in live_sandbox.events(type="charge.succeeded")}


# --- parse_webhook on its own --------------------------------------------------------


def signed(secret: str, payload: dict, *, at: int | None = None) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    return body, {"Sandbox-Signature": signature_header(secret, int(time.time()) if at is None else at, body)}


EVENT = {
    "id": "evt_sbx_TEST",
    "object": "event",
    "type": "charge.succeeded",
    "created": 1_700_000_000,
    "data": {
        "object": {
            "id": "ch_TEST",
            "object": "charge",
            "reference": "pay_1",
            "amount": 100,
            "currency": "USD",
            "status": "captured",
            "amount_captured": 100,
            "amount_refunded": 0,
            "captured": True,
            "decline_code": None,
            "failure_message": None,
            "idempotency_key": "k",
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
            "created": 1_700_000_000,
        }
    },
}


def test_parse_webhook_accepts_a_fresh_correct_signature(webhook_secret):
    body, headers = signed(webhook_secret, EVENT)

    event = SandboxProcessor().parse_webhook(
        body=body, headers={k.lower(): v for k, v in headers.items()}, tolerance_seconds=300
    )

    assert event.charge.processor_id == "ch_TEST"
    assert event.charge.amount_captured == 100


def test_parse_webhook_rejects_a_tampered_body(webhook_secret):
    body, headers = signed(webhook_secret, EVENT)

    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(
            body=body.replace(b'"amount": 100', b'"amount": 900'), headers=headers, tolerance_seconds=300
        )


def test_parse_webhook_rejects_an_old_timestamp(webhook_secret):
    body, headers = signed(webhook_secret, EVENT, at=int(time.time()) - 301)

    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(body=body, headers=headers, tolerance_seconds=300)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sandbox-Signature": ""},
        {"Sandbox-Signature": "v1=abc"},
        {"Sandbox-Signature": "t=notanumber,v1=abc"},
        {"Sandbox-Signature": f"t={int(time.time())}"},
    ],
)
def test_parse_webhook_rejects_missing_or_malformed_signatures(headers):
    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(body=json.dumps(EVENT).encode(), headers=headers, tolerance_seconds=300)


def test_parse_webhook_rejects_another_secret():
    body, headers = signed("whsec_someone_else", EVENT)

    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(body=body, headers=headers, tolerance_seconds=300)


def test_parse_webhook_rejects_a_signed_body_that_is_not_an_event(webhook_secret):
    body = b"[1, 2, 3]"
    headers = {"Sandbox-Signature": signature_header(webhook_secret, int(time.time()), body)}

    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(body=body, headers=headers, tolerance_seconds=300)


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        (
            {
                "id": "rf_T",
                "object": "refund",
                "charge": "ch_T",
                "reference": "re_T",
                "amount": 5,
                "currency": "USD",
                "status": "failed",
                "failure_reason": "expired_or_canceled_card",
                "created": 1,
            },
            "refund",
        ),
        (
            {
                "id": "dsp_T",
                "object": "dispute",
                "charge": "ch_T",
                "reference": "pay_T",
                "amount": 5,
                "currency": "USD",
                "reason": "fraudulent",
                "status": "won",
                "evidence_due_by": 9,
                "evidence": {"refund_policy": "p"},
                "created": 1,
            },
            "dispute",
        ),
    ],
)
def test_parse_webhook_fills_the_refund_or_dispute_of_the_event(webhook_secret, obj, kind):
    body, headers = signed(webhook_secret, {**EVENT, "type": f"{kind}.updated", "data": {"object": obj}})

    event = SandboxProcessor().parse_webhook(body=body, headers=headers, tolerance_seconds=300)

    assert event.charge is None
    if kind == "refund":
        assert event.dispute is None
        assert (event.refund.processor_id, event.refund.charge_id, event.refund.reference) == ("rf_T", "ch_T", "re_T")
        assert (event.refund.status, event.refund.failure_reason) == ("failed", "expired_or_canceled_card")
    else:
        assert event.refund is None
        assert (event.dispute.processor_id, event.dispute.payment_reference, event.dispute.status) == (
            "dsp_T",
            "pay_T",
            "won",
        )
        assert (event.dispute.evidence_due_by, event.dispute.evidence) == (9, {"refund_policy": "p"})


def test_parse_webhook_rejects_a_signed_but_unreadable_dispute(webhook_secret):
    body, headers = signed(webhook_secret, {**EVENT, "data": {"object": {"id": "dsp_T", "object": "dispute"}}})

    with pytest.raises(WebhookSignatureInvalid):
        SandboxProcessor().parse_webhook(body=body, headers=headers, tolerance_seconds=300)
