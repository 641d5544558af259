"""Two acquirers, routing and failover, against two real sandbox processes (no mock of either).

The rule under test (payments.routing): a payment moves to its fallback only when its acquirer provably did not
charge (the connection was refused, or a definite "not here" refusal); after a timeout it stays, and the resolver
asks the same acquirer. Every test counts the charges of the payment on BOTH sandboxes, by reference.
"""

import time

import pytest
from django.core.cache import cache
from django.db import transaction

from merchants.services import api_key_issue, merchant_create
from payments import services
from payments.methods.card import Card
from payments.models import Payment, PaymentStatus, PaymentTransition, RoutingRule
from payments.routing import Route, payment_fail_over, route_choose
from tests.payments.helpers import create_payment, post
from tests.processes import free_port
from tests.processors import configure_processor

pytestmark = [pytest.mark.django_db(transaction=True)]


def charges_on(sandbox_process, settings, name: str, reference: str) -> list:
    """The charges ``sandbox_process`` (the acquirer ``name`` plays) holds for ``reference``, asked directly."""
    from gateways.sandbox_acquirer.client import SandboxProcessor

    return SandboxProcessor(name, base_url=sandbox_process.base_url).charges_for(reference=reference)


def acquirer_down(settings, name: str = "sandbox") -> None:
    """Point ``name`` at a port where nothing listens: every connection is refused, nothing is ever sent."""
    configure_processor(settings, name, base_url=f"http://127.0.0.1:{free_port()}", connect_timeout=0.5)


@pytest.fixture
def sandbox_first_eu_fallback(db):
    return RoutingRule.objects.create(priority=10, processor="sandbox", fallback_processor="sandbox_eu")


def test_with_the_first_acquirer_down_payments_succeed_on_the_fallback_and_are_charged_once(
    api_client, sandbox, sandbox_eu, settings, sandbox_first_eu_fallback
):
    # Given the rule "sandbox, else sandbox_eu", sandbox refusing every connection, and no card token cached
    # (a cache of this test's own: on the shared Redis another xdist worker may cache tok_visa at any moment)
    acquirer_down(settings, "sandbox")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "failover"}}
    cache.clear()
    # When three payments are made
    ids = []
    for _ in range(3):
        response = create_payment(api_client, confirm=True)
        assert response.status_code == 201, response.json()
        assert response.json()["status"] == "succeeded" and response.json()["processor"] == "sandbox_eu"
        ids.append(response.json()["id"])
    # Then each is charged exactly once, on sandbox_eu, and never on sandbox
    for payment_id in ids:
        payment = Payment.objects.get(pk=payment_id)
        assert (payment.processor, payment.failed_over_from) == ("sandbox_eu", "sandbox")
        assert len(charges_on(sandbox_eu, settings, "sandbox_eu", payment_id)) == 1
        assert charges_on(sandbox, settings, "sandbox", payment_id) == []
        assert "sandbox not reached" in PaymentTransition.objects.get(payment=payment, transition="create").reason


def test_an_authorisation_refused_at_the_connection_is_sent_to_the_fallback(
    api_client, sandbox, sandbox_eu, settings, sandbox_first_eu_fallback
):
    # Given a payment created (its card known) while sandbox was up
    payment_id = create_payment(api_client).json()["id"]
    assert Payment.objects.get(pk=payment_id).processor == "sandbox"
    # When sandbox goes down and the payment is confirmed
    acquirer_down(settings, "sandbox")
    response = post(api_client, f"/api/v1/payments/{payment_id}/confirm")
    # Then it succeeds on sandbox_eu, with the switch in its history, and is charged once in all
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded" and response.json()["processor"] == "sandbox_eu"
    switch = PaymentTransition.objects.get(payment_id=payment_id, transition="fail_over")
    assert "sandbox did not process the authorisation (not reached" in switch.reason
    assert switch.actor == "system:failover"
    on_eu = charges_on(sandbox_eu, settings, "sandbox_eu", payment_id)
    assert len(on_eu) == 1 and on_eu[0].processor_id == Payment.objects.get(pk=payment_id).processor_charge_id
    assert charges_on(sandbox, settings, "sandbox", payment_id) == []


