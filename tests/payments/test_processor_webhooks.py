"""The processor's webhooks: verified, stored once under their event id, applied in any order."""

import json
import time

import pytest

from gateways.models import ProcessorWebhookEvent
from gateways.sandbox_acquirer.webhooks import SIGNATURE_HEADER, signature_header
from payments.models import Payment, PaymentTransition
from tests.payments.helpers import create_payment, post

pytestmark = pytest.mark.django_db


def charge_event(event_id: str, payment_id: str, status: str, amount: int = 1999, event_type: str | None = None):
    return {
        "id": event_id,
        "object": "event",
        "type": event_type or ("charge.succeeded" if status == "captured" else f"charge.{status}"),
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"ch_for_{payment_id}",
                "object": "charge",
                "reference": payment_id,
                "amount": amount,
                "currency": "USD",
                "status": status,
                "amount_captured": amount if status == "captured" else 0,
                "amount_refunded": 0,
                "captured": status == "captured",
                "decline_code": None,
                "failure_message": None,
                "card": None,
                "created": int(time.time()),
            }
        },
    }


def deliver(
    client, settings, event: dict, *, secret: str | None = None, timestamp: int | None = None, processor="sandbox"
):
    """POST ``event`` to ``processor``'s webhook URL, signed with ``secret`` (by default, that processor's)."""
    body = json.dumps(event).encode()
    header = signature_header(
        secret or settings.PROCESSORS[processor]["webhook_secret"], timestamp or int(time.time()), body
    )
    return client.post(
        f"/webhooks/processor/{processor}/", body, content_type="application/json", headers={SIGNATURE_HEADER: header}
    )


@pytest.fixture
def processing_payment(api_client, sandbox):
    payment = create_payment(api_client, "tok_timeout").json()
    assert post(api_client, f"/api/v1/payments/{payment['id']}/confirm").json()["status"] == "processing"
    return payment["id"]


def test_a_webhook_settles_a_processing_payment(client, settings, processing_payment):
    response = deliver(client, settings, charge_event("evt_1", processing_payment, "captured"))
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert Payment.objects.get(pk=processing_payment).status == "succeeded"
    transition = PaymentTransition.objects.filter(payment_id=processing_payment).last()
    assert transition.actor == "processor:sandbox:webhook:evt_1"


def test_a_duplicate_is_a_no_op(client, settings, processing_payment):
    event = charge_event("evt_dup", processing_payment, "captured")
    deliver(client, settings, event)
    second = deliver(client, settings, event)
    assert second.status_code == 200 and second.json()["deliveries"] == 2
    assert ProcessorWebhookEvent.objects.filter(event_id="evt_dup").count() == 1
    assert PaymentTransition.objects.filter(payment_id=processing_payment, to_status="succeeded").count() == 1


def test_out_of_order_events_only_move_forward(client, settings, processing_payment):
    deliver(client, settings, charge_event("evt_late", processing_payment, "captured"))
    stale = deliver(client, settings, charge_event("evt_early", processing_payment, "authorized"))
    assert stale.status_code == 200
    payment = Payment.objects.get(pk=processing_payment)
    assert (payment.status, payment.amount_captured) == ("succeeded", 1999)


def test_an_event_about_something_we_do_not_know_is_ignored(client, settings, db):
    response = deliver(client, settings, charge_event("evt_x", "pay_unknown", "captured"))
    assert response.status_code == 200 and response.json()["status"] == "ignored"


@pytest.mark.parametrize("problem", ["wrong_secret", "old", "tampered", "missing"])
def test_unverifiable_webhooks_are_refused_and_not_stored(client, settings, processing_payment, problem):
    event = charge_event("evt_bad", processing_payment, "captured")
    body = json.dumps(event).encode()
    now = int(time.time())
    header = {
        "wrong_secret": signature_header("whsec_wrong", now, body),
        "old": signature_header(settings.PROCESSORS["sandbox"]["webhook_secret"], now - 3600, body),
        "tampered": signature_header(
            settings.PROCESSORS["sandbox"]["webhook_secret"], now, body.replace(b"1999", b"9999")
        ),
        "missing": None,
    }[problem]
    headers = {SIGNATURE_HEADER: header} if header else {}
    response = client.post("/webhooks/processor/sandbox/", body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert not ProcessorWebhookEvent.objects.exists()
    assert Payment.objects.get(pk=processing_payment).status == "processing"


# --- One URL and one secret per processor -------------------------------------------------------------------


def test_a_webhook_signed_by_one_processor_is_refused_on_another_processors_url(client, settings, processing_payment):
    # sandbox's event, signed with sandbox's secret, sent to sandbox_eu's URL: sandbox_eu's secret does not verify it
    event = charge_event("evt_wrong_door", processing_payment, "captured")
    body = json.dumps(event).encode()
    header = signature_header(settings.PROCESSORS["sandbox"]["webhook_secret"], int(time.time()), body)
    response = client.post(
        "/webhooks/processor/sandbox_eu/", body, content_type="application/json", headers={SIGNATURE_HEADER: header}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "signature_invalid"
    assert not ProcessorWebhookEvent.objects.exists()
    assert Payment.objects.get(pk=processing_payment).status == "processing"


def test_a_processor_cannot_move_another_processors_payment(client, settings, processing_payment):
    # sandbox_eu, correctly signed, reports a charge for a payment that sandbox holds: stored, ignored
    response = deliver(
        client, settings, charge_event("evt_eu_1", processing_payment, "captured"), processor="sandbox_eu"
    )
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert Payment.objects.get(pk=processing_payment).status == "processing"
    assert ProcessorWebhookEvent.objects.get().processor == "sandbox_eu"


def test_an_unknown_processors_url_is_404(client, settings):
    body = json.dumps(charge_event("evt_x", "pay_x", "captured")).encode()
    response = client.post("/webhooks/processor/nobody/", body, content_type="application/json")
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
