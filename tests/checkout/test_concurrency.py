"""Paying twice from two tabs charges once: two payments of one session at the same moment, on PostgreSQL, in
two threads (two connections), against the real sandbox with a slow authorisation."""

import threading

import pytest
from django.db import connection

from checkout import services
from checkout.models import CheckoutSession
from payments.models import Payment
from tests.checkout.helpers import create_session
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rounds", [3])
def test_two_tabs_paying_at_once_charge_once(api_client, merchant, sandbox, processor, rounds):
    # Every call to the processor takes 400 ms: the second tab arrives while the first is being charged.
    sandbox.set_faults(latency_ms=400)
    for _ in range(rounds):
        session_id = create_session(api_client)["id"]
        barrier = threading.Barrier(2)
        outcomes, errors = [], []

        def tab(token: str) -> None:
            try:
                barrier.wait(timeout=10)
                outcomes.append(
                    services.checkout_session_pay(session_id=session_id, method_type="card", method_input=token).state
                )
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=tab, args=(token,)) for token in ("tok_visa", "tok_mastercard")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert sorted(outcomes) == ["busy", "complete"], outcomes
        session = CheckoutSession.objects.get(pk=session_id)
        assert session.status == "complete" and session.payment.status == "succeeded"
        # At the processor: exactly one charge for this session's payment, and none for any other attempt.
        assert len(processor.charges_for(reference=session.payment_id)) == 1
    assert Payment.objects.filter(merchant=merchant).count() == rounds