def test_a_timeout_never_fails_over_and_the_resolver_settles_on_the_first_acquirer(
    api_client, sandbox, sandbox_eu, settings, sandbox_first_eu_fallback
):
    # Given sandbox holds its answer back (3 s) longer than we wait for it (1.5 s)
    response = create_payment(api_client, token="tok_timeout", confirm=True)
    # Then the payment stays processing with sandbox: the outcome is unknown, so it may not move
    assert response.status_code == 201 and response.json()["status"] == "processing"
    payment = Payment.objects.get(pk=response.json()["id"])
    assert (payment.processor, payment.fallback_processor) == ("sandbox", "sandbox_eu")
    assert not PaymentTransition.objects.filter(payment=payment, transition="fail_over").exists()
    # When the resolver runs once sandbox has committed the charge
    time.sleep(3.5)
    resolved = services.payment_resolve(payment_id=payment.id)
    # Then it settles with sandbox's charge, and sandbox_eu never saw the payment
    assert resolved.status == PaymentStatus.SUCCEEDED and resolved.processor == "sandbox"
    assert len(charges_on(sandbox, settings, "sandbox", payment.id)) == 1
    assert charges_on(sandbox_eu, settings, "sandbox_eu", payment.id) == []


def test_a_not_here_refusal_fails_over(sandbox, sandbox_eu, settings):
    # Given a JPY merchant whose payments go to sandbox_eu (which takes no JPY), else to sandbox
    merchant = merchant_create(name="Tokyo shop", settlement_currency="JPY")
    client = api_client_for(merchant)
    RoutingRule.objects.create(priority=10, currency="JPY", processor="sandbox_eu", fallback_processor="sandbox")
    # When a JPY payment is made
    response = post(
        client,
        "/api/v1/payments",
        {"amount": 5000, "currency": "JPY", "payment_method": {"type": "card", "token": "tok_visa"}, "confirm": True},
    )
    # Then sandbox_eu refused it as not its currency, and sandbox charged it, once
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "succeeded" and response.json()["processor"] == "sandbox"
    payment_id = response.json()["id"]
    switch = PaymentTransition.objects.get(payment_id=payment_id, transition="fail_over")
    assert "refused: currency_not_supported" in switch.reason
    assert len(charges_on(sandbox, settings, "sandbox", payment_id)) == 1
    assert charges_on(sandbox_eu, settings, "sandbox_eu", payment_id) == []


def test_a_crash_after_the_switch_before_the_call_is_finished_by_the_resolver_on_the_fallback(
    merchant, sandbox, sandbox_eu, settings
):
    # Given a payment whose intent is recorded with sandbox (fallback sandbox_eu), and whose one send was refused
    created = services.payment_create(
        merchant=merchant,
        amount=1500,
        currency="USD",
        payment_method=Card().resolve("tok_visa", route=Route("sandbox", "sandbox_eu")),
        confirm=True,
    )
    # When the switch commits and the process dies before calling sandbox_eu
    moved = payment_fail_over(
        payment_id=created.payment.id, failed_processor="sandbox", why="not reached: test", actor="test"
    )
    assert moved is not None and moved.processor == "sandbox_eu"
    # Then the resolver asks sandbox_eu (the processor the payment now names), finds nothing and sends it there
    resolved = services.payment_resolve(payment_id=created.payment.id)
    assert resolved.status == PaymentStatus.SUCCEEDED
    assert len(charges_on(sandbox_eu, settings, "sandbox_eu", created.payment.id)) == 1
    assert charges_on(sandbox, settings, "sandbox", created.payment.id) == []
    # And a second resolver run (or the lost answer arriving) charges nothing more
    services.payment_resolve(payment_id=created.payment.id)
    assert len(charges_on(sandbox_eu, settings, "sandbox_eu", created.payment.id)) == 1


def test_a_payment_sent_more_than_once_never_fails_over(merchant, sandbox, sandbox_eu, settings):
    # Given a processing payment already sent twice to sandbox (an earlier send may still be charging)
    created = services.payment_create(
        merchant=merchant,
        amount=1500,
        currency="USD",
        payment_method=Card().resolve("tok_visa", route=Route("sandbox", "sandbox_eu")),
        confirm=True,
    )
    Payment.objects.filter(pk=created.payment.id).update(processor_attempts=2)
    # When sandbox then refuses the connection, the resolver re-sends there
    acquirer_down(settings, "sandbox")
    resolved = services.payment_resolve(payment_id=created.payment.id)
    # Then the payment stays with sandbox, processing: a refused third send proves nothing about the first two
    assert resolved.status == PaymentStatus.PROCESSING
    assert Payment.objects.get(pk=created.payment.id).processor == "sandbox"
    assert payment_fail_over(payment_id=created.payment.id, failed_processor="sandbox", why="x", actor="t") is None
    assert charges_on(sandbox_eu, settings, "sandbox_eu", created.payment.id) == []


