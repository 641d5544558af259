"""Asynchronous confirmation (issue 14): ``Prefer: respond-async`` answers 202 once the intent is committed, a
worker charges the card through the synchronous path's own services, and nothing is lost or charged twice.

The processor is the sandbox as its own process; an outage is that process stopped (SIGSTOP), as a stalled
acquirer is. The worker's task runs in this process (``apply``, or Celery's eager mode), against the same
database and processor as a worker would.
"""

import json
import os
import signal
import uuid
from contextlib import contextmanager

import pytest
import yaml
from django.core.management import call_command

from config.celery import app
from edge.models import IdempotencyKey
from edge.prefer import preferences
from events.models import Event
from payments import async_confirmation, tasks
from payments.models import Payment
from payments.services import payments_resolve_processing
from tests.payments.helpers import create_payment, error_of, post

pytestmark = pytest.mark.django_db

CARD = {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}}
ASYNC = {"HTTP_PREFER": "respond-async"}


def create_async(client, *, key: str | None = None, token: str = "tok_visa", **extra):
    body = {**CARD, "payment_method": {"type": "card", "token": token}}
    return post(client, "/api/v1/payments", body, key=key or str(uuid.uuid4()), **{**ASYNC, **extra})


def run_worker(payment_id: str) -> str:
    """The worker's task, run here as a worker runs it (its first try)."""
    return tasks.confirm_async.apply(args=[payment_id]).get()


def events_of(payment_id: str, event_type: str) -> list[Event]:
    return [
        event
        for event in Event.objects.filter(type=event_type)
        if json.loads(event.payload)["data"]["object"]["id"] == payment_id
    ]


