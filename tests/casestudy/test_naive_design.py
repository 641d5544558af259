"""The naive design does what it says, against the real sandbox process: it charges, records and tells the merchant,
and, having no idempotency, charges again when the same order is sent again; a failed inline webhook loses the
payment the processor made. Bad input is a 4xx in the contract's error shape."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from casestudy.naive.models import NaiveBalance, NaivePayment
from gateways.registry import processor
from ledger.fees import platform_fee

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.casestudy.urls_with_naive")]


class Merchant:
    """A merchant's webhook endpoint answering ``status``, keeping what it was sent."""

    def __init__(self, status: int = 200):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def merchant_hooks(settings):
    hooks = Merchant()
    settings.CASESTUDY_NAIVE_WEBHOOK_URL = hooks.url
    yield hooks
    hooks.close()


def charge(api_client, order_id: str, token: str = "tok_visa", amount: int = 1999):
    body = {"order_id": order_id, "amount": amount, "currency": "USD", "token": token}
    return api_client.post("/casestudy/naive/payments", body, format="json")


def charges_at_the_processor(order_id: str) -> list:
    return processor("sandbox").charges_for(reference=order_id)


def test_a_charge_is_recorded_credited_and_told_to_the_merchant(api_client, merchant, sandbox, merchant_hooks):
    answer = charge(api_client, "order-a", amount=1999)
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "succeeded"
    payment = NaivePayment.objects.get(order_id="order-a")
    [at_processor] = charges_at_the_processor("order-a")
    assert payment.processor_charge_id == at_processor.processor_id
    assert NaiveBalance.objects.get(merchant=merchant).balance == 1999 - platform_fee(amount=1999, currency="USD")
    assert [(event["type"], event["data"]["order_id"]) for event in merchant_hooks.received] == [
        ("payment.succeeded", "order-a")
    ]


def test_the_same_order_sent_twice_is_charged_twice(api_client, merchant, sandbox, merchant_hooks):
    """No idempotency: the retry a client makes after a timeout is a second charge, a second payment and a
    second event (the flaw the case study measures as double_charges and events_duplicated)."""
    assert charge(api_client, "order-b").status_code == 201
    assert charge(api_client, "order-b").status_code == 201
    assert len(charges_at_the_processor("order-b")) == 2
    assert NaivePayment.objects.filter(order_id="order-b").count() == 2
    assert len(merchant_hooks.received) == 2


def test_a_failed_inline_webhook_rolls_back_the_payment_but_not_the_charge(api_client, merchant, sandbox, settings):
    """The webhook is sent inside the transaction: when it fails, the payment and the balance roll back while the
    processor keeps the charge (a lost payment, and the balance drifts from the processor's truth)."""
    failing = Merchant(status=500)
    settings.CASESTUDY_NAIVE_WEBHOOK_URL = failing.url
    try:
        answer = charge(api_client, "order-c")
    finally:
        failing.close()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "webhook_failed"
    assert len(charges_at_the_processor("order-c")) == 1
    assert not NaivePayment.objects.filter(order_id="order-c").exists()
    assert not NaiveBalance.objects.filter(merchant=merchant, balance__gt=0).exists()


def test_a_decline_is_a_402_recorded_as_failed_without_credit(api_client, merchant, sandbox, merchant_hooks):
    answer = charge(api_client, "order-d", token="tok_chargeDeclined")
    assert answer.status_code == 402
    assert answer.json()["error"]["type"] == "card_error"
    assert NaivePayment.objects.get(order_id="order-d").status == "failed"
    assert not NaiveBalance.objects.filter(merchant=merchant, balance__gt=0).exists()
    assert merchant_hooks.received == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"amount": 1999, "currency": "USD", "token": "tok_visa"}, "order_id"),
        ({"order_id": "o", "amount": "19.99", "currency": "USD", "token": "tok_visa"}, "amount"),
        ({"order_id": "o", "amount": 1999, "currency": "usd!", "token": "tok_visa"}, "currency"),
        ({"order_id": "o", "amount": 1999, "currency": "USD", "token": "4242424242424242"}, "token"),
        ({"order_id": "o", "amount": 1999, "currency": "USD", "token": "tok_visa", "card": "x"}, "card"),
    ],
)
def test_bad_input_is_a_400_in_the_contract_shape(api_client, merchant, body, param):
    answer = api_client.post("/casestudy/naive/payments", body, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert not NaivePayment.objects.exists()


def test_without_an_api_key_it_is_a_401(client):
    answer = client.post("/casestudy/naive/payments", {}, content_type="application/json")
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
