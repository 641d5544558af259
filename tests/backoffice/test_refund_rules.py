"""Back-office refunds under the same rules as the API, decided under the payment's row lock (issue 11, 4 and 5).

- Maker-checker holds under concurrency: two Support users refunding 40 000 each at the same moment on a
  100 000 payment (threshold 50 000) give one refund and one request waiting for approval, never two refunds.
- A disputed payment or a returned bank transfer cannot be refunded: the service refuses with the API's
  400, no refund and no request is written, and the admin does not offer the Refund button.
"""

import importlib
import threading
import time

import pytest
from django.apps import apps as global_apps
from django.contrib.admin.utils import quote
from django.db import connection, transaction
from django.utils import timezone

from backoffice import services
from backoffice.models import RefundRequest
from core.errors import InvalidRequestError
from core.models import AuditEntry
from edge.exception_handler import error_answer
from gateways.base import Dispute as ProcessorDispute
from ledger import posting_rules
from payments import refund_services
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Payment, Refund
from tests.backoffice.conftest import (
    client_for,
    messages_of,
    payment_row,
    requires_processor_refunds,
    sandbox_payment,
)
from tests.conftest import requires_postgres
from tests.staff import staff_user

pytestmark = pytest.mark.django_db

groups_migration = importlib.import_module("backoffice.migrations.0002_staff_groups")


def refund_page(payment) -> str:
    return f"/admin/payments/payment/{quote(payment.pk)}/refund/"


def change_page(payment) -> str:
    return f"/admin/payments/payment/{quote(payment.pk)}/change/"


def disputed_row(merchant, status: str = "needs_response", **fields) -> Payment:
    """A succeeded card payment with a dispute, applied as the processor's webhook would be."""
    payment = payment_row(merchant, **fields)
    dispute_apply_processor_dispute(
        answer=ProcessorDispute(
            processor_id=f"dsp_{payment.id}",
            charge_id=payment.processor_charge_id,
            payment_reference=payment.id,
            amount=payment.amount_captured,
            currency=payment.currency,
            reason="fraudulent",
            status=status,
            evidence_due_by=int(time.time()) + 3600,
            evidence={},
        ),
        actor="test",
    )
    payment.refresh_from_db()
    return payment


def returned_row(merchant, amount: int = 80_000) -> Payment:
    """A settled bank transfer its bank returned (R01), with its ledger entries."""
    payment = payment_row(
        merchant,
        amount=amount,
        amount_captured=amount,
        payment_method_type="bank_transfer",
        card_brand="",
        card_last4="",
        card_exp_month=None,
        card_exp_year=None,
        bank_country="US",
        bank_last4="1116",
    )
    with transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(
            amount_returned=amount, return_code="R01", returned_at=timezone.now()
        )
        posting_rules.payment_returned(payment_id=payment.id, return_code="R01")
    payment.refresh_from_db()
    return payment


def nothing_written(payment) -> bool:
    payment.refresh_from_db()
    return (
        not Refund.objects.filter(payment=payment).exists()
        and not RefundRequest.objects.filter(payment=payment).exists()
        and payment.amount_refunded == 0
        and not AuditEntry.objects.filter(
            action__in=["staff.refund", "refund.create", "refund_request.create"]
        ).exists()
    )


# --- The service refuses, below and above the threshold -------------------------------------------


@pytest.mark.parametrize("amount", [10_000, 60_000], ids=["below-threshold", "above-threshold"])
def test_support_cannot_refund_a_disputed_payment(merchant, support, amount):
    payment = disputed_row(merchant, amount=80_000, amount_captured=80_000)
    with pytest.raises(InvalidRequestError) as error:
        services.staff_refund(payment=payment, amount=amount, reason="duplicate", note="", user=support)
    assert error.value.code == "payment_disputed" and error_answer(error.value).status == 400
    assert nothing_written(payment)


@pytest.mark.parametrize("amount", [10_000, 60_000, None], ids=["below-threshold", "above-threshold", "all"])
def test_support_cannot_refund_a_returned_transfer(merchant, support, amount):
    payment = returned_row(merchant)
    with pytest.raises(InvalidRequestError) as error:
        services.staff_refund(payment=payment, amount=amount, reason="duplicate", note="", user=support)
    assert error.value.code == "payment_returned" and error_answer(error.value).status == 400
    assert nothing_written(payment)