@contextmanager
def stopped(sandbox):
    """The processor stalls: its processes stop (SIGSTOP) and resume (SIGCONT) when the block ends."""
    os.killpg(sandbox.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(sandbox.pid, signal.SIGCONT)


@pytest.fixture
def eager_tasks():
    """Queued tasks run at once in this process (the worker's code, the queue's hand-off skipped)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


# --- The answer ---------------------------------------------------------------------------------------------


def test_create_and_confirm_answers_202_processing_before_the_processor_is_called(api_client, sandbox, processor):
    response = create_async(api_client)
    assert response.status_code == 202
    assert response["Preference-Applied"] == "respond-async"
    payment = response.json()
    assert (payment["status"], payment["amount_captured"], payment["settlement_currency"]) == ("processing", 0, "USD")
    # Only the intent is recorded: the processor has not been called and the key holds no answer.
    assert processor.charges_for(reference=payment["id"]) == []
    assert Payment.objects.get(pk=payment["id"]).processor_attempts == 1
    record = IdempotencyKey.objects.get()
    assert (record.status, record.recovery_point) == ("in_progress", "intent_recorded")
    assert events_of(payment["id"], "payment.processing")


def test_without_the_header_nothing_changes(api_client, sandbox):
    response = post(api_client, "/api/v1/payments", CARD)
    assert response.status_code == 201 and response.json()["status"] == "succeeded"
    assert "Preference-Applied" not in response


def test_other_preferences_are_ignored_and_respond_async_is_found_among_them(api_client, sandbox):
    response = post(api_client, "/api/v1/payments", CARD, HTTP_PREFER="return=minimal, wait=5")
    assert response.status_code == 201 and "Preference-Applied" not in response
    response = post(api_client, "/api/v1/payments", CARD, HTTP_PREFER='wait=5, Respond-Async; foo="a,b"')
    assert response.status_code == 202


def test_prefer_is_parsed_as_rfc_7240_writes_it():
    class Request:
        def __init__(self, value):
            self.headers = {"Prefer": value} if value is not None else {}

    assert preferences(Request("respond-async")) == {"respond-async"}
    assert preferences(Request(" RESPOND-ASYNC ; x=1 , wait=10")) == {"respond-async", "wait"}
    assert preferences(Request("respond-asynchronously")) == {"respond-asynchronously"}
    assert preferences(Request("")) == preferences(Request(None)) == set()


def test_a_payment_created_without_confirm_ignores_the_preference(api_client, sandbox):
    body = {**CARD, "confirm": False}
    response = post(api_client, "/api/v1/payments", body, **ASYNC)
    assert response.status_code == 201 and response.json()["status"] == "requires_confirmation"
    assert "Preference-Applied" not in response


# --- The worker ---------------------------------------------------------------------------------------------


def test_the_worker_charges_once_and_the_outcome_becomes_the_keys_stored_answer(api_client, sandbox, processor):
    key = str(uuid.uuid4())
    payment = create_async(api_client, key=key).json()
    # A retry while it is processing: 202 again, and the retry never calls the processor itself.
    retry = create_async(api_client, key=key)
    assert (retry.status_code, retry.json()["status"], retry["Preference-Applied"]) == (
        202,
        "processing",
        "respond-async",
    )
    assert processor.charges_for(reference=payment["id"]) == []

    assert run_worker(payment["id"]) == "succeeded"
    settled = Payment.objects.get(pk=payment["id"])
    assert (settled.status, settled.amount_captured) == ("succeeded", 1999)
    assert settled.transitions.order_by("id").last().actor == "system:async_confirmation"
    assert len(processor.charges_for(reference=payment["id"])) == 1
    assert len(events_of(payment["id"], "payment.succeeded")) == 1

    # Settled: the retry answers the final 201, stored and replayed byte for byte from then on.
    final = create_async(api_client, key=key)
    assert (final.status_code, final.json()["status"]) == (201, "succeeded")
    assert "Preference-Applied" not in final
    replay = create_async(api_client, key=key)
    assert replay["Idempotent-Replayed"] == "true" and replay.content == final.content
    assert IdempotencyKey.objects.get().status == "completed"

    # A duplicate of the worker's message, or the resolver, changes nothing.
    assert run_worker(payment["id"]) == "succeeded"
    assert payments_resolve_processing().settled == 0
    assert len(processor.charges_for(reference=payment["id"])) == 1


def test_the_queued_task_settles_the_payment(api_client, sandbox, processor, eager_tasks):
    # Eager mode: what payment_confirm_later queues runs at once, so the payment is settled when the 202 leaves.
    response = create_async(api_client)
    assert response.status_code == 202 and response.json()["status"] == "processing"
    assert Payment.objects.get(pk=response.json()["id"]).status == "succeeded"
    assert len(processor.charges_for(reference=response.json()["id"])) == 1


def test_a_decline_becomes_a_stored_402_and_a_payment_failed_event(api_client, sandbox, processor):
    key = str(uuid.uuid4())
    payment = create_async(api_client, key=key, token="tok_chargeDeclined").json()
    assert payment["status"] == "processing"
    assert run_worker(payment["id"]) == "failed"
    assert len(events_of(payment["id"], "payment.failed")) == 1
    retry = create_async(api_client, key=key, token="tok_chargeDeclined")
    assert retry.status_code == 402
    assert (error_of(retry)["code"], error_of(retry)["payment"]["status"]) == ("card_declined", "failed")
    assert create_async(api_client, key=key, token="tok_chargeDeclined").content == retry.content


def test_a_retry_without_the_header_may_resume_synchronously_and_still_charges_once(api_client, sandbox, processor):
    key = str(uuid.uuid4())
    payment = create_async(api_client, key=key).json()
    # The same request (headers are not in the fingerprint), synchronously: it settles the payment itself.
    retry = post(api_client, "/api/v1/payments", CARD, key=key)
    assert (retry.status_code, retry.json()["status"]) == (201, "succeeded")
    # The worker's message arrives afterwards: nothing to do.
    assert run_worker(payment["id"]) == "succeeded"
    assert len(processor.charges_for(reference=payment["id"])) == 1


def test_async_confirmation_of_an_existing_payment(api_client, sandbox, processor):
    payment = create_payment(api_client).json()
    key = str(uuid.uuid4())
    response = post(api_client, f"/api/v1/payments/{payment['id']}/confirm", key=key, **ASYNC)
    assert (response.status_code, response.json()["status"]) == (202, "processing")
    assert response["Preference-Applied"] == "respond-async"
    assert processor.charges_for(reference=payment["id"]) == []
    again = post(api_client, f"/api/v1/payments/{payment['id']}/confirm", key=key, **ASYNC)
    assert again.status_code == 202
    assert run_worker(payment["id"]) == "succeeded"
    final = post(api_client, f"/api/v1/payments/{payment['id']}/confirm", key=key, **ASYNC)
    assert (final.status_code, final.json()["status"]) == (200, "succeeded")
    assert post(api_client, f"/api/v1/payments/{payment['id']}/confirm", key=key).content == final.content
    assert len(processor.charges_for(reference=payment["id"])) == 1
    # Another confirmation of it, asynchronous or not, is refused as before.
    refused = post(api_client, f"/api/v1/payments/{payment['id']}/confirm", **ASYNC)
    assert (refused.status_code, error_of(refused)["code"]) == (400, "payment_unexpected_state")


def test_bad_input_is_still_a_4xx(api_client, sandbox):
    bad = post(api_client, "/api/v1/payments", {**CARD, "amount": 0}, **ASYNC)
    assert (bad.status_code, error_of(bad)["code"]) == (400, "amount_invalid")
    token = post(
        api_client, "/api/v1/payments", {**CARD, "payment_method": {"type": "card", "token": "tok_nope"}}, **ASYNC
    )
    assert (token.status_code, error_of(token)["code"]) == (400, "token_invalid")
    no_rate = post(api_client, "/api/v1/payments", {**CARD, "currency": "XAF"}, **ASYNC)
    assert (no_rate.status_code, error_of(no_rate)["code"]) == (400, "currency_conversion_unavailable")
    missing = post(api_client, "/api/v1/payments/pay_01ARZ3NDEKTSV4RRFFQ69G5FAV/confirm", **ASYNC)
    assert missing.status_code == 404
    assert Payment.objects.count() == 0


# --- Nothing lost, nothing charged twice --------------------------------------------------------------------


def test_a_lost_enqueue_is_settled_by_the_resolver(api_client, sandbox, processor, settings, monkeypatch):
    # The process dies between the commit and the publish: the message never exists.
    monkeypatch.setattr(async_confirmation, "payment_confirm_later", lambda *, payment_id: False)
    payment = create_async(api_client).json()
    assert Payment.objects.get(pk=payment["id"]).status == "processing"
    settings.PAYMENT_RESOLVE_AFTER_SECONDS = 0
    summary = payments_resolve_processing()
    assert (summary.examined, summary.settled) == (1, 1)
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    assert len(processor.charges_for(reference=payment["id"])) == 1


def test_processor_down_then_up_every_payment_settles_exactly_once(api_client, sandbox, processor, settings):
    create_async(api_client)  # the token's details are known (cached) before the outage, as they are in production
    with stopped(sandbox):
        # The processor stalls: the API still accepts; the worker's calls time out and leave them processing.
        accepted = [create_async(api_client) for _ in range(3)]
        assert [response.status_code for response in accepted] == [202, 202, 202]
        ids = [response.json()["id"] for response in accepted]
        for payment_id in ids:
            assert (
                async_confirmation.payment_confirm_carry_on(payment_id=payment_id, retried=False).status == "processing"
            )
        # The resolver cannot ask either: nothing changes, nothing fails.
        settings.PAYMENT_RESOLVE_AFTER_SECONDS = 0
        assert payments_resolve_processing().settled == 0
    # Back: the requests it had received while stopped were charged; the retries find those by key and send the rest.
    for payment_id in ids:
        assert async_confirmation.payment_confirm_carry_on(payment_id=payment_id, retried=True).status == "succeeded"
        assert run_worker(payment_id) == "succeeded"  # a late duplicate of the first message
    for payment_id in ids:
        assert len(processor.charges_for(reference=payment_id)) == 1
        assert Payment.objects.get(pk=payment_id).amount_captured == 1999


def test_the_task_retries_through_the_resolver_while_the_processor_is_down(api_client, sandbox, processor, monkeypatch):
    monkeypatch.setattr(tasks, "CONFIRM_ASYNC_RETRIES", 1)
    payment = create_async(api_client).json()
    with stopped(sandbox):
        # The first try and one retry (run at once: eager retries do not wait) both time out: still processing.
        assert run_worker(payment["id"]) == "processing"
    assert tasks.confirm_async.apply(args=[payment["id"]], retries=1).get() == "succeeded"
    assert len(processor.charges_for(reference=payment["id"])) == 1
    assert [tasks.confirm_async_countdown(n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]


# --- The contract's document --------------------------------------------------------------------------------


def test_the_openapi_document_states_the_202_and_the_headers(tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    for path_name in ("/api/v1/payments", "/api/v1/payments/{payment_id}/confirm"):
        operation = schema["paths"][path_name]["post"]
        accepted = operation["responses"]["202"]
        assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Payment"}
        assert "Preference-Applied" in accepted["headers"]
        prefer = next(p for p in operation["parameters"] if p["name"] == "Prefer")
        assert (prefer["in"], prefer.get("required", False)) == ("header", False)
