"""How the adapter turns every kind of answer into the types of gateways.base (against a scripted server)."""

import datetime
import gzip
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateways.base import (
    BankAccountDetails,
    CardDeclined,
    Dispute,
    ProcessorError,
    ProcessorNotReached,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    Refund,
    SettlementLine,
    TokenInvalid,
)
from gateways.registry import processor as processor_named
from gateways.sandbox_acquirer.client import SandboxProcessor
from gateways.sandbox_acquirer.webhooks import signature_header
from tests.processes import free_port
from tests.processors import configure_processor


class ScriptedServer:
    """Answers every request with ``self.answer`` = (status, body bytes, delay seconds[, headers]); records the
    requests. A status of None closes the connection without an answer, once the request has been read."""

    def __init__(self):
        self.answer = (200, b"{}", 0.0)
        self.requests: list[dict] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                scripted.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, payload, delay, *extra = scripted.answer
                time.sleep(delay)
                if status is None:
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _respond

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def scripted():
    server = ScriptedServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def client(scripted):
    return SandboxProcessor(base_url=scripted.url, api_key="sk_test_key", connect_timeout=1, read_timeout=0.5)


CHARGE = {
    "id": "ch_1",
    "object": "charge",
    "reference": "pay_1",
    "amount": 100,
    "currency": "USD",
    "status": "declined",
    "amount_captured": 0,
    "decline_code": "insufficient_funds",
    "failure_message": "No money.",
    "card": {"brand": "visa", "last4": "9995", "exp_month": 12, "exp_year": 2030},
}


def authorize(client):
    return client.authorize(
        reference="pay_1", amount=100, currency="USD", token="tok_visa", capture=False, idempotency_key="key-1"
    )


def error(code: str, **extra) -> bytes:
    return json.dumps({"error": {"type": "x", "code": code, "message": f"{code}!"}, **extra}).encode()


def test_a_charge_call_carries_the_key_the_api_key_and_the_json_body(scripted, client):
    scripted.answer = (201, json.dumps({**CHARGE, "status": "authorized", "decline_code": None}).encode(), 0)

    charge = authorize(client)

    sent = scripted.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/charges")
    assert sent["headers"]["Authorization"] == "Bearer sk_test_key"
    assert sent["headers"]["Idempotency-Key"] == "key-1"
    assert json.loads(sent["body"]) == {
        "amount": 100,
        "currency": "USD",
        "source": "tok_visa",
        "capture": False,
        "reference": "pay_1",
    }
    assert charge.status == "authorized"


def test_the_processor_is_reached_at_its_url_whatever_proxy_the_environment_names(scripted, client, monkeypatch):
    # Nothing listens on the discard port: a session that read HTTP_PROXY would fail to connect.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    scripted.answer = (201, json.dumps({**CHARGE, "status": "authorized", "decline_code": None}).encode(), 0)

    assert authorize(client).processor_id == "ch_1"
    assert scripted.requests[-1]["path"] == "/v1/charges"


def test_402_is_card_declined_with_the_charge(scripted, client):
    scripted.answer = (402, error("card_declined", charge=CHARGE).replace(b'"x"', b'"card_error"'), 0)

    with pytest.raises(CardDeclined) as caught:
        authorize(client)

    assert caught.value.charge.processor_id == "ch_1"
    assert caught.value.charge.status == "declined"
    assert caught.value.decline_code == "insufficient_funds"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, error("processing_error")),
        (502, b"<html>Bad gateway</html>"),
        (503, b""),
        (409, error("idempotency_key_in_use")),
        (429, error("rate_limit")),
        (201, b"not json"),
        (201, b'{"id": "ch_1"}'),
        (402, error("card_declined")),
        (302, b""),
    ],
)
def test_answers_that_leave_the_outcome_unknown_are_unavailable(scripted, client, status, body):
    scripted.answer = (status, body, 0)

    with pytest.raises(ProcessorUnavailable) as caught:
        authorize(client)

    assert not isinstance(caught.value, ProcessorRequestRejected)


def test_a_read_timeout_is_unavailable(scripted, client):
    scripted.answer = (201, json.dumps(CHARGE).encode(), 1.0)
    sent_before = len(scripted.requests)

    with pytest.raises(ProcessorUnavailable) as caught:
        authorize(client)

    # The request left: the charge may exist, so it is neither "not reached" nor sent again.
    assert not isinstance(caught.value, ProcessorNotReached)
    assert len(scripted.requests) == sent_before + 1


