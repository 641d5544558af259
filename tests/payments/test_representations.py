"""Payments, refunds and disputes are represented once (payments.representations): the API answers with
that object and every event carries it, so an event's ``data.object`` is exactly what a GET answers."""

import json

import pytest

from events.models import Event
from payments.api.serializers import DisputeSerializer, PaymentSerializer, RefundSerializer
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Dispute, Payment, Refund
from payments.representations import dispute_representation, payment_representation, refund_representation
from tests.payments.helpers import create_payment, post

pytestmark = pytest.mark.django_db


def event_object(event_type: str) -> dict:
    return json.loads(Event.objects.filter(type=event_type).latest("id").payload)["data"]["object"]


def test_a_payment_events_object_is_the_apis_get_of_that_payment(api_client, sandbox):
    payment_id = create_payment(api_client, capture_method="manual", confirm=True).json()["id"]
    captured = post(api_client, f"/api/v1/payments/{payment_id}/capture", {"amount": 500})
    assert captured.status_code == 200, captured.content

    fetched = api_client.get(f"/api/v1/payments/{payment_id}").json()
    event = event_object("payment.succeeded")
    assert list(event.items()) == list(fetched.items())  # the same members, in the same order, with the same values
    assert event["amount_captured"] == 500 and event["payment_method"]["card"]["last4"] == "4242"


def test_a_refund_events_object_is_the_apis_get_of_that_refund(api_client, sandbox):
    payment_id = create_payment(api_client, confirm=True).json()["id"]
    refund_id = post(api_client, "/api/v1/refunds", {"payment": payment_id, "amount": 700}).json()["id"]

    fetched = api_client.get(f"/api/v1/refunds/{refund_id}").json()
    assert list(event_object("refund.succeeded").items()) == list(fetched.items())


def test_a_dispute_events_object_is_the_apis_get_of_that_dispute(api_client, sandbox, processor):
    payment_id = create_payment(api_client, amount=2000, confirm=True).json()["id"]
    charge = processor.charges_for(reference=payment_id)[0]
    dispute = dispute_apply_processor_dispute(
        answer=processor.open_dispute(processor_charge_id=charge.processor_id), actor="test"
    )

    fetched = api_client.get(f"/api/v1/disputes/{dispute.id}").json()
    assert list(event_object("dispute.created").items()) == list(fetched.items())
    assert set(fetched["evidence"]) == {
        "customer_communication",
        "shipping_documentation",
        "refund_policy",
        "uncategorized_text",
    }


def test_the_output_serializers_describe_exactly_the_representations(api_client, sandbox, processor):
    """The OpenAPI document is generated from the serializers' fields: they must name the objects' members."""
    payment_id = create_payment(api_client, confirm=True).json()["id"]
    post(api_client, "/api/v1/refunds", {"payment": payment_id, "amount": 100})
    charge = processor.charges_for(reference=payment_id)[0]
    dispute_apply_processor_dispute(answer=processor.open_dispute(processor_charge_id=charge.processor_id), actor="t")

    payment = Payment.objects.get(pk=payment_id)
    pairs = [
        (PaymentSerializer, payment_representation(payment)),
        (RefundSerializer, refund_representation(Refund.objects.get(payment=payment))),
        (DisputeSerializer, dispute_representation(Dispute.objects.get(payment=payment))),
    ]
    for serializer, represented in pairs:
        assert list(serializer().fields) == list(represented), serializer
    payment_method = PaymentSerializer().fields["payment_method"]
    assert list(payment_method.fields) == ["type", "card", "bank_transfer", "wallet"]
    assert list(payment_method.fields["card"].fields) == list(payment_representation(payment)["payment_method"]["card"])
