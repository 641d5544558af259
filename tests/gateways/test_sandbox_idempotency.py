"""The sandbox's idempotency contract: replay, reuse, in flight, and races on one key."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from gateways.base import CardDeclined, ProcessorUnavailable


def charge_body(reference: str, **overrides) -> dict:
    return {
        "amount": 2500,
        "currency": "EUR",
        "source": "tok_visa",
        "capture": True,
        "reference": reference,
        **overrides,
    }


def test_the_same_request_again_replays_the_stored_answer_byte_for_byte(live_sandbox, new_key, reference):
    key = new_key()

    first = live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=charge_body(reference))
    # The same request: other key order and whitespace do not make it another one.
    again = live_sandbox.request(
        "POST",
        "/v1/charges",
        idempotency_key=key,
        data=f'{{"reference": "{reference}", "source":"tok_visa",  "currency": "EUR","amount":2500,"capture":true}}',
        headers={"Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert len(live_sandbox.request("GET", f"/v1/charges?reference={reference}").json()["data"]) == 1


def test_a_decline_is_replayed_too(live_sandbox, new_key, reference):
    key = new_key()
    body = charge_body(reference, source="tok_insufficientFunds")

    first = live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=body)
    again = live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=body)

    assert first.status_code == again.status_code == 402
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_key_with_another_request_is_422(live_sandbox, new_key, reference):
    key = new_key()
    assert live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=charge_body(reference)).ok

    other_amount = live_sandbox.request(
        "POST", "/v1/charges", idempotency_key=key, json=charge_body(reference, amount=2501)
    )
    charge_id = live_sandbox.request("GET", f"/v1/charges?reference={reference}").json()["data"][0]["id"]
    other_path = live_sandbox.request("POST", f"/v1/charges/{charge_id}/void", idempotency_key=key, json={})

    for answer in (other_amount, other_path):
        assert answer.status_code == 422
        assert answer.json()["error"] == {
            "type": "idempotency_error",
            "code": "idempotency_key_reused",
            "message": answer.json()["error"]["message"],
        }
    assert len(live_sandbox.request("GET", f"/v1/charges?reference={reference}").json()["data"]) == 1


def test_the_key_while_the_first_request_is_in_flight_is_409(adapter, live_sandbox, new_key, reference):
    live_sandbox.set_faults(timeout_delay_seconds=2)
    key = new_key()
    body = charge_body(reference, source="tok_timeout")
    results = {}

    def first_request():
        results["first"] = live_sandbox.session.post(
            f"{live_sandbox.base_url}/v1/charges",
            json=body,
            headers={"Authorization": f"Bearer {live_sandbox.api_key}", "Idempotency-Key": key},
            timeout=10,
        )

    thread = threading.Thread(target=first_request)
    thread.start()
    time.sleep(0.5)
    with pytest.raises(ProcessorUnavailable) as caught:
        adapter.authorize(
            reference=reference, amount=2500, currency="EUR", token="tok_timeout", capture=True, idempotency_key=key
        )
    raw = requests.post(
        f"{live_sandbox.base_url}/v1/charges",
        json=body,
        headers={"Authorization": f"Bearer {live_sandbox.api_key}", "Idempotency-Key": key},
        timeout=10,
    )
    thread.join()

    assert caught.value.status_code == 409
    assert caught.value.code == "idempotency_key_in_use"
    assert raw.status_code == 409
    assert raw.json()["error"]["type"] == "idempotency_error"
    assert results["first"].status_code == 201
    # Once answered, the key replays the answer.
    charge = adapter.authorize(
        reference=reference, amount=2500, currency="EUR", token="tok_timeout", capture=True, idempotency_key=key
    )
    assert charge.processor_id == results["first"].json()["id"]


@pytest.mark.parametrize(
    ("requests_count", "keys_count", "latency_ms"),
    [(60, 5, 0), (100, 10, 0), (60, 5, 150)],
)
def test_racing_requests_over_a_few_keys_charge_once_per_key(
    adapter, live_sandbox, new_key, reference, requests_count, keys_count, latency_ms
):
    # With latency every execution holds its key for a while, so the duplicates surely arrive in flight.
    live_sandbox.set_faults(latency_ms=latency_ms)
    keys = [new_key() for _ in range(keys_count)]
    # The first wave of threads starts together, so that requests on one key really overlap.
    barrier = threading.Barrier(50)

    def attempt(index: int):
        key = keys[index % keys_count]
        if index < 50:
            barrier.wait(timeout=10)
        try:
            charge = adapter.authorize(
                reference=reference, amount=1000, currency="USD", token="tok_visa", capture=True, idempotency_key=key
            )
            return key, charge.processor_id
        except ProcessorUnavailable as unavailable:
            assert unavailable.status_code == 409, unavailable
            return key, None

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(requests_count)))

    charges = adapter.charges_for(reference=reference)
    assert len(charges) == keys_count
    for key in keys:
        charged = adapter.lookup(idempotency_key=key).processor_id
        answered = {charge_id for k, charge_id in outcomes if k == key and charge_id is not None}
        assert answered <= {charged}
    assert {adapter.lookup(idempotency_key=key).processor_id for key in keys} == {c.processor_id for c in charges}
    if latency_ms:
        assert any(charge_id is None for _, charge_id in outcomes), "expected some requests to find their key in use"


def test_racing_declines_record_one_declined_charge_per_key(adapter, new_key, reference):
    key = new_key()

    def attempt(_):
        try:
            adapter.authorize(
                reference=reference,
                amount=1000,
                currency="USD",
                token="tok_chargeDeclined",
                capture=True,
                idempotency_key=key,
            )
        except CardDeclined as declined:
            return declined.charge.processor_id
        except ProcessorUnavailable:
            return None

    with ThreadPoolExecutor(max_workers=20) as pool:
        declined = {charge_id for charge_id in pool.map(attempt, range(20)) if charge_id}

    charges = adapter.charges_for(reference=reference)
    assert len(charges) == 1 and charges[0].status == "declined"
    assert declined == {charges[0].processor_id}


def test_capture_and_void_are_idempotent_too(adapter, live_sandbox, new_key, reference):
    authorized = adapter.authorize(
        reference=reference, amount=900, currency="USD", token="tok_visa", capture=False, idempotency_key=new_key()
    )
    key = new_key()

    first = adapter.capture(processor_id=authorized.processor_id, amount=400, idempotency_key=key)
    again = adapter.capture(processor_id=authorized.processor_id, amount=400, idempotency_key=key)

    assert first == again
    assert again.amount_captured == 400
    # A stored 400 (bad state) is replayed as well.
    void_key = new_key()
    refused = live_sandbox.request("POST", f"/v1/charges/{authorized.processor_id}/void", idempotency_key=void_key)
    replayed = live_sandbox.request("POST", f"/v1/charges/{authorized.processor_id}/void", idempotency_key=void_key)
    assert refused.status_code == replayed.status_code == 400
    assert replayed.content == refused.content
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_a_validation_error_is_not_stored(live_sandbox, new_key, reference):
    key = new_key()

    refused = live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=charge_body(reference, amount=0))
    accepted = live_sandbox.request("POST", "/v1/charges", idempotency_key=key, json=charge_body(reference))

    assert refused.status_code == 400
    assert accepted.status_code == 201
    assert "Idempotent-Replayed" not in accepted.headers
