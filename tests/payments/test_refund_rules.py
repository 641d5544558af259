"""The refund rules, checked in one place under the payment's row lock, before the processor is called.

A refund that cannot succeed is refused with a 400 and writes nothing: on a payment with an open or lost
dispute (``payment_disputed``) and on a bank transfer its bank returned (``payment_returned``). Issue 11,
item 5: both used to answer 201 with a refund the processor then failed.
"""

import dataclasses
import time

import pytest

from core.errors import InvalidRequestError
from gateways.base import Charge
from gateways.base import Dispute as ProcessorDispute
from ledger.models import JournalEntry
from payments import refund_services
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Payment, Refund
from payments.services import payment_apply_charge
from tests.payments.helpers import create_payment, error_of, post

pytestmark = pytest.mark.django_db

# The sandbox's account that settles and is then returned (R01), as in test_bank_transfers.
US_RETURNED = {
    "country": "US",
    "routing_number": "110000000",
    "account_number": "000111111116",
    "holder_name": "Jane Doe",
}


@pytest.fixture
def processor_refunds(monkeypatch):
    """Every ``refund`` call the refund services make to the processor, recorded and passed through."""
    calls = []
    real = refund_services.processor_outside_transaction

    class Spy:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def refund(self, **kwargs):
            calls.append(kwargs)
            return self._inner.refund(**kwargs)

    monkeypatch.setattr(refund_services, "processor_outside_transaction", lambda: Spy(real()))
    return calls


def refund(client, payment_id, **body):
    return post(client, "/api/v1/refunds", {"payment": payment_id, **body})


def disputed_payment(api_client, processor, amount: int = 6000) -> Payment:
    """A card payment the processor disputed (``needs_response``), applied as its webhook would be."""
    body = create_payment(api_client, amount=amount, confirm=True).json()
    payment = Payment.objects.get(pk=body["id"])
    answer = processor.open_dispute(processor_charge_id=payment.processor_charge_id, reason="fraudulent")
    dispute = dispute_apply_processor_dispute(answer=answer, actor="test")
    assert dispute.status == "needs_response"
    payment.refresh_from_db()
    assert payment.disputed
    return payment


def returned_transfer(api_client, amount: int = 3000) -> Payment:
    """A bank transfer that settled and was then returned by the customer's bank (R01)."""
    body = post(
        api_client,
        "/api/v1/payments",
        {
            "amount": amount,
            "currency": "USD",
            "confirm": True,
            "payment_method": {"type": "bank_transfer", "bank_account": US_RETURNED},
        },
    ).json()
    pending = Payment.objects.get(pk=body["id"])
    returned = Charge(
        processor_id=pending.processor_charge_id,
        reference=pending.id,
        amount=amount,
        currency="USD",
        decline_code=None,
        failure_message=None,
        card=None,
        status="returned",
        amount_captured=amount,
        return_code="R01",
    )
    payment = payment_apply_charge(payment_id=pending.id, charge=returned, actor="test")
    assert (payment.status, payment.amount_returned, payment.returned) == ("succeeded", amount, True)
    return payment


# --- Through the API, against the sandbox ---------------------------------------------------------


def test_a_refund_of_a_disputed_payment_is_refused_before_the_processor(
    api_client, sandbox, processor, processor_refunds
):
    payment = disputed_payment(api_client, processor)
    entries_before = JournalEntry.objects.count()

    response = refund(api_client, payment.id, amount=1000)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payment_disputed")
    assert "dispute" in error["message"]
    assert not Refund.objects.exists()
    assert processor_refunds == []
    payment.refresh_from_db()
    assert payment.amount_refunded == 0
    assert JournalEntry.objects.count() == entries_before


def test_a_full_refund_of_a_disputed_payment_is_refused_too(api_client, sandbox, processor, processor_refunds):
    payment = disputed_payment(api_client, processor)
    response = refund(api_client, payment.id)
    assert response.status_code == 400 and error_of(response)["code"] == "payment_disputed"
    assert not Refund.objects.exists() and processor_refunds == []


def test_a_refund_of_a_returned_bank_transfer_is_refused(api_client, sandbox, processor_refunds):
    payment = returned_transfer(api_client)
    entries_before = JournalEntry.objects.count()

    response = refund(api_client, payment.id, amount=500)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payment_returned")
    assert "returned" in error["message"]
    assert not Refund.objects.exists()
    assert processor_refunds == []
    payment.refresh_from_db()
    assert payment.amount_refunded == 0
    assert JournalEntry.objects.count() == entries_before
    # The whole of it, too.
    assert error_of(refund(api_client, payment.id))["code"] == "payment_returned"
    assert not Refund.objects.exists()


# --- Which disputes block a refund -------------------------------------------------------------


def _dispute_answer(payment: Payment, status: str) -> ProcessorDispute:
    return ProcessorDispute(
        processor_id=f"dsp_{payment.id}",
        charge_id=payment.processor_charge_id or "ch_x",
        payment_reference=payment.id,
        amount=payment.amount_captured,
        currency=payment.currency,
        reason="fraudulent",
        evidence_due_by=int(time.time()) + 3600,
        evidence={},
        status=status,
    )


def _succeeded(api_client, amount: int = 4000) -> Payment:
    return Payment.objects.get(pk=create_payment(api_client, amount=amount, confirm=True).json()["id"])


@pytest.mark.parametrize(
    ("status", "blocks"), [("needs_response", True), ("under_review", True), ("lost", True), ("won", False)]
)
def test_open_and_lost_disputes_block_a_refund_a_won_one_does_not(api_client, sandbox, status, blocks):
    payment = _succeeded(api_client)
    answer = _dispute_answer(payment, "needs_response")
    dispute_apply_processor_dispute(answer=answer, actor="test")
    if status != "needs_response":
        dispute_apply_processor_dispute(answer=dataclasses.replace(answer, status=status), actor="test")
    payment.refresh_from_db()

    refusal = refund_services.refund_refusal(payment)

    if blocks:
        assert isinstance(refusal, InvalidRequestError) and refusal.code == "payment_disputed"
        with pytest.raises(InvalidRequestError) as error:
            refund_services.refund_create(
                merchant=payment.merchant, payment=payment, amount=100, reason=None, actor="test"
            )
        assert error.value.code == "payment_disputed"
        assert not Refund.objects.exists()
    else:
        assert refusal is None


def test_the_refusal_says_what_is_wrong_for_every_rule(api_client, sandbox):
    payment = _succeeded(api_client, amount=2000)
    assert refund_services.refund_refusal(payment) is None
    refund_services.refund_create(merchant=payment.merchant, payment=payment, amount=None, reason=None, actor="test")
    payment.refresh_from_db()
    assert refund_services.refund_refusal(payment).code == "refund_exceeds_captured"
    authorized = Payment.objects.get(pk=create_payment(api_client, capture_method="manual", confirm=True).json()["id"])
    assert refund_services.refund_refusal(authorized).code == "payment_unexpected_state"
