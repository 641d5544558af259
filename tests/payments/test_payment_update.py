"""Updating a payment's details and filtering the list by customer and metadata (issue 18)."""

import threading
import uuid

import pytest
from django.db import connection

from core.models import AuditEntry
from payments.models import Payment
from tests.conftest import requires_postgres
from tests.payments.helpers import create_payment, error_of, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments"


@pytest.fixture
def payment(api_client, sandbox) -> dict:
    response = create_payment(
        api_client, description="Order 6735", metadata={"order_id": "6735", "channel": "web"}, confirm=True
    )
    assert response.status_code == 201, response.content
    return response.json()


def update(client, payment_id: str, body: dict, key: str | None = None):
    return post(client, f"{URL}/{payment_id}", body, key=key or str(uuid.uuid4()))


def test_details_are_updated_in_any_status_merged_and_audited(api_client, payment):
    assert payment["status"] == "succeeded"
    response = update(
        api_client,
        payment["id"],
        {
            "description": "Order 6735 (gift)",
            "metadata": {"gift": "yes", "channel": ""},
            "customer_email": "Jane@Example.com",
            "customer_name": "Jane Doe",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metadata"] == {"order_id": "6735", "gift": "yes"}  # merged; "" removed channel
    assert (body["description"], body["customer_email"], body["customer_name"]) == (
        "Order 6735 (gift)",
        "Jane@Example.com",
        "Jane Doe",
    )
    assert (body["status"], body["amount_captured"]) == ("succeeded", payment["amount_captured"])
    assert api_client.get(f"{URL}/{payment['id']}").json() == body
    audit = AuditEntry.objects.get(object_id=payment["id"], action="payment.update")
    assert audit.before["metadata"] == {"order_id": "6735", "channel": "web"}
    # null clears a field; an absent one stays.
    body = update(api_client, payment["id"], {"customer_name": None}).json()
    assert (body["customer_name"], body["customer_email"]) == (None, "Jane@Example.com")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": "x"}, "metadata"),
        ({"description": "x" * 1001}, "description"),
        ({"amount": 5}, "amount"),
        ({"status": "succeeded"}, "status"),
    ],
)
def test_bad_updates_are_400_naming_the_field_and_change_nothing(api_client, payment, body, param):
    response = update(api_client, payment["id"], body)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    assert Payment.objects.get(pk=payment["id"]).description == "Order 6735"


def test_more_than_50_metadata_keys_after_the_merge_is_refused(api_client, payment):
    response = update(api_client, payment["id"], {"metadata": {f"k{i}": "v" for i in range(49)}})
    assert response.status_code == 400 and error_of(response)["code"] == "metadata_invalid"
    assert Payment.objects.get(pk=payment["id"]).metadata == {"order_id": "6735", "channel": "web"}


def test_another_merchants_payment_is_404_and_a_replay_answers_the_same(api_client, other_api_client, payment):
    assert update(other_api_client, payment["id"], {"description": "mine"}).status_code == 404
    assert update(api_client, "pay_missing", {"description": "mine"}).status_code == 404
    first = update(api_client, payment["id"], {"description": "a"}, key="u-1")
    update(api_client, payment["id"], {"description": "b"}, key="u-2")
    again = update(api_client, payment["id"], {"description": "a"}, key="u-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Payment.objects.get(pk=payment["id"]).description == "b"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_of_different_metadata_keys_both_count(api_client, payment):
    start = threading.Barrier(2)

    def go(key):
        try:
            start.wait(timeout=30)
            assert update(api_client, payment["id"], {"metadata": {key: "1"}}).status_code == 200
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert {"a", "b"} <= set(Payment.objects.get(pk=payment["id"]).metadata)


def test_the_list_filters_by_customer_email_and_metadata(api_client, sandbox):
    def make(email, **metadata):
        return create_payment(api_client, customer_email=email, metadata=metadata).json()["id"]

    jane_6735 = make("jane@example.com", order_id="6735", channel="web")
    jane_6736 = make("Jane@Example.com", order_id="6736", channel="web")
    bob_6735 = make("bob@example.com", order_id="6735", channel="shop")

    def ids(**params):
        response = api_client.get(URL, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["data"]}

    assert ids(customer_email="JANE@example.com") == {jane_6735, jane_6736}
    assert ids(**{"metadata[order_id]": "6735"}) == {jane_6735, bob_6735}
    assert ids(**{"metadata[order_id]": "6735", "metadata[channel]": "web"}) == {jane_6735}
    assert ids(customer_email="jane@example.com", **{"metadata[order_id]": "6736"}) == {jane_6736}
    assert ids(**{"metadata[order_id]": "nope"}) == set()
    assert ids(**{"metadata[a__b]": "x"}) == set()  # a key is a key, never a lookup path
    response = api_client.get(URL, {"metadata[]": "x"})
    assert response.status_code == 400 and error_of(response)["param"] == "metadata[]"
    response = api_client.get(URL, {"customer": "jane"})
    assert response.status_code == 400 and error_of(response)["code"] == "parameter_unknown"
