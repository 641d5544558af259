"""Charging through the adapter: every behaviour of the fixed tokens, capture, void and look-ups."""

import time

import pytest

from gateways.base import (
    CardDeclined,
    CardDetails,
    Charge,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    TokenInvalid,
)
from gateways.sandbox_acquirer.client import SandboxProcessor
from tests.processors import configure_processor


def authorize(adapter, key, reference, token="tok_visa", capture=True, amount=1999, currency="USD"):
    return adapter.authorize(
        reference=reference, amount=amount, currency=currency, token=token, capture=capture, idempotency_key=key
    )


def test_an_approved_charge_is_captured(adapter, new_key, reference):
    charge = authorize(adapter, new_key(), reference)

    assert isinstance(charge, Charge)
    assert charge.processor_id.startswith("ch_")
    assert (charge.status, charge.amount, charge.amount_captured, charge.currency) == ("captured", 1999, 1999, "USD")
    assert charge.reference == reference
    assert charge.decline_code is None and charge.failure_message is None
    assert charge.card == CardDetails("visa", "4242", 12, 2030)


def test_capture_false_only_authorizes(adapter, new_key, reference):
    charge = authorize(adapter, new_key(), reference, token="tok_mastercard", capture=False)

    assert (charge.status, charge.amount_captured) == ("authorized", 0)
    assert charge.card.brand == "mastercard"


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [("tok_chargeDeclined", "generic_decline"), ("tok_insufficientFunds", "insufficient_funds")],
)
def test_a_decline_is_a_definite_card_declined_with_the_recorded_charge(
    adapter, new_key, reference, token, decline_code
):
    key = new_key()

    with pytest.raises(CardDeclined) as caught:
        authorize(adapter, key, reference, token=token)

    declined = caught.value
    assert declined.decline_code == decline_code
    assert declined.message
    assert declined.charge.status == "declined"
    assert declined.charge.decline_code == decline_code
    assert declined.charge.amount_captured == 0
    assert adapter.lookup(idempotency_key=key) == declined.charge


def test_a_processing_error_is_unavailable_and_leaves_no_trace(adapter, live_sandbox, new_key, reference):
    key = new_key()

    for _ in range(2):  # a retry with the same key is attempted again, and fails the same way
        with pytest.raises(ProcessorUnavailable) as caught:
            authorize(adapter, key, reference, token="tok_processingError")
        assert caught.value.status_code == 500
        assert caught.value.code == "processing_error"

    assert adapter.lookup(idempotency_key=key) is None
    assert adapter.charges_for(reference=reference) == []


def test_create_dispute_is_approved_and_remembers_its_behaviour(adapter, live_sandbox, new_key, reference):
    charge = authorize(adapter, new_key(), reference, token="tok_createDispute")

    assert charge.status == "captured"
    assert live_sandbox.request("GET", f"/v1/charges/{charge.processor_id}").json()["behaviour"] == "create_dispute"


def test_an_unknown_token_is_rejected_without_charging(adapter, new_key, reference):
    with pytest.raises(TokenInvalid) as caught:
        authorize(adapter, new_key(), reference, token="tok_nothingHere")

    assert caught.value.code == "token_invalid"
    assert adapter.charges_for(reference=reference) == []


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0, "currency": "USD", "source": "tok_visa"},
        {"amount": -5, "currency": "USD", "source": "tok_visa"},
        {"amount": 10.5, "currency": "USD", "source": "tok_visa"},
        {"amount": "100", "currency": "USD", "source": "tok_visa"},
        {"amount": 100, "currency": "usd", "source": "tok_visa"},
        {"amount": 100, "currency": "USD"},
        {"amount": 100, "currency": "USD", "source": "tok_visa", "capture": "yes"},
    ],
)
def test_bad_charge_bodies_are_invalid_requests(live_sandbox, new_key, body):
    answer = live_sandbox.request("POST", "/v1/charges", idempotency_key=new_key(), json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_charge_without_an_idempotency_key_is_refused(live_sandbox):
    answer = live_sandbox.request("POST", "/v1/charges", json={"amount": 100, "currency": "USD", "source": "tok_visa"})

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "idempotency_key_missing"


def test_a_bad_request_is_a_definite_rejection(adapter, new_key, reference):
    with pytest.raises(ProcessorRequestRejected) as caught:
        authorize(adapter, new_key(), reference, amount=0)

    assert caught.value.code == "amount_invalid"
    assert not isinstance(caught.value, ProcessorUnavailable)


def test_full_capture(adapter, new_key, reference):
    authorized = authorize(adapter, new_key(), reference, capture=False, amount=5000)

    captured = adapter.capture(processor_id=authorized.processor_id, amount=None, idempotency_key=new_key())

    assert (captured.status, captured.amount, captured.amount_captured) == ("captured", 5000, 5000)
    assert captured.processor_id == authorized.processor_id


def test_partial_capture_releases_the_rest(adapter, new_key, reference):
    authorized = authorize(adapter, new_key(), reference, capture=False, amount=5000)

    captured = adapter.capture(processor_id=authorized.processor_id, amount=3000, idempotency_key=new_key())

    assert (captured.status, captured.amount, captured.amount_captured) == ("captured", 5000, 3000)
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id=authorized.processor_id, amount=1000, idempotency_key=new_key())
    assert caught.value.code == "charge_unexpected_state"


