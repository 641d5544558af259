"""Refunds through the API against the sandbox processor: never more than was captured."""

import threading

import pytest

from core.models import AuditEntry
from events.models import Event
from ledger.models import JournalEntry
from payments.models import Payment, Refund
from payments.refund_services import refund_create, refund_resolve
from tests.conftest import requires_postgres
from tests.payments.helpers import create_payment, error_of, post
from tests.processors import configure_processor

pytestmark = pytest.mark.django_db


def refund(client, payment_id, **body):
    return post(client, "/api/v1/refunds", {"payment": payment_id, **body})


@pytest.fixture
def paid(api_client, sandbox):
    return create_payment(api_client, amount=5000, confirm=True).json()


def test_a_full_refund(api_client, paid, processor):
    response = refund(api_client, paid["id"], reason="requested_by_customer")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("re_") and body["object"] == "refund"
    assert (body["payment"], body["amount"], body["currency"]) == (paid["id"], 5000, "USD")
    assert (body["status"], body["reason"], body["failure_reason"]) == ("succeeded", "requested_by_customer", None)
    assert api_client.get(f"/api/v1/payments/{paid['id']}").json()["amount_refunded"] == 5000
    assert JournalEntry.objects.filter(source=body["id"], type="refund", status="posted").exists()
    assert Event.objects.filter(type="refund.succeeded").count() == 1
    assert AuditEntry.objects.filter(object_id=body["id"], action="refund.succeed").exists()


def test_partial_refunds_never_add_up_to_more_than_captured(api_client, paid):
    assert refund(api_client, paid["id"], amount=2000).json()["status"] == "succeeded"
    assert refund(api_client, paid["id"], amount=2500).json()["status"] == "succeeded"
    too_much = refund(api_client, paid["id"], amount=501)
    assert too_much.status_code == 400
    assert (error_of(too_much)["code"], error_of(too_much)["param"]) == ("refund_exceeds_captured", "amount")
    rest = refund(api_client, paid["id"])
    assert rest.json()["amount"] == 500
    nothing_left = refund(api_client, paid["id"])
    assert error_of(nothing_left)["code"] == "refund_exceeds_captured"
    assert Payment.objects.get(pk=paid["id"]).amount_refunded == 5000
    listed = api_client.get(f"/api/v1/refunds?payment={paid['id']}").json()
    assert [r["amount"] for r in listed["data"]] == [500, 2500, 2000]


def test_only_succeeded_payments_can_be_refunded(api_client, sandbox):
    payment = create_payment(api_client, capture_method="manual", confirm=True).json()
    response = refund(api_client, payment["id"])
    assert response.status_code == 400 and error_of(response)["code"] == "payment_unexpected_state"
    assert not Refund.objects.exists()


def test_a_failed_refund_releases_its_amount(api_client, sandbox):
    payment = create_payment(api_client, "tok_refundFailure", amount=3000, confirm=True).json()
    response = refund(api_client, payment["id"], amount=1000)
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 0
    assert Event.objects.filter(type="refund.failed").count() == 1
    entry_types = set(JournalEntry.objects.filter(source=response.json()["id"]).values_list("type", flat=True))
    assert entry_types == {"refund", "refund_release"}


def test_refunds_are_idempotent(api_client, paid, processor):
    first = post(api_client, "/api/v1/refunds", {"payment": paid["id"], "amount": 100}, key="refund-1")
    again = post(api_client, "/api/v1/refunds", {"payment": paid["id"], "amount": 100}, key="refund-1")
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1


def test_a_lost_answer_is_resolved_by_the_same_key(api_client, paid, sandbox, settings, processor):
    configure_processor(settings, base_url="http://127.0.0.1:9")
    pending = refund(api_client, paid["id"], amount=700).json()
    assert pending["status"] == "pending"
    assert Payment.objects.get(pk=paid["id"]).amount_refunded == 700  # reserved while unknown
    configure_processor(settings, base_url=sandbox.base_url)
    resolved = refund_resolve(refund_id=pending["id"])
    assert resolved.status == "succeeded"
    assert refund_resolve(refund_id=pending["id"]).status == "succeeded"


def test_isolation(api_client, other_api_client, paid):
    mine = refund(api_client, paid["id"], amount=100).json()
    assert other_api_client.get(f"/api/v1/refunds/{mine['id']}").status_code == 404
    response = refund(other_api_client, paid["id"])
    assert response.status_code == 404 and error_of(response)["param"] == "payment"
    assert other_api_client.get("/api/v1/refunds").json()["data"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "parameter_missing"),
        ({"payment": "pay_x", "amount": 0}, "amount_invalid"),
        ({"payment": "pay_x", "reason": "bored"}, "parameter_invalid"),
    ],
)
def test_bad_refund_requests(api_client, body, code):
    response = post(api_client, "/api/v1/refunds", body)
    assert response.status_code == 400 and error_of(response)["code"] == code


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_full_refunds_exactly_one_succeeds(api_client, merchant, sandbox):
    payment_id = create_payment(api_client, amount=4000, confirm=True).json()["id"]
    payment = Payment.objects.get(pk=payment_id)
    outcomes, barrier = [], threading.Barrier(10)

    def attempt(number):
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(
                refund_create(
                    merchant=merchant, payment=payment, amount=None, reason=None, actor=f"test:{number}"
                ).status
            )
        except Exception as error:  # noqa: BLE001
            outcomes.append(getattr(error, "code", repr(error)))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refund_exceeds_captured"] * 9 + ["succeeded"]
    assert Payment.objects.get(pk=payment_id).amount_refunded == 4000
