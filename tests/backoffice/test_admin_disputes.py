"""Disputes in the admin: the queue of open disputes by deadline, evidence, acceptance (with the real sandbox)."""

from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.utils import timezone

from core.models import AuditEntry
from gateways.registry import processor as processor_named
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Dispute
from tests.backoffice.conftest import (
    client_for,
    messages_of,
    payment_row,
    requires_processor_disputes,
    sandbox_payment,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/payments/dispute/"
EVIDENCE = {
    "customer_communication": "The customer thanked us for the delivery on 3 May.",
    "shipping_documentation": "Tracking 1Z999 delivered, signed by J. Doe.",
    "refund_policy": "30 days, unopened.",
    "uncategorized_text": "",
}


def dispute_row(payment, status="needs_response", due_in_days=7, number=[0]) -> Dispute:  # noqa: B006 - a counter
    number[0] += 1
    return Dispute.objects.create(
        payment=payment,
        merchant_id=payment.merchant_id,
        processor_dispute_id=f"dsp_row_{number[0]}",
        amount=payment.amount,
        currency=payment.currency,
        fee=1500,
        status=status,
        reason="fraudulent",
        evidence_due_by=timezone.now() + timedelta(days=due_in_days),
    )


def opened_dispute(api_client) -> Dispute:
    """A dispute the sandbox opened on a real charge, applied as its webhook would."""
    payment = sandbox_payment(api_client, amount=5_000)
    answer = processor_named("sandbox").open_dispute(
        processor_charge_id=payment.processor_charge_id, reason="fraudulent"
    )
    return dispute_apply_processor_dispute(answer=answer, actor="processor:test")


def test_the_queue_lists_open_disputes_nearest_deadline_first(merchant, support):
    payment = payment_row(merchant)
    later = dispute_row(payment, due_in_days=10)
    sooner = dispute_row(payment, due_in_days=2)
    review = dispute_row(payment, status="under_review", due_in_days=5)
    won = dispute_row(payment, status="won", due_in_days=1)
    client = client_for(support)
    assert [d.pk for d in client.get(LIST).context["cl"].result_list] == [sooner.pk, review.pk, later.pk]
    assert [d.pk for d in client.get(LIST, {"state": "closed"}).context["cl"].result_list] == [won.pk]
    assert len(client.get(LIST, {"state": "all"}).context["cl"].result_list) == 4
    assert [d.pk for d in client.get(LIST, {"state": "needs_response"}).context["cl"].result_list] == [
        sooner.pk,
        later.pk,
    ]


def test_an_overdue_dispute_is_marked(merchant, support):
    dispute_row(payment_row(merchant), due_in_days=-1)
    assert "overdue</strong>" in client_for(support).get(LIST).content.decode()


def test_operations_cannot_answer_disputes(merchant, operations):
    dispute = dispute_row(payment_row(merchant))
    client = client_for(operations)
    assert client.get(f"{LIST}{quote(dispute.pk)}/evidence/").status_code == 403
    assert client.post(f"{LIST}{quote(dispute.pk)}/accept/", {"reason": "x"}).status_code == 403


def test_evidence_needs_some_text(merchant, support):
    dispute = dispute_row(payment_row(merchant))
    response = client_for(support).post(f"{LIST}{quote(dispute.pk)}/evidence/", {name: "" for name in EVIDENCE})
    assert response.status_code == 200 and "at least one evidence field" in response.content.decode()
    dispute.refresh_from_db()
    assert dispute.status == "needs_response"


@requires_processor_disputes
def test_support_submits_evidence_through_the_admin(api_client, sandbox, support):
    dispute = opened_dispute(api_client)
    assert dispute.status == "needs_response"
    client = client_for(support)
    body = client.get(f"{LIST}{quote(dispute.pk)}/change/").content.decode()
    assert 'data-action="evidence"' in body and 'data-action="accept"' in body
    response = client.post(f"{LIST}{quote(dispute.pk)}/evidence/", EVIDENCE, follow=True)
    dispute.refresh_from_db()
    assert dispute.status == "under_review"
    assert dispute.evidence["shipping_documentation"] == EVIDENCE["shipping_documentation"]
    assert any("is now under_review" in m for m in messages_of(response))
    entry = AuditEntry.objects.get(object_type="dispute", object_id=dispute.pk, action="dispute.submit_evidence")
    assert (entry.actor, entry.before, entry.after) == (
        "staff:sam.support",
        {"status": "needs_response"},
        {"status": "under_review"},
    )
    # the evidence is shown on the dispute's page, and the buttons are gone
    page = client.get(f"{LIST}{quote(dispute.pk)}/change/").content.decode()
    assert "Tracking 1Z999" in page and 'data-action="evidence"' not in page


@requires_processor_disputes
def test_support_accepts_a_dispute_through_the_admin(api_client, sandbox, support):
    dispute = opened_dispute(api_client)
    response = client_for(support).post(
        f"{LIST}{quote(dispute.pk)}/accept/", {"reason": "customer is right"}, follow=True
    )
    dispute.refresh_from_db()
    assert dispute.status == "lost"
    assert any("accepted: it is now lost" in m for m in messages_of(response))
    entry = AuditEntry.objects.get(object_type="dispute", object_id=dispute.pk, action="dispute.lose")
    assert (entry.actor, entry.reason) == ("staff:sam.support", "customer is right")


@requires_processor_disputes
def test_the_accept_action_confirms_first_then_accepts(api_client, sandbox, support):
    dispute = opened_dispute(api_client)
    client = client_for(support)
    confirm = client.post(LIST, {"action": "accept_selected", "_selected_action": [dispute.pk]})
    assert confirm.status_code == 200 and "Accepting concedes each dispute" in confirm.content.decode()
    dispute.refresh_from_db()
    assert dispute.status == "needs_response"
    done = client.post(
        LIST,
        {
            "action": "accept_selected",
            "_selected_action": [dispute.pk],
            "_confirm": "1",
            "reason": "not worth fighting",
        },
        follow=True,
    )
    dispute.refresh_from_db()
    assert dispute.status == "lost"
    assert any("Accepted 1 dispute(s)" in m for m in messages_of(done))