def test_approving_a_request_on_a_payment_disputed_since_fails_it(merchant, support, finance, monkeypatch):
    payment = payment_row(merchant, amount=80_000, amount_captured=80_000)
    request = services.staff_refund(payment=payment, amount=60_000, reason="fraudulent", note="", user=support).request
    dispute_apply_processor_dispute(
        answer=ProcessorDispute(
            processor_id="dsp_after_request",
            charge_id=payment.processor_charge_id,
            payment_reference=payment.id,
            amount=80_000,
            currency="USD",
            reason="fraudulent",
            status="needs_response",
            evidence_due_by=int(time.time()) + 3600,
            evidence={},
        ),
        actor="test",
    )
    monkeypatch.setattr(
        refund_services, "processor_outside_transaction", lambda: pytest.fail("the processor must not be called")
    )

    failed = services.refund_request_approve(request=request, user=finance, note="ok")

    assert failed.status == "failed" and failed.refund is None
    assert "dispute" in failed.failure_message
    assert not Refund.objects.exists()


# --- The admin: no Refund button, and a refusal when posted anyway ----------------------------------


@pytest.mark.parametrize("make", [disputed_row, returned_row], ids=["disputed", "returned"])
def test_the_admin_does_not_offer_refund_on_a_payment_that_cannot_be_refunded(merchant, support, make):
    payment = make(merchant)
    client = client_for(support)
    assert 'data-action="refund"' not in client.get(change_page(payment)).content.decode()
    # A refundable payment still has it.
    assert 'data-action="refund"' in client.get(change_page(payment_row(merchant))).content.decode()


@pytest.mark.parametrize(
    ("make", "says"), [(disputed_row, "dispute"), (returned_row, "returned")], ids=["disputed", "returned"]
)
def test_a_refund_posted_anyway_is_an_error_message_and_writes_nothing(merchant, support, make, says):
    payment = make(merchant)
    client = client_for(support)
    for amount in ("1.00", "600.00"):
        response = client.post(
            refund_page(payment),
            {"amount": amount, "reason": "duplicate", "note": "", "token": f"t-{amount}"},
            follow=True,
        )
        assert response.status_code == 200
        errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
        assert errors and says in errors[0], messages_of(response)
        assert nothing_written(payment)
    # Opening the form is refused the same way.
    response = client.get(refund_page(payment), follow=True)
    assert response.redirect_chain and any(says in m for m in messages_of(response))


# --- Maker-checker under concurrency --------------------------------------------------------------


@pytest.fixture
def two_support_users(transactional_db):
    """Two Support users; the groups again, as a transactional test before this one may have flushed them."""
    groups_migration.grant(global_apps, None)
    return staff_user("sam.support", "Support"), staff_user("sue.support", "Support")


@requires_postgres
@requires_processor_refunds
@pytest.mark.django_db(transaction=True)
def test_two_support_users_refunding_at_once_never_both_skip_approval(api_client, sandbox, two_support_users):
    threshold = services.refund_approval_threshold("USD")
    assert threshold == 50_000
    for round_number in range(3):
        payment_id = sandbox_payment(api_client, amount=100_000).id
        outcomes, barrier = [], threading.Barrier(2)

        def submit(user, payment_id=payment_id, barrier=barrier, outcomes=outcomes):
            try:
                payment = Payment.objects.select_related("merchant").get(pk=payment_id)
                barrier.wait()
                outcome = services.staff_refund(
                    payment=payment,
                    amount=40_000,
                    reason="requested_by_customer",
                    note=f"round {round_number}",
                    user=user,
                )
                outcomes.append("refund" if outcome.refund is not None else "request")
            except Exception as error:  # noqa: BLE001 - reported below
                outcomes.append(repr(error))
            finally:
                connection.close()

        threads = [threading.Thread(target=submit, args=(user,)) for user in two_support_users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["refund", "request"], f"round {round_number}: {outcomes}"
        payment = Payment.objects.get(pk=payment_id)
        assert payment.amount_refunded == 40_000
        assert Refund.objects.filter(payment=payment, status="succeeded").count() == 1
        assert RefundRequest.objects.filter(payment=payment, status="pending", amount=40_000).count() == 1
        assert services.staff_refunded_without_approval(payment) == 40_000
