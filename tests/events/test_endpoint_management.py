"""Managing webhook endpoints through the API (issue 18): update, disable and enable, rotate the secret with an
overlap during which both secrets sign, list what was sent to an endpoint, and re-send an event to it."""

import json
import time
import uuid

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.models import AuditEntry
from events import services
from events.models import WebhookDelivery, WebhookEndpoint
from tests.events.conftest import record
from tests.events.receiver import Answer
from tests.payments.helpers import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook_endpoints"


def post(client, path: str, body: dict, *, key: str | None = None):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
    )


@pytest.fixture
def created(api_client, receiver) -> dict:
    response = post(api_client, URL, {"url": receiver.url, "description": "orders"})
    assert response.status_code == 201, response.content
    return response.json()


def send_one(merchant, type: str = "payment.succeeded") -> WebhookDelivery:
    event = record(merchant, type)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get(event=event)
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    return delivery


# --- Update, disable, enable -----------------------------------------------------------------------------


def test_an_endpoint_is_updated_and_the_change_is_audited(api_client, created, receiver):
    assert (created["description"], created["events"], created["enabled_events"]) == ("orders", ["*"], ["*"])
    response = post(
        api_client,
        f"{URL}/{created['id']}",
        {"enabled_events": ["payment.succeeded", "refund.succeeded"], "description": "shop", "url": receiver.url + "x"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["events"], body["description"], body["url"]) == (
        ["payment.succeeded", "refund.succeeded"],
        "shop",
        receiver.url + "x",
    )
    assert "secret" not in body
    assert api_client.get(f"{URL}/{created['id']}").json() == body
    audit = AuditEntry.objects.get(object_type="webhookendpoint", action="webhook_endpoint.update")
    assert audit.before["description"] == "orders" and audit.after["description"] == "shop"
    assert "secret" not in json.dumps([audit.before, audit.after])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "http://127.0.0.1:1/"}, "url"),
        ({"events": ["payment.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["*"], "enabled_events": ["*"]}, "enabled_events"),
        ({"disabled": "maybe"}, "disabled"),
        ({"description": "x" * 501}, "description"),
        ({"secret": "whsec_mine"}, "secret"),
    ],
)
def test_bad_updates_are_400_naming_the_field_and_change_nothing(api_client, created, body, param, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = post(api_client, f"{URL}/{created['id']}", body)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    assert api_client.get(f"{URL}/{created['id']}").json()["description"] == "orders"


def test_another_merchants_or_a_deleted_endpoint_is_404(api_client, other_api_client, created):
    assert post(other_api_client, f"{URL}/{created['id']}", {"description": "mine"}).status_code == 404
    assert api_client.delete(f"{URL}/{created['id']}").status_code == 200
    assert post(api_client, f"{URL}/{created['id']}", {"description": "back"}).status_code == 404


def test_a_disabled_endpoint_receives_nothing_until_enabled_again(api_client, merchant, created, receiver):
    body = post(api_client, f"{URL}/{created['id']}", {"disabled": True}).json()
    assert (body["status"], body["disabled_reason"]) == ("disabled", "disabled by the merchant")
    event = record(merchant)
    services.outbox_drain()
    assert not WebhookDelivery.objects.filter(event=event).exists() and not receiver.received
    body = post(api_client, f"{URL}/{created['id']}", {"disabled": False}).json()
    assert (body["status"], body["disabled_reason"]) == ("enabled", None)
    assert send_one(merchant).status == "succeeded" and len(receiver.received) == 1


def test_disabling_cancels_a_delivery_already_due(api_client, merchant, created, receiver):
    event = record(merchant)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get(event=event)
    post(api_client, f"{URL}/{created['id']}", {"disabled": True})
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == "canceled" and not receiver.received


def test_an_update_replayed_with_its_key_answers_the_same(api_client, created):
    first = post(api_client, f"{URL}/{created['id']}", {"description": "a"}, key="upd-1")
    post(api_client, f"{URL}/{created['id']}", {"description": "b"}, key="upd-2")
    again = post(api_client, f"{URL}/{created['id']}", {"description": "a"}, key="upd-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert api_client.get(f"{URL}/{created['id']}").json()["description"] == "b"


# --- Rotation ------------------------------------------------------------------------------------------


def test_during_the_overlap_both_secrets_sign_then_only_the_new_one(api_client, merchant, created, receiver):
    old_secret = created["secret"]
    rotated = post(api_client, f"{URL}/{created['id']}/rotate_secret", {"expires_in": 2})
    assert rotated.status_code == 200, rotated.content
    body = rotated.json()
    new_secret = body["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert body["rotation_overlap_ends_at"] is not None
    assert "secret" not in api_client.get(f"{URL}/{created['id']}").json()

    send_one(merchant)
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):  # a verifier with either secret accepts it
        Webhook(secret).verify(request.body, request.headers)

    time.sleep(2.1)
    assert api_client.get(f"{URL}/{created['id']}").json()["rotation_overlap_ends_at"] is None
    send_one(merchant, "payment.failed")
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, request.headers)


def test_a_leaked_secret_stops_signing_at_once_and_a_second_rotation_keeps_two_secrets_at_most(
    api_client, merchant, created, receiver
):
    first = post(api_client, f"{URL}/{created['id']}/rotate_secret", {}).json()["secret"]
    second = post(api_client, f"{URL}/{created['id']}/rotate_secret", {}).json()["secret"]
    send_one(merchant)
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(first).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(request.body, request.headers)  # two rotations ago: gone

    leaked = post(api_client, f"{URL}/{created['id']}/rotate_secret", {"expires_in": 0}).json()
    assert leaked["rotation_overlap_ends_at"] is None
    send_one(merchant, "payment.failed")
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(leaked["secret"]).verify(request.body, request.headers)
    for old in (first, second):
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, request.headers)
    assert AuditEntry.objects.filter(action="webhook_endpoint.rotate_secret").count() == 3


def test_a_rotation_retried_with_its_key_answers_the_same_secret_and_rotates_once(api_client, created):
    first = post(api_client, f"{URL}/{created['id']}/rotate_secret", {}, key="rot-1")
    again = post(api_client, f"{URL}/{created['id']}/rotate_secret", {}, key="rot-1")
    assert again.json()["secret"] == first.json()["secret"]
    assert WebhookEndpoint.objects.get(pk=created["id"]).secret == first.json()["secret"]
    assert AuditEntry.objects.filter(action="webhook_endpoint.rotate_secret").count() == 1


@pytest.mark.parametrize("expires_in", [-1, 604_801, "soon"])
def test_a_bad_overlap_is_400(api_client, created, expires_in):
    response = post(api_client, f"{URL}/{created['id']}/rotate_secret", {"expires_in": expires_in})
    assert response.status_code == 400 and error_of(response)["param"] == "expires_in"
    assert WebhookEndpoint.objects.get(pk=created["id"]).previous_secret == ""


# --- Deliveries and resend -------------------------------------------------------------------------------


def test_the_endpoints_deliveries_list_every_attempt(api_client, merchant, created, receiver):
    receiver.answer = Answer(500, b"boom")
    failing = send_one(merchant)
    receiver.answer = Answer()
    ok = send_one(merchant, "refund.succeeded")
    response = api_client.get(f"{URL}/{created['id']}/deliveries")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert [d["id"] for d in data] == [ok.pk, failing.pk]
    newest, oldest = data
    assert (newest["event_type"], newest["status"], newest["attempts"][0]["status_code"]) == (
        "refund.succeeded",
        "succeeded",
        200,
    )
    assert oldest["status"] == "pending" and oldest["next_attempt_at"] is not None
    assert (oldest["attempts"][0]["status_code"], oldest["attempts"][0]["error"]) == (500, "HTTP 500")
    filtered = api_client.get(f"{URL}/{created['id']}/deliveries", {"type": "refund.*"}).json()["data"]
    assert [d["id"] for d in filtered] == [ok.pk]
    assert api_client.get(f"{URL}/{created['id']}/deliveries", {"type": "nope"}).status_code == 400


def test_an_event_is_resent_to_the_endpoint_with_the_same_webhook_id(
    api_client, merchant, created, receiver, queued, django_capture_on_commit_callbacks
):
    delivery = send_one(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, f"{URL}/{created['id']}/resend", {"event": delivery.event_id})
    assert response.status_code == 200, response.content
    assert response.json()["id"] == delivery.pk and response.json()["status"] == "pending"
    assert delivery.pk in queued.delivery_ids
    services.deliveries_send(delivery_ids=[delivery.pk])
    assert [r.event_id for r in receiver.received] == [delivery.event_id, delivery.event_id]
    assert api_client.get(f"{URL}/{created['id']}/deliveries").json()["data"][0]["attempt_count"] == 2


def test_an_event_from_before_the_endpoint_existed_can_be_sent_to_it(api_client, merchant, receiver):
    event = record(merchant)
    services.outbox_drain()  # no endpoint then: no delivery
    endpoint = post(api_client, URL, {"url": receiver.url}).json()
    response = post(api_client, f"{URL}/{endpoint['id']}/resend", {"event": event.pk})
    assert response.status_code == 200, response.content
    services.deliveries_send(delivery_ids=[response.json()["id"]])
    assert [r.event_id for r in receiver.received] == [event.pk]


def test_resend_refuses_a_disabled_endpoint_and_unknown_or_foreign_events(
    api_client, other_api_client, merchant, other_merchant, created
):
    foreign = record(other_merchant)
    response = post(api_client, f"{URL}/{created['id']}/resend", {"event": foreign.pk})
    assert response.status_code == 404 and error_of(response)["param"] == "event"
    assert post(api_client, f"{URL}/{created['id']}/resend", {}).status_code == 400
    mine = record(merchant)
    assert post(other_api_client, f"{URL}/{created['id']}/resend", {"event": mine.pk}).status_code == 404
    post(api_client, f"{URL}/{created['id']}", {"disabled": True})
    response = post(api_client, f"{URL}/{created['id']}/resend", {"event": mine.pk})
    assert response.status_code == 400 and error_of(response)["code"] == "webhook_endpoint_disabled"
    assert not WebhookDelivery.objects.filter(event=mine).exists()
