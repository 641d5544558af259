"""The idempotency contract of api.md, through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from edge.idempotency import idempotency_keys_prune, request_fingerprint
from edge.models import IdempotencyKey
from payments.models import Payment
from tests.payments.helpers import error_of

pytestmark = pytest.mark.django_db

BODY = {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}, "confirm": True}


def raw_post(client, body: str, key: str | None, path: str = "/api/v1/payments"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.generic("POST", path, body, content_type="application/json", **extra)


def test_every_post_needs_a_key(api_client):
    response = api_client.post("/api/v1/payments", BODY, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_missing"
    assert Payment.objects.count() == 0


@pytest.mark.parametrize("key", ["k" * 256, "tab\tkey", "ünïcode"])
def test_malformed_keys_are_refused(api_client, key):
    response = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_invalid"


def test_replay_returns_the_stored_answer_byte_for_byte_and_executes_nothing(api_client, sandbox, processor):
    first = raw_post(
        api_client,
        '{"amount": 1999, "currency": "USD", "confirm": true, "payment_method": {"type": "card", "token": "tok_visa"}}',
        "order-1",
    )
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # Same request, other key order and whitespace: the same fingerprint.
    again = raw_post(
        api_client,
        '{"payment_method":{"token":"tok_visa","type":"card"},"confirm":true,"currency":"USD","amount":1999}',
        "order-1",
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Payment.objects.count() == 1
    assert len(processor.charges_for(reference=first.json()["id"])) == 1


def test_same_key_different_request_is_422(api_client, sandbox):
    assert api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    other = api_client.post("/api/v1/payments", {**BODY, "amount": 2000}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422
    assert error_of(other)["type"] == "idempotency_error"
    assert error_of(other)["code"] == "idempotency_key_reused"
    payment_id = Payment.objects.get().id
    other_path = api_client.post(f"/api/v1/payments/{payment_id}/cancel", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other_path.status_code == 422
    assert Payment.objects.count() == 1


def test_key_still_executing_is_409(api_client, merchant):
    fingerprint = request_fingerprint("POST", "/api/v1/payments", BODY)
    IdempotencyKey.objects.create(
        merchant=merchant,
        key="busy",
        method="POST",
        path="/api/v1/payments",
        fingerprint=fingerprint,
        locked_at=timezone.now(),
    )
    response = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert (error_of(response)["type"], error_of(response)["code"]) == ("idempotency_error", "idempotency_key_in_use")
    assert Payment.objects.count() == 0


def test_a_key_whose_request_died_is_taken_over_and_finds_the_payment_it_made(api_client, merchant, sandbox, processor):
    """The request died after creating and confirming, before storing its answer: the retry
    re-executes, finds the payment by its creation key and charges nothing more."""
    first = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="crashed")
    payment_id = first.json()["id"]
    IdempotencyKey.objects.filter(key="crashed").update(
        status="in_progress", response_status=None, response_body=None, locked_at=timezone.now() - timedelta(hours=1)
    )
    retry = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="crashed")
    assert retry.status_code == 201
    assert retry.json()["id"] == payment_id and retry.json()["status"] == "succeeded"
    assert Payment.objects.count() == 1
    assert len(processor.charges_for(reference=payment_id)) == 1


def test_keys_are_scoped_to_the_merchant(api_client, other_api_client, sandbox):
    mine = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    # The other merchant settles in EUR (a USD payment would need an exchange rate).
    theirs = other_api_client.post(
        "/api/v1/payments", {**BODY, "currency": "EUR"}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_declines_are_stored_and_replayed(api_client, sandbox, processor):
    body = {**BODY, "payment_method": {"type": "card", "token": "tok_chargeDeclined"}}
    first = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="d")
    again = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="d")
    assert first.status_code == again.status_code == 402
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert len(processor.charges_for(reference=first.json()["error"]["payment"]["id"])) == 1


def test_bad_state_answers_are_stored(api_client, sandbox):
    payment_id = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="p").json()["id"]
    path = f"/api/v1/payments/{payment_id}/capture"
    first = api_client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    again = api_client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert first.status_code == again.status_code == 400
    assert again.headers["Idempotent-Replayed"] == "true"


def test_rejections_before_execution_are_not_stored(api_client, sandbox):
    bad = api_client.post("/api/v1/payments", {**BODY, "amount": -1}, format="json", HTTP_IDEMPOTENCY_KEY="fixme")
    assert bad.status_code == 400
    unknown_token = {**BODY, "payment_method": {"type": "card", "token": "tok_unknown"}}
    assert (
        api_client.post("/api/v1/payments", unknown_token, format="json", HTTP_IDEMPOTENCY_KEY="fixme").status_code
        == 400
    )
    assert not IdempotencyKey.objects.filter(key="fixme").exists()
    fixed = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="fixme")
    assert fixed.status_code == 201


def test_unauthenticated_requests_are_not_stored(client):
    response = client.post("/api/v1/payments", BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="anon")
    assert response.status_code == 401
    assert IdempotencyKey.objects.count() == 0


def test_keys_are_kept_24_hours_then_pruned(merchant):
    def key(name, age):
        record = IdempotencyKey.objects.create(
            merchant=merchant, key=name, method="POST", path="/p", fingerprint="f", locked_at=timezone.now()
        )
        IdempotencyKey.objects.filter(pk=record.pk).update(created=timezone.now() - age)

    key("old", timedelta(hours=25))
    key("young", timedelta(hours=23))
    assert idempotency_keys_prune(older_than=timedelta(hours=1)) == 1  # never less than 24 hours
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]


def test_the_stored_fingerprint_is_keyed_so_a_number_in_the_body_cannot_be_guessed_from_it(api_client, merchant):
    import hashlib

    from edge.idempotency import _canonical_request

    account = {"country": "US", "holder_name": "A", "routing_number": "110000000", "account_number": "000123456789"}
    body = {"currency": "USD", "bank_account": account}
    fingerprint = request_fingerprint("POST", "/api/v1/external_accounts", body)
    plain = hashlib.sha256(_canonical_request("POST", "/api/v1/external_accounts", body)).hexdigest()
    assert fingerprint != plain and len(fingerprint) == 64


def test_a_key_claimed_with_the_plain_fingerprint_of_before_still_replays_and_refuses_another_body(
    api_client, merchant
):
    import hashlib

    from edge.idempotency import _canonical_request

    stored = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="from-before")
    assert stored.status_code == 201
    plain = hashlib.sha256(_canonical_request("POST", "/api/v1/payments", BODY)).hexdigest()
    IdempotencyKey.objects.filter(key="from-before").update(fingerprint=plain)  # as a key claimed before the change
    replay = api_client.post("/api/v1/payments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="from-before")
    assert replay.status_code == 201 and replay.content == stored.content
    other = api_client.post(
        "/api/v1/payments", {**BODY, "amount": 2}, format="json", HTTP_IDEMPOTENCY_KEY="from-before"
    )
    assert other.status_code == 422
