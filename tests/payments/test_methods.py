"""Payment methods are a registry (payments.methods): each method's module holds its input, its tokenisation,
the columns it fills and what the API shows of it."""

import pytest

from payments.methods import PAYMENT_METHODS, ResolvedPaymentMethod, payment_method
from payments.models import Payment
from payments.representations import payment_representation
from payments.services import payment_create

PAYMENT_COLUMNS = {field.name for field in Payment._meta.get_fields()}


def test_every_method_names_its_own_columns_of_payment():
    assert list(PAYMENT_METHODS) == ["card", "bank_transfer", "wallet"]
    seen: set[str] = set()
    for method in PAYMENT_METHODS.values():
        assert set(method.columns) <= PAYMENT_COLUMNS, method.type
        assert not seen & set(method.columns), f"{method.type} shares a column"
        seen |= set(method.columns)
    assert len({method.input_name for method in PAYMENT_METHODS.values()}) == len(PAYMENT_METHODS)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resolved, shown",
    [
        (
            ResolvedPaymentMethod(
                type="card",
                token="tok_visa",
                columns={"card_brand": "visa", "card_last4": "4242", "card_exp_month": 12, "card_exp_year": 2030},
            ),
            {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        ),
        (
            ResolvedPaymentMethod(
                type="bank_transfer",
                token="ba_1",
                columns={"bank_country": "US", "bank_last4": "6789", "bank_fingerprint": "fp", "bank_name": None},
            ),
            {"country": "US", "last4": "6789", "fingerprint": "fp", "bank_name": None},
        ),
        (
            ResolvedPaymentMethod(type="wallet", token="wallet_sandboxpay", columns={"wallet_provider": "sandboxpay"}),
            {"provider": "sandboxpay"},
        ),
    ],
)
def test_a_payment_stores_and_shows_what_its_method_resolved(merchant, resolved, shown):
    payment = payment_create(merchant=merchant, amount=100, currency="USD", payment_method=resolved).payment
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.payment_method_type, stored.card_token) == (resolved.type, resolved.token)
    assert {column: getattr(stored, column) for column in payment_method(resolved.type).columns} == resolved.columns
    assert payment_representation(stored)["payment_method"] == {"type": resolved.type, resolved.type: shown}


def test_a_method_that_cannot_be_captured_manually_is_refused_so(api_client):
    from tests.payments.helpers import error_of, post

    body = {
        "amount": 100,
        "currency": "USD",
        "capture_method": "manual",
        "payment_method": {
            "type": "bank_transfer",
            "bank_account": {
                "country": "US",
                "routing_number": "110000000",
                "account_number": "000123456789",
                "holder_name": "J",
            },
        },
    }
    response = post(api_client, "/api/v1/payments", body)
    assert response.status_code == 400
    assert error_of(response)["param"] == "capture_method"
    assert error_of(response)["message"].endswith("Bank transfers are captured automatically.")
