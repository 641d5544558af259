"""Crashes between the three steps of a confirmation, and many clients racing on the same keys."""

import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from payments.models import Payment
from payments.services import payment_resolve
from tests.conftest import requires_postgres, test_database_url
from tests.payments.helpers import create_payment
from tests.processes import ROOT, clean_env, free_port, start_gunicorn, stop, wait_for_http

CRASH_SCRIPT = """
import os, signal, django
django.setup()
from payments import services
from payments.models import Payment

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(services, {step!r}, die)
services.payment_confirm(payment=Payment.objects.get(pk={payment_id!r}), actor="test:crash")
"""


def run_until_killed(payment_id: str, step: str, sandbox) -> int:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=test_database_url(),
        PROCESSOR_BASE_URL=sandbox.base_url,
    )
    script = CRASH_SCRIPT.format(step=step, payment_id=payment_id)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    return result.returncode


@pytest.mark.django_db(transaction=True)
def test_killed_after_the_processor_charged_and_before_recording_it(api_client, sandbox, processor):
    payment_id = create_payment(api_client).json()["id"]
    assert run_until_killed(payment_id, "_record_authorization_outcome", sandbox) == -9
    stuck = Payment.objects.get(pk=payment_id)
    assert stuck.status == "processing"
    assert [c.status for c in processor.charges_for(reference=payment_id)] == ["captured"]

    resolved = payment_resolve(payment_id=payment_id)
    assert (resolved.status, resolved.amount_captured) == ("succeeded", 1999)
    assert len(processor.charges_for(reference=payment_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_killed_after_recording_the_intent_and_before_calling_the_processor(api_client, sandbox, processor):
    payment_id = create_payment(api_client).json()["id"]
    assert run_until_killed(payment_id, "_send_authorization", sandbox) == -9
    assert Payment.objects.get(pk=payment_id).status == "processing"
    assert processor.charges_for(reference=payment_id) == []

    resolved = payment_resolve(payment_id=payment_id)
    assert resolved.status == "succeeded"
    assert len(processor.charges_for(reference=payment_id)) == 1


def _post_until_settled(base: str, api_key: str, key: str, body: dict) -> tuple[int, bytes]:
    """A well-behaved client: retries 409 (the key is still executing) until it gets the answer."""
    deadline = time.monotonic() + 60
    while True:
        response = requests.post(
            f"{base}/api/v1/payments",
            json=body,
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
            timeout=30,
        )
        if response.status_code != 409 or time.monotonic() > deadline:
            return response.status_code, response.content
        time.sleep(0.05)


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_100_concurrent_requests_over_10_keys_make_10_payments_and_10_charges(api_key, sandbox, processor, tmp_path):
    port = free_port()
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=test_database_url(),
        PROCESSOR_BASE_URL=sandbox.base_url,
    )
    web = start_gunicorn(port, env, tmp_path / "web.log", workers=2, threads=16)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", process=web)
        keys = [f"race-{uuid.uuid4()}" for _ in range(10)]
        body = {
            "amount": 2500,
            "currency": "USD",
            "confirm": True,
            "payment_method": {"type": "card", "token": "tok_visa"},
        }
        jobs = [key for key in keys for _ in range(10)]
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda key: (key, *_post_until_settled(base, api_key, key, body)), jobs))
    finally:
        stop(web)

    by_key: dict[str, set] = {}
    for key, status, content in answers:
        by_key.setdefault(key, set()).add((status, content))
    assert all(len(distinct) == 1 for distinct in by_key.values()), "every request with one key got one answer"
    assert {status for distinct in by_key.values() for status, _ in distinct} == {201}
    payments = list(Payment.objects.all())
    assert len(payments) == 10
    assert {p.status for p in payments} == {"succeeded"}
    for payment in payments:
        assert len(processor.charges_for(reference=payment.id)) == 1
