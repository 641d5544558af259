"""Every payment transition writes its event, with the payment as the API shows it, in the same transaction."""

import json

import pytest
from django.db import transaction

from events.models import Event
from payments.api.serializers import PaymentSerializer
from payments.locks import payment_lock
from payments.models import Payment
from payments.transitions import PAYMENTS, transition
from tests.payments.helpers import create_payment, post

pytestmark = pytest.mark.django_db


def events_of(payment_id: str) -> list[dict]:
    bodies = [json.loads(event.payload) for event in Event.objects.order_by("id")]
    return [body for body in bodies if body["data"]["object"]["id"] == payment_id]


def test_automatic_capture(api_client, sandbox, merchant):
    payment = create_payment(api_client, confirm=True).json()
    events = events_of(payment["id"])
    assert [event["type"] for event in events] == ["payment.processing", "payment.succeeded"]
    assert events[-1]["data"]["object"] == payment  # exactly what the API answered
    assert events[0]["data"]["object"]["status"] == "processing"
    assert {event.merchant_id for event in Event.objects.all()} == {merchant.pk}


def test_manual_capture(api_client, sandbox):
    payment = create_payment(api_client, capture_method="manual", confirm=True).json()
    captured = post(api_client, f"/api/v1/payments/{payment['id']}/capture", {"amount": 500}).json()
    events = events_of(payment["id"])
    assert [event["type"] for event in events] == [
        "payment.processing",
        "payment.requires_capture",
        "payment.succeeded",
    ]
    assert events[1]["data"]["object"]["amount_capturable"] == 1999
    assert events[2]["data"]["object"] == captured


def test_decline(api_client, sandbox):
    payment = create_payment(api_client, "tok_chargeDeclined").json()
    declined = post(api_client, f"/api/v1/payments/{payment['id']}/confirm")
    events = events_of(payment["id"])
    assert [event["type"] for event in events] == ["payment.processing", "payment.failed"]
    assert events[-1]["data"]["object"] == declined.json()["error"]["payment"]


@pytest.mark.parametrize("capture_method", ["automatic", "manual"])
def test_cancel(api_client, sandbox, capture_method):
    payment = create_payment(api_client, capture_method=capture_method, confirm=capture_method == "manual").json()
    canceled = post(api_client, f"/api/v1/payments/{payment['id']}/cancel", {"reason": "duplicate"}).json()
    events = events_of(payment["id"])
    assert events[-1]["type"] == "payment.canceled" and events[-1]["data"]["object"] == canceled


def test_the_events_are_in_the_merchants_log(api_client, other_api_client, sandbox):
    payment = create_payment(api_client, confirm=True).json()
    listed = api_client.get("/api/v1/events?type=payment.succeeded").json()["data"]
    assert [event["data"]["object"]["id"] for event in listed] == [payment["id"]]
    assert other_api_client.get("/api/v1/events").json()["data"] == []


def test_creating_a_payment_is_not_an_event(api_client, sandbox):
    create_payment(api_client)
    assert not Event.objects.exists()


def test_a_transition_rolled_back_leaves_no_event_and_no_change(api_client, sandbox):
    payment_id = create_payment(api_client).json()["id"]
    with pytest.raises(RuntimeError), transaction.atomic():
        transition(payment_lock(payment_id), "cancel", trail=PAYMENTS, actor="test", reason_code=None)
        assert Event.objects.filter(type="payment.canceled").exists()  # written with the change…
        raise RuntimeError("…and the transaction fails after it")
    assert not Event.objects.exists()
    assert Payment.objects.get(pk=payment_id).status == "requires_confirmation"


def test_a_refused_transition_writes_no_event(api_client, sandbox):
    payment_id = create_payment(api_client, confirm=True).json()["id"]
    before = Event.objects.count()
    assert post(api_client, f"/api/v1/payments/{payment_id}/cancel").status_code == 400
    assert Event.objects.count() == before


def test_the_event_object_is_the_payment_serializer_output(api_client, sandbox):
    payment_id = create_payment(api_client, confirm=True).json()["id"]
    event = Event.objects.get(type="payment.succeeded")
    assert json.loads(event.payload)["data"]["object"] == PaymentSerializer(Payment.objects.get(pk=payment_id)).data
