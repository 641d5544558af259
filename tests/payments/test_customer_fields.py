"""A payment's optional customer (issue 17): given on creation, validated, answered by the API, carried by events,
part of the idempotency fingerprint, and changed later by ``payment_update_details``."""

import json

import pytest

from core.models import AuditEntry
from events.models import Event
from merchants.services import merchant_create
from payments.errors import PaymentNotFound
from payments.models import Payment
from payments.services import payment_update_details
from tests.payments.helpers import create_payment, error_of

pytestmark = pytest.mark.django_db

BODY = {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}, "confirm": True}


def test_the_customer_is_stored_answered_and_carried_by_the_events(api_client, sandbox):
    created = create_payment(
        api_client, confirm=True, customer_email="Alice.Doe@Example.com", customer_name="Alice Doe"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["customer_email"], body["customer_name"]) == ("Alice.Doe@Example.com", "Alice Doe")
    assert api_client.get(f"/api/v1/payments/{body['id']}").json()["customer_email"] == "Alice.Doe@Example.com"
    stored = Payment.objects.get(pk=body["id"])
    assert (stored.customer_email, stored.customer_name) == ("Alice.Doe@Example.com", "Alice Doe")
    event = json.loads(Event.objects.filter(type="payment.succeeded").latest("id").payload)["data"]["object"]
    assert (event["customer_email"], event["customer_name"]) == ("Alice.Doe@Example.com", "Alice Doe")


def test_without_a_customer_both_are_null(api_client, sandbox):
    body = create_payment(api_client).json()
    assert body["customer_email"] is None and body["customer_name"] is None
    assert create_payment(api_client, customer_email=None, customer_name=None).status_code == 201


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("customer_email", "not-an-email", "parameter_invalid"),
        ("customer_email", "alice@", "parameter_invalid"),
        ("customer_email", "", "parameter_invalid"),
        ("customer_email", 42, "parameter_invalid"),
        ("customer_email", "a" * 245 + "@example.com", "parameter_invalid"),  # 257 characters
        ("customer_name", "n" * 201, "parameter_invalid"),
        ("customer_name", "", "parameter_invalid"),
        ("customer_name", ["Alice"], "parameter_invalid"),
    ],
)
def test_a_bad_customer_is_a_400_naming_the_field(api_client, sandbox, field, value, code):
    response = create_payment(api_client, **{field: value})
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, field)
    assert Payment.objects.count() == 0


def test_a_retry_with_another_customer_is_a_conflict(api_client, sandbox):
    first = {**BODY, "customer_email": "alice@example.com", "customer_name": "Alice"}
    assert api_client.post("/api/v1/payments", first, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    replay = api_client.post("/api/v1/payments", first, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    for changed in ({"customer_email": "bob@example.com"}, {"customer_name": "Bob"}, {"customer_email": None}):
        other = api_client.post("/api/v1/payments", {**first, **changed}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert other.status_code == 422, changed
        assert error_of(other)["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


def test_update_details_changes_only_what_differs_and_audits_it(api_client, sandbox, merchant):
    payment_id = create_payment(api_client, confirm=True, customer_email="alice@example.com").json()["id"]
    payment = payment_update_details(
        merchant=merchant,
        payment_id=payment_id,
        changes={"customer_email": "alice@example.com", "customer_name": "Alice", "metadata": {"order": "A-1"}},
        actor="api:test",
    )
    assert (payment.customer_name, payment.metadata, payment.status) == ("Alice", {"order": "A-1"}, "succeeded")
    stored = Payment.objects.get(pk=payment_id)
    assert (stored.customer_email, stored.customer_name) == ("alice@example.com", "Alice")
    assert stored.metadata == {"order": "A-1"}
    entry = AuditEntry.objects.get(object_id=payment_id, action="payment.update")
    assert entry.before == {"customer_name": None, "metadata": {}}
    assert entry.after == {"customer_name": "Alice", "metadata": {"order": "A-1"}}
    # Nothing differs: nothing written, nothing audited.
    payment_update_details(merchant=merchant, payment_id=payment_id, changes={"customer_name": "Alice"}, actor="x")
    assert AuditEntry.objects.filter(object_id=payment_id, action="payment.update").count() == 1


def test_update_details_refuses_another_merchants_payment_and_money_fields(api_client, sandbox, merchant):
    payment_id = create_payment(api_client).json()["id"]
    stranger = merchant_create(name="Stranger", settlement_currency="USD")
    with pytest.raises(PaymentNotFound):
        payment_update_details(merchant=stranger, payment_id=payment_id, changes={"customer_name": "Eve"}, actor="x")
    with pytest.raises(ValueError):
        payment_update_details(merchant=merchant, payment_id=payment_id, changes={"amount": 1}, actor="x")
    assert Payment.objects.get(pk=payment_id).customer_name is None