def test_a_refused_connection_is_not_reached():
    nowhere = SandboxProcessor(base_url=f"http://127.0.0.1:{free_port()}", connect_timeout=0.5, read_timeout=0.5)

    with pytest.raises(ProcessorNotReached, match="could not be reached"):
        authorize(nowhere)
    with pytest.raises(ProcessorNotReached):
        nowhere.lookup(idempotency_key="k")
    with pytest.raises(ProcessorNotReached):
        nowhere.health()


def test_a_connection_closed_after_the_request_left_is_unavailable_and_not_sent_again(scripted, client):
    scripted.answer = (None, b"", 0)
    sent_before = len(scripted.requests)

    with pytest.raises(ProcessorUnavailable) as caught:
        authorize(client)
    with pytest.raises(ProcessorUnavailable) as caught_health:
        client.health()

    assert not isinstance(caught.value, ProcessorNotReached)
    assert not isinstance(caught_health.value, ProcessorNotReached)
    assert "connection to the processor failed" in caught.value.message
    assert len(scripted.requests) == sent_before + 2


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed(scripted, client, status):
    scripted.answer = (status, b"", 0, {"Location": "/v1/elsewhere"})
    sent_before = len(scripted.requests)

    with pytest.raises(ProcessorUnavailable) as caught:
        authorize(client)

    assert caught.value.status_code == status
    assert [sent["path"] for sent in scripted.requests[sent_before:]] == ["/v1/charges"]


def test_a_503_with_retry_after_is_unavailable_and_not_sent_again(scripted, client):
    scripted.answer = (503, error("unavailable"), 0, {"Retry-After": "1"})
    sent_before = len(scripted.requests)

    with pytest.raises(ProcessorUnavailable) as caught:
        authorize(client)

    assert not isinstance(caught.value, ProcessorRequestRejected)
    assert len(scripted.requests) == sent_before + 1


def test_the_wire_form_of_a_call(scripted, client):
    scripted.answer = (200, b'{"object": "list", "data": []}', 0)

    assert client.lookup(idempotency_key="k 1&x=\u00fc/") is None
    sent = scripted.requests[-1]
    assert sent["path"] == "/v1/charges?idempotency_key=k+1%26x%3D%C3%BC%2F"
    assert (sent["headers"]["Accept"], sent["headers"]["Authorization"]) == ("application/json", "Bearer sk_test_key")
    assert "Idempotency-Key" not in sent["headers"] and "Content-Type" not in sent["headers"]

    scripted.answer = (201, json.dumps({**CHARGE, "status": "authorized", "decline_code": None}).encode(), 0)
    client.void(processor_id="ch_1/x", idempotency_key="key-v")
    sent = scripted.requests[-1]
    assert (sent["path"], sent["body"], sent["headers"]["Content-Type"]) == (
        "/v1/charges/ch_1%2Fx/void",
        b"{}",
        "application/json",
    )
    authorize(client)
    assert scripted.requests[-1]["body"] == (
        b'{"amount": 100, "currency": "USD", "source": "tok_visa", "capture": false, "reference": "pay_1"}'
    )


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "caf\ufffd"),  # undecodable bytes are replaced, the refusal still read
        ("application/json; charset=latin-1", "caf\u00e9"),
        (None, "caf\ufffd"),
    ],
)
def test_an_answer_is_decoded_with_its_charset(scripted, client, content_type, message):
    body = json.dumps({"error": {"code": "amount_invalid", "message": "caf!"}}).encode().replace(b"!", b"\xe9")
    scripted.answer = (400, body, 0, {"Content-Type": content_type} if content_type else {})

    with pytest.raises(ProcessorRequestRejected) as caught:
        authorize(client)

    assert (caught.value.code, caught.value.message) == ("amount_invalid", message)


def test_a_compressed_answer_is_read(scripted, client):
    body = gzip.compress(json.dumps({**CHARGE, "status": "authorized", "decline_code": None}).encode())
    scripted.answer = (201, body, 0, {"Content-Type": "application/json", "Content-Encoding": "gzip"})

    assert authorize(client).status == "authorized"
    assert "gzip" in scripted.requests[-1]["headers"]["Accept-Encoding"]


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (400, error("token_invalid"), TokenInvalid, "token_invalid"),
        (400, error("amount_invalid"), ProcessorRequestRejected, "amount_invalid"),
        (422, error("idempotency_key_reused"), ProcessorRequestRejected, "idempotency_key_reused"),
        (401, error("api_key_invalid"), ProcessorRequestRejected, "api_key_invalid"),
        (404, error("resource_missing"), ProcessorRequestRejected, "resource_missing"),
    ],
)
def test_definite_refusals_are_rejected_with_their_code(scripted, client, status, body, kind, code):
    scripted.answer = (status, body, 0)

    with pytest.raises(kind) as caught:
        authorize(client)

    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.status_code) == (code, status)
    assert caught.value.message == f"{code}!"


