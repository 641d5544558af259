"""The checkout sessions API: create (with its Idempotency-Key and its replay), retrieve, list, expire, and
every bad input answered 400 naming the field."""

import re

import pytest

from checkout.models import CheckoutSession
from checkout.services import checkout_url_token
from events.models import Event
from tests.checkout.helpers import SESSION, create_session
from tests.payments.helpers import error_of, post

pytestmark = pytest.mark.django_db


def test_creating_a_session_answers_an_open_session_with_its_hosted_page(api_client, merchant, settings):
    settings.CHECKOUT_PUBLIC_URL = "https://pay.example"
    body = create_session(
        api_client,
        payment_method_types=["card", "wallet", "bank_transfer"],
        customer_email="ada@example.com",
        description="Order 42",
        metadata={"order": "42"},
    )
    assert re.fullmatch(r"cs_[0-9A-Z]{26}", body["id"])
    assert body["object"] == "checkout_session" and body["status"] == "open" and body["payment"] is None
    assert body["url"] == f"https://pay.example/checkout/{body['id']}/{checkout_url_token(body['id'])}"
    assert body["payment_method_types"] == ["card", "wallet", "bank_transfer"]
    assert (body["amount"], body["currency"], body["capture_method"]) == (2500, "USD", "automatic")
    assert body["customer_email"] == "ada@example.com"
    assert (body["description"], body["metadata"]) == ("Order 42", {"order": "42"})
    session = CheckoutSession.objects.get(pk=body["id"])
    assert (session.expires_at - session.created).total_seconds() == pytest.approx(24 * 3600, abs=5)
    assert api_client.get(f"/api/v1/checkout_sessions/{body['id']}").json() == body


def test_the_url_token_is_not_the_id_and_differs_per_session(api_client):
    first, second = create_session(api_client), create_session(api_client)
    assert first["url"].rsplit("/", 1)[1] != second["url"].rsplit("/", 1)[1]
    assert first["id"] not in first["url"].rsplit("/", 1)[1]
    assert len(first["url"].rsplit("/", 1)[1]) == 40


def test_the_ttl_is_a_setting(api_client, settings):
    settings.CHECKOUT_SESSION_TTL_SECONDS = 600
    body = create_session(api_client)
    session = CheckoutSession.objects.get(pk=body["id"])
    assert (session.expires_at - session.created).total_seconds() == pytest.approx(600, abs=5)


def test_a_replay_answers_the_same_session_and_creates_no_second(api_client):
    first = post(api_client, "/api/v1/checkout_sessions", SESSION, key="cs-key-1")
    again = post(api_client, "/api/v1/checkout_sessions", SESSION, key="cs-key-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert CheckoutSession.objects.count() == 1
    other_body = post(api_client, "/api/v1/checkout_sessions", {**SESSION, "amount": 1}, key="cs-key-1")
    assert other_body.status_code == 422


def test_the_idempotency_key_is_required(api_client):
    response = api_client.post("/api/v1/checkout_sessions", SESSION, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "idempotency_key_missing"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": "10"}, "amount"),
        ({"currency": "XXX1"}, "currency"),
        ({"success_url": "/thanks"}, "success_url"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"cancel_url": "ftp://shop.example/"}, "cancel_url"),
        ({"cancel_url": "https://user:pw@shop.example/"}, "cancel_url"),
        ({"success_url": 5}, "success_url"),
        ({"payment_method_types": ["cheque"]}, "payment_method_types"),
        ({"payment_method_types": []}, "payment_method_types"),
        ({"payment_method_types": ["card", "card"]}, "payment_method_types"),
        ({"capture_method": "later"}, "capture_method"),
        ({"customer_email": "not an email"}, "customer_email"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"description": 7}, "description"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, change, param):
    response = post(api_client, "/api/v1/checkout_sessions", {**SESSION, **change})
    assert response.status_code == 400, response.content
    assert error_of(response)["param"].startswith(param), error_of(response)
    assert CheckoutSession.objects.count() == 0


def test_missing_urls_are_named(api_client):
    response = post(api_client, "/api/v1/checkout_sessions", {"amount": 100, "currency": "USD"})
    assert response.status_code == 400 and error_of(response)["param"] in ("success_url", "cancel_url")


def test_a_bank_transfer_cannot_be_captured_by_hand(api_client):
    body = {**SESSION, "capture_method": "manual", "payment_method_types": ["card", "bank_transfer"]}
    response = post(api_client, "/api/v1/checkout_sessions", body)
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("capture_method_invalid", "capture_method")
    assert create_session(api_client, capture_method="manual")["capture_method"] == "manual"


def test_list_pages_newest_first_filters_by_status_and_refuses_unknown_filters(api_client, other_api_client):
    ids = [create_session(api_client)["id"] for _ in range(3)]
    create_session(other_api_client, currency="EUR")
    page = api_client.get("/api/v1/checkout_sessions?limit=2").json()
    assert [s["id"] for s in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    rest = api_client.get(f"/api/v1/checkout_sessions?limit=2&starting_after={ids[1]}").json()
    assert [s["id"] for s in rest["data"]] == [ids[0]] and rest["has_more"] is False
    post(api_client, f"/api/v1/checkout_sessions/{ids[0]}/expire")
    expired = api_client.get("/api/v1/checkout_sessions?status=expired").json()
    assert [s["id"] for s in expired["data"]] == [ids[0]]
    unknown = api_client.get("/api/v1/checkout_sessions?colour=blue")
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "parameter_unknown"
    bad = api_client.get("/api/v1/checkout_sessions?status=paid")
    assert bad.status_code == 400 and error_of(bad)["param"] == "status"


def test_another_merchants_session_is_not_found(api_client, other_api_client):
    body = create_session(api_client)
    # A USD session of a merchant who settles in EUR needs a USD→EUR rate: refused without one.
    no_rate = post(other_api_client, "/api/v1/checkout_sessions", SESSION)
    assert no_rate.status_code == 400 and error_of(no_rate)["code"] == "currency_conversion_unavailable"
    assert other_api_client.get(f"/api/v1/checkout_sessions/{body['id']}").status_code == 404
    assert post(other_api_client, f"/api/v1/checkout_sessions/{body['id']}/expire").status_code == 404
    assert api_client.get("/api/v1/checkout_sessions/cs_nope").status_code == 404
    assert CheckoutSession.objects.get(pk=body["id"]).status == "open"


def test_expiring_a_session_records_its_event_once(api_client, merchant):
    body = create_session(api_client)
    expired = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire")
    assert expired.status_code == 200, expired.content
    assert (expired.json()["status"], expired.json()["url"]) == ("expired", None)
    assert expired.json()["expired_at"] is not None
    again = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire")
    assert again.status_code == 200 and again.json()["status"] == "expired"
    events = Event.objects.filter(type="checkout.session.expired", merchant=merchant)
    assert events.count() == 1 and f'"id":"{body["id"]}"' in events.get().payload
    unknown = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire", {"now": True})
    assert unknown.status_code == 400 and error_of(unknown)["param"] == "now"
