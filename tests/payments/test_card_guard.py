"""A card number in any field is refused before anything is stored or logged."""

import logging

import pytest

from core.models import IdempotencyKey
from payments.models import Payment
from tests.payments.helpers import error_of

pytestmark = pytest.mark.django_db

PAN = "4242424242424242"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": PAN}},
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "number": PAN}},
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"},
         "description": "card 4242 4242 4242 4242 exp 12/30"},
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"},
         "metadata": {"note": "4000-0000-0000-0002"}},
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"},
         "metadata": {"n": 4242424242424242}},
    ],
)  # fmt: skip
def test_card_numbers_are_refused_and_leave_no_trace(api_client, body, caplog):
    caplog.set_level(logging.DEBUG)
    response = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="pan-key")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "pan_not_allowed")
    assert PAN not in response.content.decode() and "4242 4242" not in response.content.decode()
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0
    logged = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert PAN not in logged and "4242 4242 4242 4242" not in logged and "4000-0000" not in logged


def test_card_number_in_the_query_string_or_key_is_refused(api_client):
    assert error_of(api_client.get(f"/api/v1/payments?q={PAN}"))["code"] == "pan_not_allowed"
    response = api_client.post("/api/v1/payments", {}, format="json", HTTP_IDEMPOTENCY_KEY=PAN)
    assert error_of(response)["code"] == "pan_not_allowed"
    assert IdempotencyKey.objects.count() == 0


def test_card_numbers_are_refused_even_without_a_key(client):
    response = client.post("/api/v1/payments", {"token": PAN}, content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "pan_not_allowed"


def test_numbers_that_are_not_card_numbers_pass(api_client, sandbox):
    body = {"amount": 99_999_999_999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"},
            "metadata": {"order": "4242424242424241", "phone": "+1 415 555 0100"}}  # fmt: skip
    response = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="ok")
    assert response.status_code == 201, response.content