def test_capture_above_the_authorized_amount_is_refused(adapter, new_key, reference):
    key = new_key()
    authorized = authorize(adapter, key, reference, capture=False, amount=5000)

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id=authorized.processor_id, amount=5001, idempotency_key=new_key())

    assert caught.value.code == "amount_too_large"
    assert adapter.lookup(idempotency_key=key).status == "authorized"


def test_void_releases_an_authorization(adapter, new_key, reference):
    authorized = authorize(adapter, new_key(), reference, capture=False)

    voided = adapter.void(processor_id=authorized.processor_id, idempotency_key=new_key())

    assert (voided.status, voided.amount_captured) == ("voided", 0)
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id=authorized.processor_id, amount=None, idempotency_key=new_key())
    assert caught.value.code == "charge_unexpected_state"


@pytest.mark.parametrize("token", ["tok_visa", "tok_chargeDeclined"])
def test_only_an_authorized_charge_can_be_captured_or_voided(adapter, new_key, reference, token):
    try:
        charge = authorize(adapter, new_key(), reference, token=token)
    except CardDeclined as declined:
        charge = declined.charge

    for call in (
        lambda: adapter.capture(processor_id=charge.processor_id, amount=None, idempotency_key=new_key()),
        lambda: adapter.void(processor_id=charge.processor_id, idempotency_key=new_key()),
    ):
        with pytest.raises(ProcessorRequestRejected) as caught:
            call()
        assert caught.value.code == "charge_unexpected_state"
        assert caught.value.status_code == 400


def test_capturing_an_unknown_charge_is_resource_missing(adapter, new_key):
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id="ch_nothing", amount=None, idempotency_key=new_key())

    assert caught.value.code == "resource_missing"


def test_charges_for_a_reference_newest_first_and_lookup_by_key(adapter, new_key, reference):
    keys = [new_key() for _ in range(3)]
    charges = [authorize(adapter, key, reference, amount=100 + index) for index, key in enumerate(keys)]

    assert adapter.charges_for(reference=reference) == charges[::-1]
    for key, charge in zip(keys, charges, strict=True):
        assert adapter.lookup(idempotency_key=key) == charge
    assert adapter.lookup(idempotency_key=new_key()) is None


def test_lookup_finds_a_timed_out_charge_while_its_answer_is_still_delayed(
    adapter, live_sandbox, settings, new_key, reference
):
    live_sandbox.set_faults(timeout_delay_seconds=3)
    configure_processor(settings, read_timeout=1.0)
    key = new_key()

    started = time.monotonic()
    with pytest.raises(ProcessorUnavailable):
        authorize(adapter, key, reference, token="tok_timeout")
    assert time.monotonic() - started < 2.5

    found = adapter.lookup(idempotency_key=key)
    assert time.monotonic() - started < 3, "the look-up must not wait for the delayed answer"
    assert found is not None
    assert (found.status, found.amount_captured, found.reference) == ("captured", 1999, reference)
    assert adapter.charges_for(reference=reference) == [found]


def test_a_timed_out_charge_answers_after_the_delay_when_the_client_waits(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(timeout_delay_seconds=1)

    started = time.monotonic()
    charge = authorize(adapter, new_key(), reference, token="tok_timeout", capture=False)

    assert time.monotonic() - started >= 1
    assert charge.status == "authorized"


def test_an_unreachable_processor_is_unavailable(live_sandbox, new_key):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = SandboxProcessor(base_url=f"http://127.0.0.1:{port}", connect_timeout=0.5, read_timeout=0.5)

    with pytest.raises(ProcessorUnavailable):
        nowhere.lookup(idempotency_key=new_key())
    with pytest.raises(ProcessorUnavailable):
        authorize(nowhere, new_key(), "pay_x")


def test_a_wrong_api_key_is_rejected_definitely(live_sandbox, new_key):
    wrong = SandboxProcessor(base_url=live_sandbox.base_url, api_key="sk_wrong", connect_timeout=1, read_timeout=2)

    with pytest.raises(ProcessorRequestRejected) as caught:
        authorize(wrong, new_key(), "pay_x")

    assert caught.value.status_code == 401
