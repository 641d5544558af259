"""Refund requests in the admin: the pending queue, approval by another Finance user, refusals as messages."""

import pytest
from django.contrib.admin.utils import quote

from backoffice import services
from backoffice.models import RefundRequest
from payments.models import Refund
from tests.backoffice.conftest import client_for, messages_of, payment_row, requires_processor_refunds, sandbox_payment

pytestmark = pytest.mark.django_db

LIST = "/admin/backoffice/refundrequest/"


def page(request) -> str:
    return f"/admin/backoffice/refundrequest/{quote(request.pk)}/change/"


def request_for(payment, user, amount=60_000) -> RefundRequest:
    return services.staff_refund(
        payment=payment, amount=amount, reason="requested_by_customer", note="please", user=user
    ).request


def test_the_list_is_the_pending_queue_by_default(merchant, support, finance):
    pending = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), support)
    decided = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), support)
    services.refund_request_reject(request=decided, user=finance, note="no")
    client = client_for(finance)
    assert [r.pk for r in client.get(LIST).context["cl"].result_list] == [pending.pk]
    assert {r.pk for r in client.get(LIST, {"status": "all"}).context["cl"].result_list} == {pending.pk, decided.pk}
    assert [r.pk for r in client.get(LIST, {"status": "rejected"}).context["cl"].result_list] == [decided.pk]


def test_support_sees_requests_but_cannot_approve_them(merchant, support, support2):
    request = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), support)
    client = client_for(support2)
    body = client.get(page(request)).content.decode()
    assert request.pk in body and 'data-action="approve"' not in body
    assert client.get(f"{LIST}{quote(request.pk)}/approve/").status_code == 403
    assert client.post(f"{LIST}{quote(request.pk)}/approve/", {"note": "ok"}).status_code == 403
    request.refresh_from_db()
    assert request.status == "pending"


def test_the_requester_is_shown_no_buttons_and_a_decision_posted_anyway_is_refused(merchant, finance):
    request = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), finance)
    client = client_for(finance)
    body = client.get(page(request)).content.decode()
    assert "You made this request" in body
    assert 'data-action="approve"' not in body and 'data-action="reject"' not in body
    for action in ("approve", "reject"):  # the pages themselves send the requester back, saying why
        response = client.get(f"{LIST}{quote(request.pk)}/{action}/", follow=True)
        assert response.redirect_chain[-1][0] == page(request)
        assert any("another Finance user must approve or reject it" in m for m in messages_of(response))
    response = client.post(f"{LIST}{quote(request.pk)}/approve/", {"note": "self-service"}, follow=True)
    assert any("another Finance user must approve or reject it" in m for m in messages_of(response))
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("pending", None)


def test_nothing_is_editable_here(merchant, support, superuser):
    request = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), support)
    client = client_for(superuser)
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.post(page(request), {"status": "approved"}).status_code == 403
    assert client.get(f"{LIST}{quote(request.pk)}/delete/").status_code == 403


def test_finance_rejects_through_the_admin(merchant, support, finance):
    request = request_for(payment_row(merchant, amount=80_000, amount_captured=80_000), support)
    client = client_for(finance)
    refused = client.post(f"{LIST}{quote(request.pk)}/reject/", {"note": ""}, follow=True)
    assert any("Say why" in m for m in messages_of(refused))
    client.post(f"{LIST}{quote(request.pk)}/reject/", {"note": "duplicate of rr_earlier"})
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("rejected", finance)
    assert request.decision_note == "duplicate of rr_earlier"


@requires_processor_refunds
def test_finance_approves_a_large_refund_requested_by_another_user(api_client, sandbox, support, finance):
    payment = sandbox_payment(api_client, amount=120_000)
    request = request_for(payment, support, amount=100_000)
    client = client_for(finance)
    body = client.get(page(request)).content.decode()
    assert 'data-action="approve"' in body and "You made this request" not in body
    response = client.post(f"{LIST}{quote(request.pk)}/approve/", {"note": "return received"}, follow=True)
    request.refresh_from_db()
    refund = request.refund
    assert (request.status, request.decided_by, refund.amount, refund.status) == (
        "approved",
        finance,
        100_000,
        "succeeded",
    )
    assert refund.requested_by == "staff:fay.finance"
    assert any(f"Approved: refund {refund.id} of 1,000.00 USD created: succeeded" in m for m in messages_of(response))
    # pressing approve again does nothing but say so
    again = client.post(f"{LIST}{quote(request.pk)}/approve/", {"note": "again"}, follow=True)
    assert any("already approved by fay.finance" in m for m in messages_of(again))
    assert Refund.objects.filter(payment=payment).count() == 1
