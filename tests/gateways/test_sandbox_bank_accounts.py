"""Tokenising bank accounts: US (ABA routing number) and SEPA (IBAN), through the HTTP API and the adapter."""

import sqlite3

import pytest

from gateways.base import BankAccountDetails, ProcessorRequestRejected, ProcessorUnavailable
from gateways.sandbox_acquirer.client import SandboxProcessor

US = {"country": "US", "routing_number": "110000000", "account_number": "000123456789", "holder_name": "Jane Doe"}
DE = {"country": "DE", "iban": "DE89370400440532013000", "holder_name": "Erika Mustermann"}


def tokenise(live_sandbox, body: dict, **kwargs):
    return live_sandbox.request("POST", "/v1/bank_accounts", json=body, **kwargs)


def test_a_us_account_tokenises_to_its_facts_only(live_sandbox):
    answer = tokenise(live_sandbox, US)

    assert answer.status_code == 201, answer.text
    account = answer.json()
    assert account["id"].startswith("ba_") and account["object"] == "bank_account"
    assert (account["country"], account["last4"], account["bank_name"], account["behaviour"]) == (
        "US",
        "6789",
        "Sandbox Test Bank",
        "settle",
    )
    assert len(account["fingerprint"]) == 16
    assert not {"account_number", "routing_number", "iban", "holder_name"} & set(account)
    assert live_sandbox.request("GET", f"/v1/bank_accounts/{account['id']}").json() == account


def test_an_iban_tokenises_to_its_facts_only(live_sandbox):
    account = tokenise(live_sandbox, {**DE, "iban": "DE89 3704 0044 0532 0130 00"}).json()

    assert (account["country"], account["last4"], account["bank_name"], account["behaviour"]) == (
        "DE",
        "3000",
        "Commerzbank",
        "settle",
    )


@pytest.mark.parametrize(
    ("body", "behaviour"),
    [
        ({**US, "account_number": "000111111116"}, "return_r01"),
        ({**US, "account_number": "000111111113"}, "fail_r03"),
        ({**DE, "iban": "DE28370400440111111116"}, "return_r01"),
        ({**DE, "iban": "DE12370400440111111113"}, "fail_r03"),
        ({**DE, "country": "NL", "iban": "NL91ABNA0417164300"}, "settle"),
    ],
)
def test_test_accounts_carry_their_behaviour(live_sandbox, body, behaviour):
    answer = tokenise(live_sandbox, body)

    assert answer.status_code == 201, answer.text
    assert answer.json()["behaviour"] == behaviour


def test_the_fingerprint_is_the_same_for_the_same_account_and_differs_for_another(live_sandbox):
    first, second = tokenise(live_sandbox, US).json(), tokenise(live_sandbox, {**US, "holder_name": "J. Doe"}).json()
    other = tokenise(live_sandbox, {**US, "account_number": "000123456780"}).json()
    iban = tokenise(live_sandbox, DE).json()

    assert first["id"] != second["id"]
    assert first["fingerprint"] == second["fingerprint"]
    assert len({first["fingerprint"], other["fingerprint"], iban["fingerprint"]}) == 3


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**US, "routing_number": "110000001"}, "routing_number"),
        ({**US, "routing_number": "11000000"}, "routing_number"),
        ({**US, "account_number": "123"}, "account_number"),
        ({**US, "account_number": "1" * 18}, "account_number"),
        ({**US, "account_number": 123456789}, "account_number"),
        ({key: value for key, value in US.items() if key != "routing_number"}, "routing_number"),
        ({**US, "iban": "DE89370400440532013000"}, "iban"),
        ({**DE, "iban": "DE88370400440532013000"}, "iban"),
        ({**DE, "iban": "DE893704004405320130"}, "iban"),
        ({**DE, "country": "FR"}, "iban"),
        ({key: value for key, value in DE.items() if key != "iban"}, "iban"),
        ({**DE, "account_number": "000123456789"}, "account_number"),
        ({**DE, "country": "JP"}, "country"),
        ({**DE, "country": "de"}, "country"),
        ({**DE, "holder_name": " "}, "holder_name"),
        ({key: value for key, value in DE.items() if key != "holder_name"}, "holder_name"),
        ({**DE, "nickname": "x"}, "nickname"),
    ],
)
def test_bad_accounts_are_refused_with_the_param(live_sandbox, body, param):
    answer = tokenise(live_sandbox, body)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "bank_account_invalid", param)


