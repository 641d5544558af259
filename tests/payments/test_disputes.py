"""Disputes, learned only from the processor's webhooks, end to end with a sandbox that sends them."""

import time

import pytest

from events.models import Event
from ledger.models import JournalEntry
from ledger.selectors import balance_get
from payments.dispute_services import dispute_apply_processor_dispute, disputes_close_overdue
from payments.models import Dispute, Payment
from tests.payments.helpers import create_payment, error_of, post, sandbox_sending_webhooks_to, wait_for


def available_usd(merchant) -> int:
    return {amount.currency: amount.amount for amount in balance_get(merchant=merchant).available}["USD"]


@pytest.fixture
def webhook_sandbox(live_server, settings):
    """A sandbox whose webhooks reach this test's live server."""
    with sandbox_sending_webhooks_to(
        live_server, settings, SANDBOX_DISPUTE_DELAY_SECONDS=1, SANDBOX_DISPUTE_DECISION_SECONDS=1
    ) as process:
        yield process


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_dispute_opens_by_webhook_and_is_won_with_evidence(api_client, merchant, webhook_sandbox):
    payment = create_payment(api_client, "tok_createDispute", amount=8000, confirm=True).json()
    assert payment["status"] == "succeeded"
    dispute = wait_for(lambda: Dispute.objects.filter(payment_id=payment["id"]).first())

    body = api_client.get(f"/api/v1/disputes/{dispute.id}").json()
    assert (body["object"], body["status"], body["amount"], body["fee"]) == ("dispute", "needs_response", 8000, 1500)
    assert body["payment"] == payment["id"] and body["evidence_due_by"]
    assert api_client.get(f"/api/v1/payments/{payment['id']}").json()["disputed"] is True
    assert available_usd(merchant) == 8000 - (232 + 30) - 8000 - 1500
    assert Event.objects.filter(type="dispute.created").count() == 1

    evidence = {"customer_communication": "winning_evidence: the customer confirmed delivery by email."}
    submitted = post(api_client, f"/api/v1/disputes/{dispute.id}/evidence", evidence)
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "under_review"
    assert submitted.json()["evidence"]["customer_communication"].startswith("winning_evidence")

    wait_for(lambda: Dispute.objects.get(pk=dispute.id).status == "won")
    assert available_usd(merchant) == 8000 - 262 - 1500
    assert JournalEntry.objects.filter(source=dispute.id, type="dispute_reversal").count() == 1
    assert Event.objects.filter(type="dispute.closed").count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_accepting_a_dispute_loses_it(api_client, webhook_sandbox, processor):
    payment = create_payment(api_client, amount=3000, confirm=True).json()
    charge = processor.charges_for(reference=payment["id"])[0]
    processor.open_dispute(processor_charge_id=charge.processor_id, reason="product_not_received")
    dispute = wait_for(lambda: Dispute.objects.filter(payment_id=payment["id"]).first())
    accepted = post(api_client, f"/api/v1/disputes/{dispute.id}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "lost"
    again = post(api_client, f"/api/v1/disputes/{dispute.id}/evidence", {"uncategorized_text": "too late"})
    assert again.status_code == 400 and error_of(again)["code"] == "dispute_unexpected_state"


@pytest.mark.django_db
def test_duplicate_and_out_of_order_dispute_webhooks(api_client, sandbox, processor):
    from gateways.base import Dispute as ProcessorDispute

    payment = create_payment(api_client, amount=2000, confirm=True).json()
    base = dict(
        processor_id="dsp_test_1",
        charge_id="ch_x",
        payment_reference=payment["id"],
        amount=2000,
        currency="USD",
        reason="fraudulent",
        evidence_due_by=int(time.time()) + 3600,
        evidence={},
    )
    # The decision arrives before the opening: the dispute is created and closed at once.
    closed = dispute_apply_processor_dispute(answer=ProcessorDispute(**base, status="lost"), actor="test")
    assert closed.status == "lost"
    again = dispute_apply_processor_dispute(answer=ProcessorDispute(**base, status="needs_response"), actor="test")
    assert again.status == "lost"
    dispute_apply_processor_dispute(answer=ProcessorDispute(**base, status="lost"), actor="test")
    assert Dispute.objects.count() == 1
    assert JournalEntry.objects.filter(source=closed.id, type="dispute").count() == 1
    assert Payment.objects.get(pk=payment["id"]).disputed is True


@pytest.mark.django_db
def test_disputes_past_their_deadline_without_evidence_are_lost(api_client, sandbox, processor):
    payment = create_payment(api_client, amount=2000, confirm=True).json()
    charge = processor.charges_for(reference=payment["id"])[0]
    opened = processor.open_dispute(processor_charge_id=charge.processor_id)
    dispute = dispute_apply_processor_dispute(answer=opened, actor="test")
    assert disputes_close_overdue() == 0
    Dispute.objects.filter(pk=dispute.id).update(evidence_due_by="2000-01-01T00:00:00Z")
    assert disputes_close_overdue() == 1
    assert Dispute.objects.get(pk=dispute.id).status == "lost"
    assert processor.retrieve_dispute(processor_dispute_id=opened.processor_id).status == "lost"


@pytest.mark.django_db
def test_dispute_isolation_and_bad_evidence(api_client, other_api_client, sandbox, processor):
    payment = create_payment(api_client, amount=2000, confirm=True).json()
    charge = processor.charges_for(reference=payment["id"])[0]
    dispute = dispute_apply_processor_dispute(
        answer=processor.open_dispute(processor_charge_id=charge.processor_id), actor="test"
    )
    assert other_api_client.get(f"/api/v1/disputes/{dispute.id}").status_code == 404
    assert post(other_api_client, f"/api/v1/disputes/{dispute.id}/accept").status_code == 404
    assert other_api_client.get("/api/v1/disputes").json()["data"] == []
    assert api_client.get(f"/api/v1/disputes?payment={payment['id']}").json()["data"][0]["id"] == dispute.id
    empty = post(api_client, f"/api/v1/disputes/{dispute.id}/evidence", {"refund_policy": "  "})
    assert empty.status_code == 400 and error_of(empty)["code"] == "evidence_missing"
    unknown = post(api_client, f"/api/v1/disputes/{dispute.id}/evidence", {"photos": "x"})
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "parameter_unknown"
