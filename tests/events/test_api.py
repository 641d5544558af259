"""The events and webhook endpoints API: shapes, errors, idempotency, merchant isolation."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event, WebhookEndpoint
from tests.events.conftest import record
from tests.payments.helpers import error_of, post

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook_endpoints"
RECEIVER = object()  # stands for the test receiver's URL


def create(client, receiver, **body):
    return post(client, ENDPOINTS, {"url": receiver.url, **body})


# --- Webhook endpoints ----------------------------------------------------------------------


def test_create_answers_the_endpoint_and_its_secret_once(api_client, receiver):
    response = create(api_client, receiver)
    assert response.status_code == 201
    body = response.json()
    assert list(body) == [
        "id",
        "object",
        "url",
        "description",
        "events",
        "enabled_events",
        "status",
        "disabled_reason",
        "rotation_overlap_ends_at",
        "created",
        "secret",
    ]
    assert body["id"].startswith("we_") and body["object"] == "webhook_endpoint"
    assert (body["url"], body["events"], body["status"]) == (receiver.url, ["*"], "enabled")
    assert body["secret"].startswith("whsec_") and body["created"].endswith("Z")

    shown_later = [api_client.get(f"{ENDPOINTS}/{body['id']}"), api_client.get(ENDPOINTS)]
    for later in shown_later:
        assert later.status_code == 200
        assert "secret" not in later.content.decode() and body["secret"] not in later.content.decode()
    assert shown_later[0].json() == {k: v for k, v in body.items() if k != "secret"}


def test_create_with_chosen_event_types(api_client, receiver):
    body = create(api_client, receiver, events=["payment.failed", "payment.succeeded", "payment.failed"]).json()
    assert body["events"] == ["payment.failed", "payment.succeeded"]
    assert create(api_client, receiver, events=["*", "payment.failed"]).json()["events"] == ["*"]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "parameter_missing", "url"),
        ({"url": 42}, "url_invalid", "url"),
        ({"url": "not a url", "events": ["payment.succeeded"]}, "url_invalid", "url"),
        ({"url": RECEIVER, "events": ["payment.teleported"]}, "events_invalid", "events"),
        ({"url": RECEIVER, "events": []}, "events_invalid", "events"),
        ({"url": RECEIVER, "events": "payment.succeeded"}, "events_invalid", "events"),
        ({"url": RECEIVER, "events": [1]}, "events_invalid", "events"),
        ({"url": RECEIVER, "events": None}, "parameter_invalid", "events"),
        ({"url": RECEIVER, "secret": "whsec_mine"}, "parameter_unknown", "secret"),
    ],
)
def test_create_refuses_bad_input_in_the_contract_shape(api_client, receiver, body, code, param):
    body = {key: receiver.url if value is RECEIVER else value for key, value in body.items()}
    response = post(api_client, ENDPOINTS, body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_create_needs_an_idempotency_key(api_client, receiver):
    response = api_client.post(ENDPOINTS, {"url": receiver.url}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "idempotency_key_missing"


def test_create_is_idempotent(api_client, receiver):
    first = post(api_client, ENDPOINTS, {"url": receiver.url}, key="endpoint-1")
    again = post(api_client, ENDPOINTS, {"url": receiver.url}, key="endpoint-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # the same endpoint and the same secret, byte for byte
    assert WebhookEndpoint.objects.count() == 1
    reused = post(api_client, ENDPOINTS, {"url": receiver.url + "/other"}, key="endpoint-1")
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"


def test_a_create_that_died_after_committing_resumes_with_the_same_endpoint(api_client, receiver):
    """The request died after the endpoint was committed and before its answer was stored (the key
    says ``intent_recorded``, its lock expired): the retry answers that endpoint, never a second one."""
    from edge.models import IdempotencyKey

    first = post(api_client, "/api/v1/webhook_endpoints", {"url": receiver.url}, key="wh-crash")
    assert first.status_code == 201
    IdempotencyKey.objects.filter(key="wh-crash").update(
        status="in_progress",
        recovery_point="intent_recorded",
        response_status=None,
        response_body=None,
        locked_at=timezone.now() - timedelta(hours=1),
    )
    retry = post(api_client, "/api/v1/webhook_endpoints", {"url": receiver.url}, key="wh-crash")
    assert retry.status_code == 201
    assert (retry.json()["id"], retry.json()["secret"]) == (first.json()["id"], first.json()["secret"])
    assert WebhookEndpoint.objects.count() == 1


def test_list_newest_first_and_paginated(api_client, receiver):
    ids = [create(api_client, receiver).json()["id"] for _ in range(3)]
    page = api_client.get(f"{ENDPOINTS}?limit=2").json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [item["id"] for item in page["data"]] == ids[::-1][:2]
    rest = api_client.get(f"{ENDPOINTS}?limit=2&starting_after={ids[1]}").json()
    assert [item["id"] for item in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_delete(api_client, receiver):
    endpoint_id = create(api_client, receiver).json()["id"]
    response = api_client.delete(f"{ENDPOINTS}/{endpoint_id}")
    assert response.status_code == 200
    assert response.json() == {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
    assert api_client.get(f"{ENDPOINTS}/{endpoint_id}").status_code == 404
    assert api_client.delete(f"{ENDPOINTS}/{endpoint_id}").status_code == 404
    assert api_client.get(ENDPOINTS).json()["data"] == []


def test_another_merchants_endpoint_is_missing(api_client, other_api_client, receiver):
    endpoint_id = create(api_client, receiver).json()["id"]
    for response in (
        other_api_client.get(f"{ENDPOINTS}/{endpoint_id}"),
        other_api_client.delete(f"{ENDPOINTS}/{endpoint_id}"),
    ):
        assert response.status_code == 404
        error = error_of(response)
        assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
    assert other_api_client.get(ENDPOINTS).json()["data"] == []
    assert WebhookEndpoint.objects.get(pk=endpoint_id).deleted_at is None


def test_unknown_endpoint_is_404(api_client):
    response = api_client.get(f"{ENDPOINTS}/we_nope")
    assert response.status_code == 404 and error_of(response)["code"] == "resource_missing"


@pytest.mark.parametrize("path", ["/api/v1/webhook_endpoints", "/api/v1/events", "/api/v1/events/evt_x"])
def test_an_api_key_is_required(client, path):
    response = client.get(path)
    assert response.status_code == 401 and error_of(response)["type"] == "authentication_error"


# --- Events -------------------------------------------------------------------------------


def test_events_list_and_retrieve(api_client, merchant, other_merchant):
    first = record(merchant, "payment.processing", amount=100)
    second = record(merchant, "payment.succeeded", amount=100)
    record(other_merchant, "payment.succeeded")

    page = api_client.get("/api/v1/events").json()
    assert page["object"] == "list" and page["has_more"] is False
    assert [item["id"] for item in page["data"]] == [second.pk, first.pk]
    assert page["data"][0] == json.loads(second.payload)

    one = api_client.get(f"/api/v1/events/{first.pk}")
    assert one.status_code == 200 and one.json() == json.loads(first.payload)
    assert one.json()["data"]["object"]["amount"] == 100


def test_events_filters(api_client, merchant):
    processing = record(merchant, "payment.processing")
    succeeded = record(merchant, "payment.succeeded")
    Event.objects.filter(pk=processing.pk).update(created=timezone.now() - timedelta(days=2))

    def ids(query):
        response = api_client.get(f"/api/v1/events?{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["data"]]

    assert ids("type=payment.succeeded") == [succeeded.pk]
    assert ids("type=payment.*") == [succeeded.pk, processing.pk]
    assert ids("type=refund.*") == []
    yesterday = int((timezone.now() - timedelta(days=1)).timestamp())
    assert ids(f"created[gte]={yesterday}") == [succeeded.pk]
    assert ids(f"created[lte]={yesterday}") == [processing.pk]
    assert ids(f"limit=1&starting_after={succeeded.pk}") == [processing.pk]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("type=payment.teleported", "type"),
        ("type=*", "type"),
        ("limit=0", "limit"),
        ("created[gte]=soon", "created[gte]"),
        ("starting_after=evt_nope", "starting_after"),
    ],
)
def test_events_bad_queries_are_400(api_client, merchant, query, param):
    response = api_client.get(f"/api/v1/events?{query}")
    assert response.status_code == 400 and error_of(response)["param"] == param


def test_another_merchants_event_is_missing(api_client, other_api_client, merchant):
    event = record(merchant)
    response = other_api_client.get(f"/api/v1/events/{event.pk}")
    assert response.status_code == 404 and error_of(response)["code"] == "resource_missing"
    assert other_api_client.get("/api/v1/events").json()["data"] == []
    cursor = other_api_client.get(f"/api/v1/events?starting_after={event.pk}")
    assert cursor.status_code == 400 and error_of(cursor)["code"] == "resource_missing"


def test_events_are_read_only(api_client):
    response = post(api_client, "/api/v1/events", {})
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
