"""Card payments through the real API against the sandbox processor running as its own process."""

import pytest

from ledger.models import JournalEntry
from payments.models import Payment, PaymentTransition
from tests.payments.helpers import create_payment, error_of, post

pytestmark = pytest.mark.django_db


def confirm(client, payment_id, **body):
    return post(client, f"/api/v1/payments/{payment_id}/confirm", body)


def test_create_leaves_the_payment_awaiting_confirmation(api_client, sandbox):
    response = create_payment(api_client, description="Order 42", metadata={"order": "42"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("pay_") and body["object"] == "payment"
    assert body["status"] == "requires_confirmation"
    assert body["payment_method"] == {
        "type": "card",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
    }
    assert (body["amount"], body["currency"], body["capture_method"]) == (1999, "USD", "automatic")
    assert (body["amount_capturable"], body["amount_captured"], body["amount_refunded"]) == (0, 0, 0)
    assert body["metadata"] == {"order": "42"} and body["description"] == "Order 42"
    assert body["created"].endswith("Z")
    assert body["disputed"] is False and body["failure_code"] is None


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_createDispute"])
def test_approved_tokens_succeed(api_client, sandbox, processor, token):
    payment = create_payment(api_client, token).json()
    response = confirm(api_client, payment["id"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert (body["amount_captured"], body["amount_capturable"]) == (1999, 0)
    charges = processor.charges_for(reference=payment["id"])
    assert [(c.status, c.amount_captured) for c in charges] == [("captured", 1999)]


def test_confirm_in_the_create_call(api_client, sandbox):
    response = create_payment(api_client, confirm=True)
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [("tok_chargeDeclined", "generic_decline"), ("tok_insufficientFunds", "insufficient_funds")],
)
def test_declines_are_402_card_error_with_the_failed_payment(api_client, sandbox, token, decline_code):
    payment = create_payment(api_client, token).json()
    response = confirm(api_client, payment["id"])
    assert response.status_code == 402
    error = error_of(response)
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", decline_code)
    assert error["payment"]["id"] == payment["id"]
    assert error["payment"]["status"] == "failed"
    assert error["payment"]["failure_code"] == "card_declined"
    assert Payment.objects.get(pk=payment["id"]).status == "failed"
    assert not JournalEntry.objects.filter(source=payment["id"]).exists()


def test_processing_error_leaves_the_payment_processing(api_client, sandbox, processor):
    payment = create_payment(api_client, "tok_processingError").json()
    response = confirm(api_client, payment["id"])
    assert response.status_code == 200
    assert response.json()["status"] == "processing"
    assert processor.charges_for(reference=payment["id"]) == []


def test_timeout_leaves_the_payment_processing_and_the_outcome_unknown(api_client, sandbox):
    payment = create_payment(api_client, "tok_timeout").json()
    response = confirm(api_client, payment["id"])
    assert response.status_code == 200
    assert response.json()["status"] == "processing"
    assert response.json()["amount_captured"] == 0


def test_manual_capture_partial(api_client, sandbox, processor):
    payment = create_payment(api_client, amount=1000, capture_method="manual").json()
    authorized = confirm(api_client, payment["id"]).json()
    assert authorized["status"] == "requires_capture"
    assert authorized["amount_capturable"] == 1000

    too_much = post(api_client, f"/api/v1/payments/{payment['id']}/capture", {"amount": 1001})
    assert too_much.status_code == 400 and error_of(too_much)["param"] == "amount"

    captured = post(api_client, f"/api/v1/payments/{payment['id']}/capture", {"amount": 600})
    assert captured.status_code == 200, captured.content
    body = captured.json()
    assert (body["status"], body["amount_captured"], body["amount_capturable"]) == ("succeeded", 600, 0)
    [charge] = processor.charges_for(reference=payment["id"])
    assert (charge.status, charge.amount_captured) == ("captured", 600)

    again = post(api_client, f"/api/v1/payments/{payment['id']}/capture", {})
    assert again.status_code == 400 and error_of(again)["code"] == "payment_unexpected_state"


def test_manual_capture_full_by_default(api_client, sandbox):
    payment = create_payment(api_client, amount=1000, capture_method="manual", confirm=True).json()
    captured = post(api_client, f"/api/v1/payments/{payment['id']}/capture").json()
    assert (captured["status"], captured["amount_captured"]) == ("succeeded", 1000)


def test_cancel_an_authorisation_voids_it_at_the_processor(api_client, sandbox, processor):
    payment = create_payment(api_client, capture_method="manual", confirm=True).json()
    canceled = post(api_client, f"/api/v1/payments/{payment['id']}/cancel", {"reason": "requested_by_customer"})
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancellation_reason"] == "requested_by_customer"
    assert canceled.json()["amount_capturable"] == 0
    [charge] = processor.charges_for(reference=payment["id"])
    assert charge.status == "voided"


def test_cancel_before_confirmation(api_client, sandbox, processor):
    payment = create_payment(api_client).json()
    canceled = post(api_client, f"/api/v1/payments/{payment['id']}/cancel")
    assert canceled.json()["status"] == "canceled"
    assert processor.charges_for(reference=payment["id"]) == []
    refused = confirm(api_client, payment["id"])
    assert refused.status_code == 400 and error_of(refused)["code"] == "payment_unexpected_state"


@pytest.mark.parametrize("operation", ["confirm", "capture", "cancel"])
def test_operations_not_allowed_after_success(api_client, sandbox, operation):
    payment = create_payment(api_client, confirm=True).json()
    response = post(api_client, f"/api/v1/payments/{payment['id']}/{operation}")
    assert response.status_code == 400
    assert error_of(response)["code"] == "payment_unexpected_state"


def test_every_transition_is_recorded(api_client, sandbox, api_key, issued_key):
    payment = create_payment(api_client, capture_method="manual", confirm=True).json()
    post(api_client, f"/api/v1/payments/{payment['id']}/capture", {"amount": 500})
    rows = list(PaymentTransition.objects.filter(payment_id=payment["id"]).order_by("id"))
    assert [(row.from_status, row.to_status) for row in rows] == [
        ("", "requires_confirmation"),
        ("requires_confirmation", "processing"),
        ("processing", "requires_capture"),
        ("requires_capture", "succeeded"),
    ]
    assert rows[1].actor == f"api:{issued_key.api_key.pk}"


def test_retrieve_and_list_with_pagination_and_filters(api_client, sandbox):
    ids = [create_payment(api_client, amount=100 + index).json()["id"] for index in range(3)]
    confirm(api_client, ids[0])
    assert api_client.get(f"/api/v1/payments/{ids[1]}").json()["amount"] == 101

    page = api_client.get("/api/v1/payments?limit=2").json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [p["id"] for p in page["data"]] == [ids[2], ids[1]]
    rest = api_client.get(f"/api/v1/payments?limit=2&starting_after={ids[1]}").json()
    assert [p["id"] for p in rest["data"]] == [ids[0]] and rest["has_more"] is False
    succeeded = api_client.get("/api/v1/payments?status=succeeded").json()
    assert [p["id"] for p in succeeded["data"]] == [ids[0]]
    recent = api_client.get("/api/v1/payments?created[gte]=2000-01-01T00:00:00Z").json()
    assert len(recent["data"]) == 3
    future = api_client.get("/api/v1/payments?created[gte]=4102444800").json()
    assert future["data"] == []


def test_another_merchants_payment_is_404_everywhere(api_client, other_api_client, sandbox):
    payment = create_payment(api_client, capture_method="manual").json()
    pid = payment["id"]
    assert other_api_client.get(f"/api/v1/payments/{pid}").status_code == 404
    for operation in ("confirm", "capture", "cancel"):
        response = post(other_api_client, f"/api/v1/payments/{pid}/{operation}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "resource_missing"
    assert other_api_client.get("/api/v1/payments").json()["data"] == []
    assert other_api_client.get(f"/api/v1/payments?starting_after={pid}").status_code == 400
    assert Payment.objects.get(pk=pid).status == "requires_confirmation"
