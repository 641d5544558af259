"""Operations in the admin: events, endpoints (never their secret) and deliveries with their attempts."""

import pytest

from events import services
from events.models import WebhookDelivery, WebhookEndpoint
from tests.events.conftest import record
from tests.events.receiver import Answer
from tests.staff import client_for, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operations_client():
    return client_for(staff_user("ops", "Operations"))


@pytest.fixture
def support_client():
    return client_for(staff_user("support"))


@pytest.fixture
def failed_delivery(merchant, receiver):
    created = services.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    receiver.answer = Answer(500, b"upstream broke")
    record(merchant)
    services.outbox_drain()
    delivery = WebhookDelivery.objects.get()
    services.deliveries_send(delivery_ids=[delivery.pk])
    return delivery, created.secret


def test_operations_see_events_endpoints_deliveries_and_attempts(operations_client, failed_delivery):
    delivery, secret = failed_delivery
    pages = [
        "/admin/events/event/",
        f"/admin/events/event/{delivery.event_id}/change/",
        "/admin/events/webhookendpoint/",
        f"/admin/events/webhookendpoint/{delivery.endpoint_id}/change/",
        "/admin/events/webhookdelivery/",
        f"/admin/events/webhookdelivery/{delivery.pk}/change/",
    ]
    for page in pages:
        response = operations_client.get(page)
        assert response.status_code == 200, page
        page_text = response.content.decode()
        assert secret not in page_text and secret.removeprefix("whsec_") not in page_text
    attempt_page = operations_client.get(f"/admin/events/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "upstream broke" in attempt_page and "HTTP 500" in attempt_page


def test_nothing_is_editable(operations_client, failed_delivery):
    delivery, _ = failed_delivery
    response = operations_client.post(
        f"/admin/events/webhookendpoint/{delivery.endpoint_id}/change/", {"url": "http://evil.example/"}
    )
    assert response.status_code == 403
    assert operations_client.get("/admin/events/webhookendpoint/add/").status_code == 403


def test_resend_action(operations_client, failed_delivery, receiver, queued, django_capture_on_commit_callbacks):
    delivery, _ = failed_delivery
    receiver.answer = Answer(200)
    with django_capture_on_commit_callbacks(execute=True):
        response = operations_client.post(
            "/admin/events/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200 and "Queued 1" in response.content.decode()
    assert queued.delivery_ids[-1] == delivery.pk
    services.deliveries_send(delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)


def test_reenable_action(operations_client, merchant, receiver):
    endpoint = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint
    services.webhook_endpoint_disable(endpoint_id=endpoint.pk, reason="the endpoint answered 410 Gone")
    response = operations_client.post(
        "/admin/events/webhookendpoint/", {"action": "enable", "_selected_action": [endpoint.pk]}, follow=True
    )
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.disabled_reason) == ("enabled", "")


def test_staff_without_the_permission_cannot_act(support_client, failed_delivery):
    delivery, _ = failed_delivery
    assert support_client.get("/admin/events/webhookdelivery/").status_code == 403
    response = support_client.post(
        "/admin/events/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 403
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempt_count == 1


def test_a_deleted_endpoint_cannot_be_reenabled(operations_client, merchant, receiver):
    endpoint = services.webhook_endpoint_create(merchant=merchant, url=receiver.url).endpoint
    services.webhook_endpoint_delete(endpoint=endpoint)
    operations_client.post("/admin/events/webhookendpoint/", {"action": "enable", "_selected_action": [endpoint.pk]})
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).status == "disabled"