def test_an_idempotency_key_replays_the_same_token(live_sandbox, new_key):
    key = new_key()
    first = tokenise(live_sandbox, US, idempotency_key=key)
    again = tokenise(live_sandbox, US, idempotency_key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert tokenise(live_sandbox, DE, idempotency_key=key).status_code == 422


def test_the_api_key_is_required(live_sandbox):
    answer = live_sandbox.session.post(f"{live_sandbox.base_url}/v1/bank_accounts", json=US, timeout=5)

    assert answer.status_code == 401


def test_no_account_number_or_iban_is_ever_stored(live_sandbox, new_key):
    accounts = ["000123456789", "000111111116", "000111111113", "987654321012"]
    ibans = ["DE89370400440532013000", "DE28370400440111111116", "NL45ABNA0111111116"]
    for account in accounts:
        assert tokenise(live_sandbox, {**US, "account_number": account}).status_code == 201
    for iban in ibans:
        assert tokenise(live_sandbox, {**DE, "country": iban[:2], "iban": iban}).status_code == 201
    # Through the idempotency store too, and through a charge on the account.
    keyed = tokenise(live_sandbox, {**US, "account_number": "555566667777"}, idempotency_key=new_key()).json()
    charged = live_sandbox.request(
        "POST",
        "/v1/charges",
        idempotency_key=new_key(),
        json={"amount": 100, "currency": "USD", "source": keyed["id"], "reference": "pay_bank_secret"},
    )
    assert charged.status_code == 201
    secrets = [*accounts, *ibans, "555566667777", "Jane Doe", "Erika Mustermann", "110000000"]

    with sqlite3.connect(live_sandbox.database_path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        dump = "\n".join(str(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))
    files = b"".join(path.read_bytes() for path in live_sandbox.database_path.parent.glob("sandbox.sqlite3*"))
    assert files, "the database files were not found"
    log = live_sandbox.log_text()
    for secret in secrets:
        assert secret not in dump, secret
        assert secret.encode() not in files, secret
        assert secret not in log, secret
    assert "7777" in dump and "6789" in dump  # the last four are kept, which this test would otherwise miss


def test_the_adapter_tokenises_a_us_account_and_an_iban(adapter):
    us = adapter.tokenize_bank_account(
        country="US", holder_name="Jane Doe", routing_number="110000000", account_number="000123456789"
    )
    sepa = adapter.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE89370400440532013000")

    assert isinstance(us, BankAccountDetails) and us.processor_id.startswith("ba_")
    assert (us.country, us.last4, us.bank_name, len(us.fingerprint)) == ("US", "6789", "Sandbox Test Bank", 16)
    assert (sepa.country, sepa.last4, sepa.bank_name) == ("DE", "3000", "Commerzbank")
    again = adapter.tokenize_bank_account(country="DE", holder_name="E. M.", iban="DE89 3704 0044 0532 0130 00")
    assert again.fingerprint == sepa.fingerprint and again.processor_id != sepa.processor_id


def test_the_adapter_rejects_a_bad_account_with_its_code_and_param(adapter):
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE88370400440532013000")

    assert (caught.value.code, caught.value.param, caught.value.status_code) == ("bank_account_invalid", "iban", 400)
    assert not isinstance(caught.value, ProcessorUnavailable)


def test_the_adapter_reports_an_unreachable_processor_as_unavailable(live_sandbox):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = SandboxProcessor(base_url=f"http://127.0.0.1:{port}", connect_timeout=0.5, read_timeout=0.5)

    with pytest.raises(ProcessorUnavailable):
        nowhere.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE89370400440532013000")
