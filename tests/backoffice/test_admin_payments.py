"""The payments pages of the admin: fast lists, a read-only payment page with its whole story, and its buttons."""

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.models import RefundRequest
from core.models import AuditEntry
from merchants.services import merchant_create
from payments.models import Payment, Refund
from tests.backoffice.conftest import (
    client_for,
    messages_of,
    payment_row,
    requires_processor_refunds,
    sandbox_payment,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/payments/payment/"


def page(payment) -> str:
    return f"/admin/payments/payment/{quote(payment.pk)}/change/"


def listed_ids(response) -> set[str]:
    return {payment.pk for payment in response.context["cl"].result_list}


# --- The list -----------------------------------------------------------------------------------


def test_support_finds_a_payment_by_last4_and_by_exact_id(merchant, support):
    wanted = payment_row(merchant, card_last4="1881")
    other = payment_row(merchant, card_last4="4242")
    client = client_for(support)
    assert listed_ids(client.get(LIST, {"q": "1881"})) == {wanted.pk}
    assert listed_ids(client.get(LIST, {"q": wanted.pk})) == {wanted.pk}
    assert listed_ids(client.get(LIST, {"q": wanted.pk.lower()})) == set()  # exact, not a case-insensitive scan
    assert listed_ids(client.get(LIST, {"q": merchant.pk})) == {wanted.pk, other.pk}


def test_filters_merchant_status_amount_range_date_and_last4(merchant, support):
    other_merchant = merchant_create(name="Other", settlement_currency="USD")
    small = payment_row(merchant, amount=500, amount_captured=500)
    large = payment_row(merchant, amount=90_000, amount_captured=90_000, card_last4="0005")
    failed = payment_row(merchant, amount=700, amount_captured=0, status="failed")
    elsewhere = payment_row(other_merchant, amount=600, amount_captured=600)
    client = client_for(support)
    assert listed_ids(client.get(LIST, {"merchant_id": merchant.pk})) == {small.pk, large.pk, failed.pk}
    assert listed_ids(client.get(LIST, {"status__exact": "failed"})) == {failed.pk}
    assert listed_ids(client.get(LIST, {"amount_min": "5.50", "amount_max": "10.00"})) == {failed.pk, elsewhere.pk}
    assert listed_ids(client.get(LIST, {"amount_min": "500"})) == {large.pk}
    assert listed_ids(client.get(LIST, {"last4": "0005"})) == {large.pk}
    assert len(listed_ids(client.get(LIST, {"created__gte": "2000-01-01 00:00:00+00:00"}))) == 4
    both = client.get(LIST, {"merchant_id": merchant.pk, "amount_max": "8.00"})
    assert listed_ids(both) == {small.pk, failed.pk}
    # the amount form carries the other filters along
    assert f'name="merchant_id" value="{merchant.pk}"' in both.content.decode()
    # a bad value is refused, not a crash
    assert client.get(LIST, {"amount_min": "lots"}).status_code in (200, 302)


def test_the_list_costs_the_same_number_of_queries_for_5_or_50_payments(support):
    merchants = [merchant_create(name=f"M{i}", settlement_currency="USD") for i in range(5)]
    client = client_for(support)
    client.get(LIST)  # warm the session and permission caches

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(LIST)
        assert response.status_code == 200
        return len(captured.captured_queries), len(response.context["cl"].result_list)

    for i in range(5):
        payment_row(merchants[i % 5])
    few, shown = queries_for_list()
    assert shown == 5
    for i in range(45):
        payment_row(merchants[i % 5], card_last4=f"{i:04d}")
    many, shown = queries_for_list()
    assert shown == 50
    assert many == few, f"{few} queries for 5 payments, {many} for 50: a query per row"
    assert many <= 12


def test_the_list_shows_brand_and_last4_never_the_token(merchant, support):
    payment = payment_row(merchant, card_token="tok_never_show_me")
    body = client_for(support).get(LIST).content.decode()
    assert payment.pk in body and "4242" in body and "tok_never_show_me" not in body


# --- The payment page ------------------------------------------------------------------------------


def test_the_page_shows_status_next_transitions_and_card_but_not_the_token(merchant, support):
    payment = payment_row(
        merchant,
        status="requires_capture",
        amount_captured=0,
        amount_capturable=10_000,
        card_token="tok_never_show_me",
        card_exp_month=3,
        card_exp_year=2031,
    )
    response = client_for(support).get(page(payment))
    assert response.status_code == 200
    body = response.content.decode()
    assert "tok_never_show_me" not in body
    assert "capture → succeeded" in body and "cancel → canceled" in body and "expire → canceled" in body
    assert "visa" in body and "4242" in body and "03/2031" in body
    assert "100.00 USD" in body


def test_the_page_has_refunds_disputes_events_and_the_audit_trail(api_client, sandbox, support, finance):
    payment = sandbox_payment(api_client, amount=2_000)
    body = client_for(support).get(page(payment)).content.decode()
    for section in ('id="refunds"', 'id="disputes"', 'id="events"', 'id="deliveries"', 'id="audit-trail"'):
        assert section in body
    assert "payment.succeeded" in body  # the event, and the transition in the audit trail
    assert "payment.confirm" in body and "payment.mark_succeeded" in body
    # the ledger is Finance's: Support does not see it, Finance does
    assert 'id="ledger"' not in body
    finance_body = client_for(finance).get(page(payment)).content.decode()
    assert 'id="ledger"' in finance_body and "charge" in finance_body


def test_nothing_is_editable_or_deletable_even_for_a_superuser(merchant, superuser, support):
    payment = payment_row(merchant)
    for user in (superuser, support):
        client = client_for(user)
        assert client.get("/admin/payments/payment/add/").status_code == 403
        assert client.post(page(payment), {"amount": 1}).status_code == 403
        assert client.get(f"/admin/payments/payment/{quote(payment.pk)}/delete/").status_code == 403
        body = client.get(page(payment)).content.decode()
        assert 'name="_save"' not in body
    assert Payment.objects.get(pk=payment.pk).amount == 10_000


def test_operations_cannot_see_payments(merchant, operations):
    payment = payment_row(merchant)
    client = client_for(operations)
    assert client.get(LIST).status_code == 403
    assert client.get(page(payment)).status_code == 403


# --- Buttons: refund, capture, cancel ------------------------------------------------------------


def test_support_sees_refund_but_not_capture_or_cancel(merchant, support, finance):
    authorized = payment_row(merchant, status="requires_capture", amount_captured=0, amount_capturable=10_000)
    succeeded = payment_row(merchant)
    support_client = client_for(support)
    assert 'data-action="refund"' in support_client.get(page(succeeded)).content.decode()
    body = support_client.get(page(authorized)).content.decode()
    assert 'data-action="capture"' not in body and 'data-action="refund"' not in body
    assert support_client.post(f"/admin/payments/payment/{quote(authorized.pk)}/capture/").status_code == 403
    finance_body = client_for(finance).get(page(authorized)).content.decode()
    assert 'data-action="capture"' in finance_body and 'data-action="cancel"' in finance_body


def test_refund_form_shows_what_is_left_and_the_threshold(merchant, support):
    payment = payment_row(merchant, amount=30_000, amount_captured=30_000, amount_refunded=5_000)
    body = client_for(support).get(f"/admin/payments/payment/{quote(payment.pk)}/refund/").content.decode()
    assert "250.00 USD" in body and "500.00 USD" in body and 'value="250.00"' in body


@requires_processor_refunds
def test_support_refunds_part_of_a_payment_through_the_admin(api_client, sandbox, support):
    payment = sandbox_payment(api_client, amount=3_000)
    client = client_for(support)
    form = client.get(f"/admin/payments/payment/{quote(payment.pk)}/refund/").context["form"]
    response = client.post(
        f"/admin/payments/payment/{quote(payment.pk)}/refund/",
        {
            "amount": "12.00",
            "reason": "requested_by_customer",
            "note": "one item returned",
            "token": form.initial["token"],
        },
        follow=True,
    )
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount, refund.status, refund.requested_by) == (1_200, "succeeded", "staff:sam.support")
    assert any(f"Refund {refund.id} of 12.00 USD created: succeeded" in m for m in messages_of(response))
    payment.refresh_from_db()
    assert payment.amount_refunded == 1_200
    assert AuditEntry.objects.filter(action="staff.refund", object_id=payment.id, reason="one item returned").exists()
    # the page now lists the refund and the audit rows
    body = response.content.decode()
    assert refund.id in body and "refund.create" in body and "staff:sam.support" in body


