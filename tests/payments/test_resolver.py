"""Payments whose outcome was lost are settled by asking the processor, never by guessing."""

import time

import pytest
from django.core.management import call_command

from payments.models import Payment
from payments.services import payment_resolve, payments_expire_authorizations, payments_resolve_processing
from tests.payments.helpers import create_payment, post
from tests.processors import configure_processor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def resolve_at_once(settings):
    settings.PAYMENT_RESOLVE_AFTER_SECONDS = 0


def confirm(client, payment_id):
    return post(client, f"/api/v1/payments/{payment_id}/confirm").json()


def test_a_timed_out_charge_is_found_by_its_key_and_settled_without_a_second_charge(api_client, sandbox, processor):
    payment = create_payment(api_client, "tok_timeout").json()
    assert confirm(api_client, payment["id"])["status"] == "processing"
    # The processor charged; our answer was lost. The resolver finds the charge by our key.
    summary = payments_resolve_processing()
    assert (summary.examined, summary.settled) == (1, 1)
    resolved = Payment.objects.get(pk=payment["id"])
    assert (resolved.status, resolved.amount_captured) == ("succeeded", 1999)
    assert len(processor.charges_for(reference=payment["id"])) == 1
    # Running it again changes nothing.
    assert payments_resolve_processing().examined == 0


def test_a_manual_capture_timeout_resolves_to_requires_capture(api_client, sandbox, processor):
    payment = create_payment(api_client, "tok_timeout", capture_method="manual").json()
    assert confirm(api_client, payment["id"])["status"] == "processing"
    assert payment_resolve(payment_id=payment["id"]).status == "requires_capture"


def test_a_request_the_processor_never_received_is_sent_again_with_the_same_key(
    api_client, sandbox, processor, settings
):
    payment = create_payment(api_client).json()
    configure_processor(settings, base_url="http://127.0.0.1:9")  # nothing listens: connection refused
    confirmed = confirm(api_client, payment["id"])
    assert confirmed["status"] == "processing"
    assert payment_resolve(payment_id=payment["id"]).status == "processing"  # still unreachable: unchanged
    configure_processor(settings, base_url=sandbox.base_url)
    assert processor.charges_for(reference=payment["id"]) == []
    resolved = payment_resolve(payment_id=payment["id"])
    assert resolved.status == "succeeded"
    assert len(processor.charges_for(reference=payment["id"])) == 1
    assert resolved.processor_attempts == 2


def test_processing_errors_fail_after_the_attempts_run_out(api_client, sandbox, processor, settings):
    settings.PAYMENT_MAX_PROCESSOR_ATTEMPTS = 3
    payment = create_payment(api_client, "tok_processingError").json()
    assert confirm(api_client, payment["id"])["status"] == "processing"
    assert payment_resolve(payment_id=payment["id"]).status == "processing"
    assert payment_resolve(payment_id=payment["id"]).status == "processing"
    failed = payment_resolve(payment_id=payment["id"])
    assert (failed.status, failed.failure_code, failed.processor_attempts) == ("failed", "processing_error", 3)
    assert processor.charges_for(reference=payment["id"]) == []


def test_resolve_processing_command(api_client, sandbox, capsys):
    payment = create_payment(api_client, "tok_timeout").json()
    confirm(api_client, payment["id"])
    call_command("resolve_processing")
    assert "settled 1" in capsys.readouterr().out
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"


def test_uncaptured_authorisations_expire(api_client, sandbox, processor, settings):
    payment = create_payment(api_client, capture_method="manual", confirm=True).json()
    fresh = create_payment(api_client, capture_method="manual", confirm=True).json()
    time.sleep(0.05)
    settings.PAYMENT_AUTHORIZATION_TTL_SECONDS = 0
    Payment.objects.filter(pk=fresh["id"]).update(authorized_at=None)  # stands for one authorised just now
    assert payments_expire_authorizations() == 1
    expired = Payment.objects.get(pk=payment["id"])
    assert (expired.status, expired.cancellation_reason) == ("canceled", "expired")
    assert processor.charges_for(reference=payment["id"])[0].status == "voided"
    assert Payment.objects.get(pk=fresh["id"]).status == "requires_capture"