def test_a_missing_token_is_token_invalid(scripted, client):
    scripted.answer = (404, error("resource_missing"), 0)

    with pytest.raises(TokenInvalid):
        client.retrieve_token("tok_gone")


def test_a_refused_lookup_says_nothing_about_the_charge(scripted, client):
    scripted.answer = (400, error("bad"), 0)

    with pytest.raises(ProcessorUnavailable):
        client.lookup(idempotency_key="k")


def test_the_exceptions_form_one_hierarchy():
    assert issubclass(ProcessorUnavailable, ProcessorError)
    assert issubclass(ProcessorRequestRejected, ProcessorError)
    assert issubclass(TokenInvalid, ProcessorRequestRejected)
    assert issubclass(CardDeclined, ProcessorError)


def test_the_registry_returns_one_cached_sandbox_adapter_that_follows_settings(settings):
    configure_processor(settings, base_url="http://127.0.0.1:1/")

    adapter = processor_named("sandbox")

    assert adapter is processor_named("sandbox")
    assert isinstance(adapter, SandboxProcessor)
    assert adapter.base_url == "http://127.0.0.1:1"
    assert adapter.api_key == settings.PROCESSORS["sandbox"]["api_key"]


# --- refunds, disputes and settlement reports ------------------------------------------

REFUND = {
    "id": "rf_1",
    "object": "refund",
    "charge": "ch_1",
    "reference": "re_1",
    "amount": 40,
    "currency": "USD",
    "status": "pending",
    "failure_reason": None,
    "idempotency_key": "key-r",
    "created": 1_700_000_000,
}
DISPUTE = {
    "id": "dsp_1",
    "object": "dispute",
    "charge": "ch_1",
    "reference": "pay_1",
    "amount": 100,
    "currency": "USD",
    "reason": "fraudulent",
    "status": "under_review",
    "evidence_due_by": 1_700_600_000,
    "evidence": {"refund_policy": "30 days"},
    "created": 1_700_000_000,
}


def refund(client):
    return client.refund(processor_charge_id="ch_1", amount=40, reference="re_1", idempotency_key="key-r")


def test_a_refund_call_carries_the_key_and_its_body(scripted, client):
    scripted.answer = (201, json.dumps(REFUND).encode(), 0)

    answered = refund(client)

    sent = scripted.requests[-1]
    assert (sent["method"], sent["path"], sent["headers"]["Idempotency-Key"]) == ("POST", "/v1/refunds", "key-r")
    assert json.loads(sent["body"]) == {"charge": "ch_1", "amount": 40, "reference": "re_1"}
    assert answered == Refund("rf_1", "ch_1", "re_1", 40, "USD", "pending", None)


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, error("processing_error")), (409, error("idempotency_key_in_use")), (201, b"{}"), (200, b"nope")],
)
def test_a_refund_whose_outcome_is_unknown_is_unavailable(scripted, client, status, body):
    scripted.answer = (status, body, 0)

    with pytest.raises(ProcessorUnavailable) as caught:
        refund(client)

    assert not isinstance(caught.value, ProcessorRequestRejected)


def test_a_refund_timeout_is_unavailable(scripted, client):
    scripted.answer = (201, json.dumps(REFUND).encode(), 1.0)

    with pytest.raises(ProcessorUnavailable):
        refund(client)


@pytest.mark.parametrize("code", ["amount_too_large", "charge_unexpected_state", "charge_disputed"])
def test_a_refused_refund_is_rejected_with_its_code(scripted, client, code):
    scripted.answer = (400, error(code), 0)

    with pytest.raises(ProcessorRequestRejected) as caught:
        refund(client)

    assert caught.value.code == code


def test_lookup_refund_asks_by_key_and_says_none_for_an_empty_list(scripted, client):
    scripted.answer = (200, json.dumps({"object": "list", "data": [REFUND]}).encode(), 0)
    assert client.lookup_refund(idempotency_key="key-r").processor_id == "rf_1"
    assert scripted.requests[-1]["path"] == "/v1/refunds?idempotency_key=key-r"

    scripted.answer = (200, b'{"object": "list", "data": []}', 0)
    assert client.lookup_refund(idempotency_key="key-r") is None

    scripted.answer = (400, error("bad"), 0)
    with pytest.raises(ProcessorUnavailable):
        client.lookup_refund(idempotency_key="key-r")


