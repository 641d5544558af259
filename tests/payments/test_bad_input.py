"""Every bad input is a 4xx in the contract's shape, and nothing is written."""

import json
import uuid

import pytest

from edge.models import IdempotencyKey
from payments.models import Payment
from tests.payments.helpers import error_of, post

GOOD = {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}}


def with_(**changes):
    body = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


CASES = [
    (with_(amount=19.99), "amount_invalid", "amount"),
    (with_(amount=1999.0), "amount_invalid", "amount"),
    (with_(amount="1999"), "amount_invalid", "amount"),
    (with_(amount=True), "amount_invalid", "amount"),
    (with_(amount=0), "amount_invalid", "amount"),
    (with_(amount=-5), "amount_invalid", "amount"),
    (with_(amount=100_000_000_000), "amount_invalid", "amount"),
    (with_(amount=None), "amount_invalid", "amount"),
    (with_(amount=...), "parameter_missing", "amount"),
    (with_(currency="XXX"), "currency_invalid", "currency"),
    (with_(currency="dollars"), "currency_invalid", "currency"),
    (with_(currency=840), "currency_invalid", "currency"),
    (with_(currency=...), "parameter_missing", "currency"),
    (with_(payment_method=...), "parameter_missing", "payment_method"),
    (with_(payment_method="tok_visa"), "parameter_invalid", "payment_method"),
    (with_(payment_method={"type": "cash", "token": "tok_visa"}), "parameter_invalid", "payment_method[type]"),
    (with_(payment_method={"type": "card"}), "parameter_missing", "payment_method[token]"),
    (with_(payment_method={"type": "card", "token": 42}), "parameter_invalid", "payment_method[token]"),
    (
        with_(payment_method={"type": "card", "token": "tok_visa", "cvc": "1"}),
        "parameter_unknown",
        "payment_method[cvc]",
    ),
    (with_(capture_method="later"), "parameter_invalid", "capture_method"),
    (with_(confirm="true"), "parameter_invalid", "confirm"),
    (with_(confirm=1), "parameter_invalid", "confirm"),
    (with_(metadata=["a"]), "metadata_invalid", "metadata"),
    (with_(metadata={"k": 1}), "metadata_invalid", "metadata"),
    (with_(metadata={"k": {"nested": "x"}}), "metadata_invalid", "metadata"),
    (with_(metadata={f"k{i}": "v" for i in range(51)}), "metadata_invalid", "metadata"),
    (with_(metadata={"k": "v" * 501}), "metadata_invalid", "metadata"),
    (with_(metadata={"k" * 41: "v"}), "metadata_invalid", "metadata"),
    (with_(description=5), "parameter_invalid", "description"),
    (with_(description="d" * 1001), "parameter_invalid", "description"),
    (with_(surprise="yes"), "parameter_unknown", "surprise"),
]


@pytest.mark.parametrize(("body", "code", "param"), CASES)
def test_bad_create_bodies_are_400_and_write_nothing(api_client, body, code, param):
    response = post(api_client, "/api/v1/payments", body)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert Payment.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "body_invalid"),
        ("[1, 2]", "application/json", 400, "body_invalid"),
        ('"just a string"', "application/json", 400, "body_invalid"),
        ("amount=1999", "application/x-www-form-urlencoded", 415, "content_type_invalid"),
    ],
)
def test_malformed_bodies(api_client, raw, content_type, status, code):
    response = api_client.generic(
        "POST", "/api/v1/payments", raw, content_type=content_type, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert response.status_code == status, response.content
    assert error_of(response)["code"] == code
    assert Payment.objects.count() == 0


def test_oversized_body_is_refused_before_anything(api_client):
    body = json.dumps(with_(description="x" * (1024 * 1024)))
    response = api_client.generic(
        "POST", "/api/v1/payments", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == 413
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0


def test_unknown_token_is_400_token_invalid_and_not_stored(api_client, sandbox):
    response = post(api_client, "/api/v1/payments", with_(payment_method={"type": "card", "token": "tok_nope"}))
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("token_invalid", "payment_method[token]")
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("path", ["capture", "cancel", "confirm"])
def test_bad_operation_bodies(api_client, merchant, path, sandbox):
    created = post(api_client, "/api/v1/payments", GOOD).json()
    body = {"amount": "10"} if path == "capture" else {"reason": "because"} if path == "cancel" else {"x": 1}
    response = post(api_client, f"/api/v1/payments/{created['id']}/{path}", body)
    assert response.status_code == 400
    assert Payment.objects.get().status == "requires_confirmation"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "status=nope", "created[gte]=yesterday", "starting_after=pay_x"]
)
def test_bad_list_parameters(api_client, query):
    response = api_client.get(f"/api/v1/payments?{query}")
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
