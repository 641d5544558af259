"""Fixtures for the back office: staff users in each group, their admin clients, and payments in any state."""

import itertools

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from gateways.registry import processor as processor_named
from ledger import posting_rules
from payments.models import Payment
from tests.payments.helpers import create_payment
from tests.staff import PASSWORD, client_for, staff_user  # noqa: F401 - re-exported to the tests

_numbers = itertools.count(1)


@pytest.fixture
def support(db):
    return staff_user("sam.support", "Support")


@pytest.fixture
def support2(db):
    return staff_user("sue.support", "Support")


@pytest.fixture
def finance(db):
    return staff_user("fay.finance", "Finance")


@pytest.fixture
def finance2(db):
    return staff_user("fred.finance", "Finance")


@pytest.fixture
def operations(db):
    return staff_user("olga.ops", "Operations")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


def payment_row(merchant, **fields) -> Payment:
    """A payment written straight to the database in any state, with its ledger entry (no processor involved)."""
    number = next(_numbers)
    values = {
        "amount": 10_000,
        "currency": "USD",
        "status": "succeeded",
        "amount_captured": fields.get("amount", 10_000),
        "card_token": f"tok_secret_{number:06d}",
        "card_brand": "visa",
        "card_last4": "4242",
        "card_exp_month": 12,
        "card_exp_year": 2030,
        "processor_charge_id": f"ch_fake_{number:06d}",
    }
    values.update(fields)
    with transaction.atomic():
        payment = Payment.objects.create(merchant=merchant, processor="sandbox", **values)
        if payment.status == "succeeded" and payment.amount_captured:
            posting_rules.payment_captured(
                payment_id=payment.id,
                merchant=merchant,
                amount_captured=payment.amount_captured,
                currency=payment.currency,
                authorized=False,
            )
        elif payment.status == "requires_capture":
            posting_rules.payment_authorized(
                payment_id=payment.id, merchant=merchant, amount=payment.amount, currency=payment.currency
            )
    return payment


def sandbox_payment(api_client, amount: int, token: str = "tok_visa", **fields) -> Payment:
    """A payment made through the real API against the sandbox processor."""
    response = create_payment(api_client, token, amount=amount, confirm=True, **fields)
    assert response.status_code == 201, response.content
    return Payment.objects.get(pk=response.json()["id"])


def processor_has(*operations: str) -> bool:
    return all(hasattr(processor_named("sandbox"), name) for name in operations)


requires_processor_refunds = pytest.mark.skipif(
    not processor_has("refund", "lookup_refund"), reason="the processor adapter has no refund API yet"
)
requires_processor_disputes = pytest.mark.skipif(
    not processor_has("open_dispute", "submit_dispute_evidence", "accept_dispute"),
    reason="the processor adapter has no dispute API yet",
)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