def test_dispute_calls_go_to_their_paths(scripted, client):
    scripted.answer = (200, json.dumps(DISPUTE).encode(), 0)
    expected = Dispute(
        "dsp_1", "ch_1", "pay_1", 100, "USD", "fraudulent", "under_review", 1_700_600_000, {"refund_policy": "30 days"}
    )

    assert client.retrieve_dispute(processor_dispute_id="dsp_1") == expected
    assert (scripted.requests[-1]["method"], scripted.requests[-1]["path"]) == ("GET", "/v1/disputes/dsp_1")
    client.submit_dispute_evidence(processor_dispute_id="dsp_1", evidence={"refund_policy": "x"}, idempotency_key="e")
    sent = scripted.requests[-1]
    assert (sent["path"], sent["headers"]["Idempotency-Key"], json.loads(sent["body"])) == (
        "/v1/disputes/dsp_1/evidence",
        "e",
        {"refund_policy": "x"},
    )
    client.accept_dispute(processor_dispute_id="dsp_1", idempotency_key="a")
    assert (scripted.requests[-1]["path"], scripted.requests[-1]["headers"]["Idempotency-Key"]) == (
        "/v1/disputes/dsp_1/close",
        "a",
    )
    client.open_dispute(processor_charge_id="ch_1", amount=50)
    assert json.loads(scripted.requests[-1]["body"]) == {"charge": "ch_1", "reason": "general", "amount": 50}

    scripted.answer = (400, error("dispute_unexpected_state"), 0)
    with pytest.raises(ProcessorRequestRejected) as caught:
        client.accept_dispute(processor_dispute_id="dsp_1", idempotency_key="a")
    assert caught.value.code == "dispute_unexpected_state"
    scripted.answer = (200, b'{"id": "dsp_1"}', 0)
    with pytest.raises(ProcessorUnavailable):
        client.retrieve_dispute(processor_dispute_id="dsp_1")


def test_the_settlement_report_is_read_from_the_csv_answer(scripted, client):
    csv_bytes = (
        b"settlement_date,type,processor_id,reference,currency,amount,fee,net\n"
        b"2026-11-24,charge,ch_1,pay_1,USD,1000,50,950\n"
    )
    scripted.answer = (200, csv_bytes, 0, {"Content-Type": "text/csv; charset=utf-8"})

    report = client.settlement_report(day=datetime.date(2026, 11, 24))

    assert scripted.requests[-1]["path"] == "/v1/settlements/2026-11-24.csv"
    assert scripted.requests[-1]["headers"]["Accept"] == "text/csv"
    assert report.sha256 == hashlib.sha256(csv_bytes).hexdigest()
    assert list(report.batches(size=10)) == [
        [SettlementLine(2, datetime.date(2026, 11, 24), "charge", "ch_1", "pay_1", "USD", 1000, 50, 950)]
    ]


@pytest.mark.parametrize(
    "answer",
    [
        (500, error("internal_error"), 0, {"Content-Type": "application/json"}),
        (400, error("date_invalid"), 0, {"Content-Type": "application/json"}),
        (200, b'{"object": "list"}', 0, {"Content-Type": "application/json"}),
        (200, b"a,b\n", 0),
        (200, b"a,b\n", 1.0, {"Content-Type": "text/csv"}),
    ],
)
def test_a_settlement_report_that_cannot_be_had_is_unavailable(scripted, client, answer):
    scripted.answer = answer

    with pytest.raises(ProcessorUnavailable):
        client.settlement_report(day=datetime.date(2026, 11, 24))


# --- bank accounts, bank transfers, wallets and exchange rates ----------------------------

BANK_ACCOUNT = {
    "id": "ba_1",
    "object": "bank_account",
    "country": "DE",
    "last4": "3000",
    "fingerprint": "0123456789abcdef",
    "bank_name": "Commerzbank",
    "behaviour": "settle",
    "created": 1_700_000_000,
}


def test_tokenising_a_bank_account_posts_only_the_given_fields(scripted, client):
    scripted.answer = (201, json.dumps(BANK_ACCOUNT).encode(), 0)

    account = client.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE89370400440532013000")

    sent = scripted.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/bank_accounts")
    assert "Idempotency-Key" not in sent["headers"]
    assert json.loads(sent["body"]) == {"country": "DE", "holder_name": "Erika", "iban": "DE89370400440532013000"}
    assert account == BankAccountDetails("ba_1", "DE", "3000", "0123456789abcdef", "Commerzbank")