def test_captures_and_refunds_go_to_the_payments_own_acquirer(other_api_client, sandbox, sandbox_eu, settings):
    # Given EUR payments (of a merchant settled in EUR) routed to sandbox_eu, captured manually
    RoutingRule.objects.create(priority=10, currency="EUR", processor="sandbox_eu")
    body = {"amount": 2500, "currency": "EUR", "payment_method": {"type": "card", "token": "tok_visa"}}
    response = post(other_api_client, "/api/v1/payments", {**body, "confirm": True, "capture_method": "manual"})
    assert response.status_code == 201, response.json()
    payment_id = response.json()["id"]
    assert response.json()["processor"] == "sandbox_eu" and response.json()["status"] == "requires_capture"
    # When it is captured, then refunded
    assert post(other_api_client, f"/api/v1/payments/{payment_id}/capture").json()["status"] == "succeeded"
    refund = post(other_api_client, "/api/v1/refunds", {"payment": payment_id, "amount": 1000})
    assert refund.status_code in (200, 201), refund.json()
    # Then sandbox_eu holds the captured and refunded charge, and sandbox knows nothing of it
    (charge,) = charges_on(sandbox_eu, settings, "sandbox_eu", payment_id)
    assert (charge.status, charge.amount_refunded) == ("captured", 1000)
    assert charges_on(sandbox, settings, "sandbox", payment_id) == []


def api_client_for(merchant):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_issue(merchant=merchant, name='t').secret}")
    return client


# --- Routing rules ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_routing_by_currency_method_and_merchant_first_match_by_priority_else_the_default(
    merchant, other_merchant, settings
):
    with transaction.atomic():
        RoutingRule.objects.create(priority=1, merchant=other_merchant, processor="sandbox_eu")
        RoutingRule.objects.create(priority=2, currency="EUR", payment_method_type="card", processor="sandbox_eu")
        RoutingRule.objects.create(priority=3, payment_method_type="wallet", processor="sandbox_eu")
        RoutingRule.objects.create(priority=4, currency="EUR", processor="sandbox", fallback_processor="sandbox_eu")
        RoutingRule.objects.create(priority=5, processor="sandbox_eu", enabled=False)

    def route(who, currency, method):
        return route_choose(merchant=who, currency=currency, payment_method_type=method)

    assert route(other_merchant, "USD", "card") == Route("sandbox_eu")
    assert route(merchant, "EUR", "card") == Route("sandbox_eu")
    assert route(merchant, "USD", "wallet") == Route("sandbox_eu")
    assert route(merchant, "EUR", "bank_transfer") == Route("sandbox", "sandbox_eu")
    assert route(merchant, "USD", "card") == Route(settings.PROCESSOR_DEFAULT)


@pytest.mark.django_db
def test_a_rule_whose_processor_is_no_longer_configured_is_skipped(merchant, settings):
    RoutingRule.objects.create(priority=1, processor="sandbox_eu", fallback_processor="sandbox")
    settings.PROCESSORS = {"sandbox": settings.PROCESSORS["sandbox"]}
    assert route_choose(merchant=merchant, currency="USD", payment_method_type="card") == Route("sandbox")


def test_a_token_the_fallback_does_not_know_is_unknown_while_the_first_acquirer_is_down(
    api_client, sandbox, sandbox_eu, settings, sandbox_first_eu_fallback
):
    # Given a token only the first acquirer could know (the fallback has never issued it), with that acquirer down
    acquirer_down(settings, "sandbox")
    body = {"amount": 1000, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_x1"}}
    # When the payment is made
    response = post(api_client, "/api/v1/payments", body, key="token-of-the-first-acquirer")
    # Then the answer is "unknown, retry" (503), not a refusal a client would trust; nothing is kept for the key
    assert response.status_code == 503, response.json()
    assert response.json()["error"]["type"] == "api_error"
    assert not Payment.objects.exists()
    # And with the first acquirer answering again, the same key gets the first acquirer's own answer
    configure_processor(settings, "sandbox", base_url=sandbox.base_url)
    again = post(api_client, "/api/v1/payments", body, key="token-of-the-first-acquirer")
    assert again.status_code == 400 and again.json()["error"]["code"] == "token_invalid"
