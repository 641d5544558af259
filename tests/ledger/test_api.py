"""GET /api/v1/balance and /api/v1/balance_transactions: shape, pagination, filters, isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.ids import new_id
from ledger import posting_rules
from ledger.models import JournalEntry
from tests.ledger.helpers import new_payment_id

pytestmark = pytest.mark.django_db

TRANSACTION_FIELDS = {
    "id",
    "object",
    "type",
    "amount",
    "fee",
    "net",
    "currency",
    "source",
    "status",
    "available_on",
    "created",
}


def capture(merchant, amount=10_000, currency="USD"):
    pay = new_payment_id()
    entry = posting_rules.payment_captured(
        payment_id=pay, merchant=merchant, amount_captured=amount, currency=currency, authorized=False
    )
    return pay, entry


# --- Authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/balance", "/api/v1/balance_transactions", "/api/v1/balance_transactions/txn_01JD2W7Q3XK8Y2M4V9R5T6B7CZ"],
)
def test_a_key_is_required(path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


# --- Balance ---------------------------------------------------------------------------------


def test_a_new_merchant_has_a_zero_balance_in_its_settlement_currency(api_client, other_api_client):
    response = api_client.get("/api/v1/balance")
    assert response.status_code == 200
    assert response.json() == {
        "object": "balance",
        "available": [{"currency": "USD", "amount": 0}],
        "pending": [{"currency": "USD", "amount": 0}],
    }
    assert other_api_client.get("/api/v1/balance").json()["available"] == [{"currency": "EUR", "amount": 0}]


def test_the_balance_is_computed_from_posted_postings_per_currency(api_client, merchant, other_merchant):
    capture(merchant, 10_000, "USD")
    capture(merchant, 2_000, "USD")
    capture(merchant, 10_000, "EUR")
    capture(other_merchant, 50_000, "USD")
    # Reservations do not move the balance.
    posting_rules.payment_authorized(payment_id=new_payment_id(), merchant=merchant, amount=7_000, currency="USD")
    posting_rules.refund_created(
        refund_id=new_id("re"), payment_id="pay_x", merchant=merchant, amount=500, currency="USD"
    )

    body = api_client.get("/api/v1/balance").json()
    assert body["available"] == [
        {"currency": "EUR", "amount": 10_000 - 290 - 25},
        {"currency": "USD", "amount": (10_000 - 320) + (2_000 - 58 - 30)},
    ]
    assert body["pending"] == [{"currency": "EUR", "amount": 0}, {"currency": "USD", "amount": 0}]


# --- Balance transactions ----------------------------------------------------------------------


def test_balance_transactions_show_what_moved_the_balance(api_client, merchant):
    pay, charge = capture(merchant, 10_000)
    manual = new_payment_id()
    posting_rules.payment_authorized(payment_id=manual, merchant=merchant, amount=10_000, currency="USD")
    partial = posting_rules.payment_captured(
        payment_id=manual, merchant=merchant, amount_captured=6_000, currency="USD", authorized=True
    )
    released = new_payment_id()
    posting_rules.payment_authorized(payment_id=released, merchant=merchant, amount=1_000, currency="USD")
    posting_rules.payment_authorization_released(payment_id=released, reason="canceled")
    refund_id = new_id("re")
    posting_rules.refund_created(refund_id=refund_id, payment_id=pay, merchant=merchant, amount=1_000, currency="USD")
    refund = posting_rules.refund_succeeded(refund_id=refund_id)
    dispute_id = new_id("dp")
    dispute = posting_rules.dispute_opened(
        dispute_id=dispute_id, payment_id=pay, merchant=merchant, amount=3_000, fee=1_500, currency="USD"
    )
    reversal = posting_rules.dispute_won(dispute_id=dispute_id)
    adjustment = posting_rules.manual_adjustment(
        adjustment_id=new_id("adj"), merchant=merchant, amount=-250, currency="USD", memo="correction"
    )

    response = api_client.get("/api/v1/balance_transactions", {"limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["has_more"] is False and body["url"] == "/api/v1/balance_transactions"
    rows = {row["id"]: row for row in body["data"]}
    # Reservations (authorisations, their release, a refund in flight) are not balance transactions.
    assert set(rows) == {charge.id, partial.id, refund.id, dispute.id, reversal.id, adjustment.id}
    assert [row["id"] for row in body["data"]] == sorted(rows, reverse=True)  # newest first
    assert all(set(row) == TRANSACTION_FIELDS for row in body["data"])

    def brief(entry):
        row = rows[entry.id]
        return (
            row["object"],
            row["type"],
            row["amount"],
            row["fee"],
            row["net"],
            row["currency"],
            row["source"],
            row["status"],
        )

    assert brief(charge) == ("balance_transaction", "charge", 10_000, 320, 9_680, "USD", pay, "available")
    assert brief(partial) == ("balance_transaction", "charge", 6_000, 204, 5_796, "USD", manual, "available")
    assert brief(refund) == ("balance_transaction", "refund", -1_000, 0, -1_000, "USD", refund_id, "available")
    assert brief(dispute) == ("balance_transaction", "dispute", -3_000, 1_500, -4_500, "USD", dispute_id, "available")
    assert brief(reversal)[1:5] == ("dispute_reversal", 3_000, 0, 3_000)
    assert brief(adjustment)[1:5] == ("adjustment", -250, 0, -250)
    assert rows[charge.id]["created"].endswith("Z")

    # The sum of the nets is the balance.
    available = api_client.get("/api/v1/balance").json()["available"][0]["amount"]
    assert sum(row["net"] for row in body["data"]) == available


def test_one_balance_transaction(api_client, merchant):
    pay, charge = capture(merchant, 10_000)
    response = api_client.get(f"/api/v1/balance_transactions/{charge.id}")
    assert response.status_code == 200
    assert response.json()["id"] == charge.id and response.json()["net"] == 9_680


def test_a_reservation_is_not_a_balance_transaction(api_client, merchant):
    authorization = posting_rules.payment_authorized(
        payment_id=new_payment_id(), merchant=merchant, amount=100, currency="USD"
    )
    response = api_client.get(f"/api/v1/balance_transactions/{authorization.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


def test_another_merchants_transactions_are_missing(api_client, other_api_client, merchant, other_merchant):
    _, mine = capture(merchant)
    _, theirs = capture(other_merchant)

    response = api_client.get(f"/api/v1/balance_transactions/{theirs.id}")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": f"No such balance transaction: '{theirs.id}'.",
        "param": "id",
    }
    assert [row["id"] for row in api_client.get("/api/v1/balance_transactions").json()["data"]] == [mine.id]
    assert [row["id"] for row in other_api_client.get("/api/v1/balance_transactions").json()["data"]] == [theirs.id]
    # Another merchant's id is not a cursor either.
    response = api_client.get("/api/v1/balance_transactions", {"starting_after": theirs.id})
    assert response.status_code == 400 and response.json()["error"]["code"] == "resource_missing"


def test_pagination_is_by_cursor_newest_first(api_client, merchant):
    ids = [capture(merchant, 1_000 + i)[1].id for i in range(5)]
    newest_first = sorted(ids, reverse=True)

    page = api_client.get("/api/v1/balance_transactions", {"limit": 2}).json()
    assert [row["id"] for row in page["data"]] == newest_first[:2] and page["has_more"] is True
    page = api_client.get("/api/v1/balance_transactions", {"limit": 2, "starting_after": newest_first[1]}).json()
    assert [row["id"] for row in page["data"]] == newest_first[2:4] and page["has_more"] is True
    page = api_client.get("/api/v1/balance_transactions", {"limit": 2, "starting_after": newest_first[3]}).json()
    assert [row["id"] for row in page["data"]] == newest_first[4:] and page["has_more"] is False
    page = api_client.get("/api/v1/balance_transactions", {"limit": 2, "ending_before": newest_first[4]}).json()
    assert [row["id"] for row in page["data"]] == newest_first[2:4] and page["has_more"] is True

    response = api_client.get("/api/v1/balance_transactions", {"limit": 101})
    assert response.status_code == 400 and response.json()["error"]["param"] == "limit"


def test_filters(api_client, merchant, monkeypatch):
    # One charge three days ago: entries are immutable, so it is created in the past rather than moved there.
    created = JournalEntry._meta.get_field("created")
    monkeypatch.setattr(created, "_get_default", lambda: timezone.now() - timedelta(days=3))
    pay, charge = capture(merchant, 10_000)
    monkeypatch.undo()
    _, other_charge = capture(merchant, 5_000)
    refund_id = new_id("re")
    posting_rules.refund_created(refund_id=refund_id, payment_id=pay, merchant=merchant, amount=100, currency="USD")
    refund = posting_rules.refund_succeeded(refund_id=refund_id)

    def ids(**params):
        response = api_client.get("/api/v1/balance_transactions", params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["data"]}

    assert ids(type="charge") == {charge.id, other_charge.id}
    assert ids(type="refund") == {refund.id}
    assert ids(source=pay) == {charge.id}
    assert ids(source=refund_id) == {refund.id}
    assert ids(type="charge", source=refund_id) == set()

    cutoff = str(int((timezone.now() - timedelta(days=1)).timestamp()))
    assert ids(**{"created[lt]": cutoff}) == {charge.id}
    assert ids(**{"created[gte]": cutoff}) == {other_charge.id, refund.id}
    assert ids(**{"created[gte]": cutoff, "type": "charge"}) == {other_charge.id}
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert ids(**{"created[gt]": future}) == set()
    assert ids(**{"created[lte]": future}) == {charge.id, other_charge.id, refund.id}

    response = api_client.get("/api/v1/balance_transactions", {"type": "bogus"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid" and response.json()["error"]["param"] == "type"
    response = api_client.get("/api/v1/balance_transactions", {"created[gte]": "yesterday"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "created[gte]"