@requires_processor_refunds
def test_support_above_the_threshold_makes_a_request_through_the_admin(api_client, sandbox, support):
    payment = sandbox_payment(api_client, amount=90_000)
    client = client_for(support)
    response = client.post(
        f"/admin/payments/payment/{quote(payment.pk)}/refund/",
        {
            "amount": "800",
            "reason": "fraudulent",
            "note": "card reported stolen",
            "token": "t-1",
        },
        follow=True,
    )
    request = RefundRequest.objects.get(payment=payment)
    assert (request.status, request.amount, request.requested_by) == ("pending", 80_000, support)
    assert Refund.objects.filter(payment=payment).count() == 0
    assert any("above the approval threshold of 500.00 USD" in m and request.id in m for m in messages_of(response))


def test_a_refused_refund_is_a_message_not_a_crash(merchant, support):
    payment = payment_row(merchant, status="failed", amount_captured=0)
    response = client_for(support).post(
        f"/admin/payments/payment/{quote(payment.pk)}/refund/",
        {
            "amount": "1.00",
            "reason": "duplicate",
            "note": "",
            "token": "t-2",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert any("only a succeeded payment can be refunded" in m for m in messages_of(response))


def test_finance_captures_an_authorised_payment_through_the_admin(api_client, sandbox, finance):
    payment = sandbox_payment(api_client, amount=4_000, capture_method="manual")
    assert payment.status == "requires_capture"
    response = client_for(finance).post(
        f"/admin/payments/payment/{quote(payment.pk)}/capture/", {"amount": "25"}, follow=True
    )
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == ("succeeded", 2_500)
    assert payment.transitions.filter(transition="capture", actor="staff:fay.finance").exists()
    assert any("is now succeeded" in m for m in messages_of(response))
    entry = AuditEntry.objects.get(object_type="payment", object_id=payment.pk, action="staff.capture")
    assert (entry.actor, entry.before["status"], entry.after["status"], entry.after["amount_captured"]) == (
        "staff:fay.finance",
        "requires_capture",
        "succeeded",
        2_500,
    )


def test_finance_cancels_an_authorised_payment_through_the_admin(api_client, sandbox, finance):
    payment = sandbox_payment(api_client, amount=4_000, capture_method="manual")
    client_for(finance).post(
        f"/admin/payments/payment/{quote(payment.pk)}/cancel/", {"reason": "requested_by_customer"}
    )
    payment.refresh_from_db()
    assert (payment.status, payment.cancellation_reason) == ("canceled", "requested_by_customer")
    assert payment.transitions.filter(transition="cancel", actor="staff:fay.finance").exists()
    entry = AuditEntry.objects.get(object_type="payment", object_id=payment.pk, action="staff.cancel")
    assert (entry.actor, entry.after["status"]) == ("staff:fay.finance", "canceled")
    assert entry.reason == "requested_by_customer"


# --- Refunds list ------------------------------------------------------------------------------------


def test_refunds_list_is_read_only_and_searchable_by_payment(merchant, support):
    payment = payment_row(merchant)
    refund = Refund.objects.create(
        payment=payment, merchant=merchant, amount=100, currency="USD", requested_by="api:key_1"
    )
    client = client_for(support)
    response = client.get("/admin/payments/refund/", {"q": payment.pk})
    assert [r.pk for r in response.context["cl"].result_list] == [refund.pk]
    assert client.get(f"/admin/payments/refund/{quote(refund.pk)}/change/").status_code == 200
    assert client.post(f"/admin/payments/refund/{quote(refund.pk)}/change/", {}).status_code == 403
    assert client.get("/admin/payments/refund/add/").status_code == 403
