"""How the adapter turns every kind of answer into the types of gateways.base (against a scripted server)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateways.base import (
    CardDeclined,
    ProcessorError,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    TokenInvalid,
)
from gateways.registry import get_processor
from gateways.sandbox_adapter import SandboxProcessor


class ScriptedServer:
    """Answers every request with ``self.answer`` = (status, body bytes, delay seconds); records the requests."""

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
                status, payload, delay = scripted.answer
                time.sleep(delay)
                self.send_response(status)
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
    "id": "ch_1", "object": "charge", "reference": "pay_1", "amount": 100, "currency": "USD", "status": "declined",
    "amount_captured": 0, "decline_code": "insufficient_funds", "failure_message": "No money.",
    "card": {"brand": "visa", "last4": "9995", "exp_month": 12, "exp_year": 2030},
}  # fmt: skip


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
        "amount": 100, "currency": "USD", "source": "tok_visa", "capture": False, "reference": "pay_1",
    }  # fmt: skip
    assert charge.status == "authorized"


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

    with pytest.raises(ProcessorUnavailable):
        authorize(client)


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
    settings.PROCESSOR_BASE_URL = "http://127.0.0.1:1/"

    adapter = get_processor()

    assert adapter is get_processor()
    assert isinstance(adapter, SandboxProcessor)
    assert adapter.base_url == "http://127.0.0.1:1"
    assert adapter.api_key == getattr(settings, "PROCESSOR_API_KEY", "sk_sandbox_development")
