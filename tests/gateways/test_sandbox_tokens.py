"""Tokens and test cards of the sandbox processor, through its HTTP API and the platform's adapter."""

import sqlite3

import pytest

from gateways.base import CardDeclined, CardDetails, ProcessorUnavailable, TokenInvalid

FIXED_TOKENS = {
    "tok_visa": (CardDetails("visa", "4242", 12, 2030), "approve"),
    "tok_mastercard": (CardDetails("mastercard", "4444", 12, 2030), "approve"),
    "tok_chargeDeclined": (CardDetails("visa", "0002", 12, 2030), "generic_decline"),
    "tok_insufficientFunds": (CardDetails("visa", "9995", 12, 2030), "insufficient_funds"),
    "tok_processingError": (CardDetails("visa", "0119", 12, 2030), "processing_error"),
    "tok_timeout": (CardDetails("visa", "0408", 12, 2030), "timeout"),
    "tok_createDispute": (CardDetails("visa", "0259", 12, 2030), "create_dispute"),
    "tok_refundFailure": (CardDetails("visa", "5126", 12, 2030), "refund_failure"),
}

TEST_CARDS = {
    "4242424242424242": ("visa", "approve"),
    "5555555555554444": ("mastercard", "approve"),
    "4000000000000002": ("visa", "generic_decline"),
    "4000000000009995": ("visa", "insufficient_funds"),
    "4000000000000119": ("visa", "processing_error"),
    "4000000000000408": ("visa", "timeout"),
    "4000000000000259": ("visa", "create_dispute"),
    "4000000000005126": ("visa", "refund_failure"),
}


def tokenise(live_sandbox, number: str, **overrides):
    body = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123", **overrides}
    return live_sandbox.request("POST", "/v1/tokens", json=body)


@pytest.mark.parametrize("token", sorted(FIXED_TOKENS))
def test_fixed_tokens_exist_without_tokenisation(adapter, live_sandbox, token):
    card, behaviour = FIXED_TOKENS[token]

    assert adapter.retrieve_token(token) == card
    answer = live_sandbox.request("GET", f"/v1/tokens/{token}")
    assert answer.status_code == 200
    assert answer.json()["behaviour"] == behaviour


def test_an_unknown_token_is_token_invalid(adapter):
    with pytest.raises(TokenInvalid):
        adapter.retrieve_token("tok_doesNotExist")


@pytest.mark.parametrize("number", sorted(TEST_CARDS))
def test_each_test_card_tokenises_to_its_behaviour(adapter, live_sandbox, number, new_key, reference):
    brand, behaviour = TEST_CARDS[number]

    answer = tokenise(live_sandbox, number)

    assert answer.status_code == 201, answer.text
    token = answer.json()
    assert token["object"] == "token" and token["id"].startswith("tok_")
    assert token["card"] == {"brand": brand, "last4": number[-4:], "exp_month": 12, "exp_year": 2030}
    assert token["behaviour"] == behaviour
    assert adapter.retrieve_token(token["id"]) == CardDetails(brand, number[-4:], 12, 2030)


@pytest.mark.parametrize(
    ("number", "behaviour", "outcome"),
    [
        ("4242424242424242", "approve", "captured"),
        ("4000000000000002", "generic_decline", CardDeclined),
        ("4000000000009995", "insufficient_funds", CardDeclined),
        ("4000000000000119", "processing_error", ProcessorUnavailable),
        ("4000000000000259", "create_dispute", "captured"),
        ("4000000000005126", "refund_failure", "captured"),
    ],
)
def test_a_tokenised_test_card_charges_like_its_fixed_token(adapter, live_sandbox, number, behaviour, outcome, new_key):
    token = tokenise(live_sandbox, number).json()["id"]
    call = {"reference": "pay_card", "amount": 500, "currency": "USD", "token": token, "capture": True}

    if isinstance(outcome, str):
        assert adapter.authorize(**call, idempotency_key=new_key()).status == outcome
    else:
        with pytest.raises(outcome) as caught:
            adapter.authorize(**call, idempotency_key=new_key())
        if outcome is CardDeclined:
            assert caught.value.decline_code == behaviour


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("378282246310005", "amex"),
        ("2221000000000009", "mastercard"),
        ("5105105105105100", "mastercard"),
        ("6011111111111117", "unknown"),
        ("4111111111111111", "visa"),
    ],
)
def test_other_luhn_valid_numbers_approve_with_the_brand_of_their_prefix(live_sandbox, number, brand):
    token = tokenise(live_sandbox, number, cvc="1234").json()

    assert token["card"]["brand"] == brand
    assert token["behaviour"] == "approve"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"number": "4242424242424241"}, "card_number_invalid"),
        ({"number": "42424242"}, "card_number_invalid"),
        ({"number": 4242424242424242}, "card_number_invalid"),
        ({"exp_year": 2020}, "expiry_invalid"),
        ({"exp_month": 13}, "expiry_invalid"),
        ({"cvc": "12"}, "cvc_invalid"),
        ({"cvc": "12345"}, "cvc_invalid"),
        ({"cvc": 123}, "cvc_invalid"),
        ({"pin": "0000"}, "parameter_unknown"),
    ],
)
def test_invalid_cards_are_refused(live_sandbox, overrides, code):
    answer = tokenise(live_sandbox, overrides.pop("number", "4242424242424242"), **overrides)

    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert answer.json()["error"]["code"] == code


def test_requests_without_the_api_key_are_refused(live_sandbox):
    answer = live_sandbox.session.get(
        f"{live_sandbox.base_url}/v1/tokens/tok_visa", headers={"Authorization": "Bearer nope"}
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"


def test_a_card_number_is_never_stored(live_sandbox):
    numbers = [*TEST_CARDS, "378282246310005", "6011111111111117"]
    for number in numbers:
        assert tokenise(live_sandbox, number).status_code == 201
    # Through the idempotency store too: a token created under a key.
    answer = live_sandbox.request(
        "POST",
        "/v1/tokens",
        idempotency_key="token-key-1",
        json={"number": "4242424242424242", "exp_month": 1, "exp_year": 2031, "cvc": "999"},
    )
    assert answer.status_code == 201

    with sqlite3.connect(live_sandbox.database_path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dump = "\n".join(str(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))
    files = b"".join(path.read_bytes() for path in live_sandbox.database_path.parent.glob("sandbox.sqlite3*"))
    assert files, "the database files were not found"
    log = live_sandbox.log_text()
    for number in numbers:
        assert number not in dump
        assert number.encode() not in files
        assert number not in log
    assert "4242" in dump  # the last four digits are kept, which is what this test would otherwise miss