def test_a_refused_bank_account_is_rejected_with_its_param(scripted, client):
    refused = {
        "error": {
            "type": "invalid_request_error",
            "code": "bank_account_invalid",
            "message": "No.",
            "param": "routing_number",
        }
    }
    scripted.answer = (400, json.dumps(refused).encode(), 0)

    with pytest.raises(ProcessorRequestRejected) as caught:
        client.tokenize_bank_account(country="US", holder_name="J", routing_number="1", account_number="1234")

    assert (caught.value.code, caught.value.param, caught.value.message) == (
        "bank_account_invalid",
        "routing_number",
        "No.",
    )


@pytest.mark.parametrize(
    "answer",
    [
        (500, error("internal_error"), 0),
        (201, b'{"id": "ba_1"}', 0),
        (201, b'{"id": "tok_1"}', 0),
        (201, json.dumps(BANK_ACCOUNT).encode(), 1.0),
        (201, b"not json", 0),
    ],
)
def test_a_bank_account_answer_that_is_not_a_token_is_unavailable(scripted, client, answer):
    scripted.answer = answer

    with pytest.raises(ProcessorUnavailable):
        client.tokenize_bank_account(country="DE", holder_name="Erika", iban="DE89370400440532013000")


def test_a_charge_carries_its_next_action_url_and_return_code(scripted, client):
    wallet = {
        **CHARGE,
        "status": "requires_action",
        "card": None,
        "decline_code": None,
        "next_action_url": "http://sandbox/wallet/ch_1",
    }
    scripted.answer = (201, json.dumps(wallet).encode(), 0)

    charge = authorize(client)

    assert (charge.status, charge.card, charge.next_action_url, charge.return_code) == (
        "requires_action",
        None,
        "http://sandbox/wallet/ch_1",
        None,
    )
    failed = {**CHARGE, "status": "failed", "card": None, "decline_code": "no_account", "return_code": "R03"}
    scripted.answer = (402, error("card_declined", charge=failed).replace(b'"x"', b'"card_error"'), 0)
    with pytest.raises(CardDeclined) as caught:
        authorize(client)
    assert (caught.value.charge.status, caught.value.charge.return_code) == ("failed", "R03")


def test_exchange_rates_are_read_as_strings(scripted, client):
    body = {"object": "fx_rates", "base": "USD", "rates": {"EUR": "0.921300", "JPY": "151.230000"}, "as_of": 1}
    scripted.answer = (200, json.dumps(body).encode(), 0)

    assert client.fx_rates() == ("USD", {"EUR": "0.921300", "JPY": "151.230000"})
    assert (scripted.requests[-1]["method"], scripted.requests[-1]["path"]) == ("GET", "/v1/fx_rates")


@pytest.mark.parametrize(
    "body",
    [
        b'{"base": "USD", "rates": {"EUR": 0.9213}}',
        b'{"base": "USD", "rates": {"EUR": "abc"}}',
        b'{"base": "USD", "rates": {"EUR": "-1"}}',
        b'{"base": "USD", "rates": {"EUR": "NaN"}}',
        b'{"base": "USD", "rates": ["EUR"]}',
        b'{"rates": {}}',
        b"[]",
    ],
)
def test_unreadable_exchange_rates_are_unavailable(scripted, client, body):
    scripted.answer = (200, body, 0)

    with pytest.raises(ProcessorUnavailable):
        client.fx_rates()


@pytest.mark.parametrize(
    ("event_type", "changes"),
    [
        ("charge.returned", {"status": "returned", "return_code": "R01", "amount_captured": 100}),
        ("charge.expired", {"status": "expired"}),
        ("charge.declined", {"status": "declined", "decline_code": "customer_declined"}),
    ],
)
def test_bank_and_wallet_webhooks_parse_to_their_charge(event_type, changes):
    secret = "whsec_test"
    verifier = SandboxProcessor(base_url="http://127.0.0.1:1", webhook_secret=secret)
    obj = {**CHARGE, "card": None, "decline_code": None, "next_action_url": None, "return_code": None, **changes}
    payload = {
        "id": "evt_sbx_1",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }
    body = json.dumps(payload).encode()

    event = verifier.parse_webhook(
        body=body, headers={"Sandbox-Signature": signature_header(secret, int(time.time()), body)}, tolerance_seconds=60
    )

    assert (event.type, event.refund, event.dispute) == (event_type, None, None)
    assert event.charge.status == changes["status"]
    assert event.charge.return_code == changes.get("return_code")
    assert event.charge.card is None
