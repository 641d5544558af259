"""Wallet payments (SandboxPay) through the API and the real sandbox: requires_action with a redirect, then
approved, declined, canceled or expired. The ledger check runs after each test."""

import pytest

from events.models import Event
from ledger.models import JournalEntry
from ledger.selectors import balance_get
from payments.models import Payment
from payments.services import payment_expire_awaiting_action, payments_expire_awaiting_action
from tests.payments.helpers import error_of, post, sandbox_sending_webhooks_to, wait_for

WALLET = {"type": "wallet", "wallet": {"provider": "sandboxpay"}}


def create_wallet_payment(client, amount: int = 2500, **fields):
    return post(client, "/api/v1/payments", {"amount": amount, "currency": "USD", "payment_method": WALLET, **fields})


def available_usd(merchant) -> int:
    return {amount.currency: amount.amount for amount in balance_get(merchant=merchant).available}.get("USD", 0)


@pytest.fixture
def wallet_sandbox(live_server, settings):
    """A sandbox whose webhooks reach this test's live server."""
    with sandbox_sending_webhooks_to(live_server, settings) as process:
        yield process


@pytest.mark.django_db
def test_unknown_wallet_providers_are_refused(api_client):
    body = {"amount": 100, "currency": "USD", "payment_method": {"type": "wallet", "wallet": {"provider": "x"}}}
    response = post(api_client, "/api/v1/payments", body)
    assert response.status_code == 400 and error_of(response)["param"] == "payment_method[wallet][provider]"
    missing = post(api_client, "/api/v1/payments", {**body, "payment_method": {"type": "wallet"}})
    assert missing.status_code == 400 and error_of(missing)["param"] == "payment_method[wallet]"


@pytest.mark.django_db
def test_confirming_a_wallet_payment_asks_for_the_customers_approval(api_client, merchant, sandbox):
    created = create_wallet_payment(api_client)
    assert created.status_code == 201, created.content
    assert created.json()["payment_method"] == WALLET and created.json()["next_action"] is None
    response = post(api_client, f"/api/v1/payments/{created.json()['id']}/confirm")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "requires_action"
    assert body["next_action"]["type"] == "redirect"
    assert body["next_action"]["url"].startswith(sandbox.base_url) and "/wallet/" in body["next_action"]["url"]
    assert JournalEntry.objects.filter(source=body["id"]).count() == 0
    assert Event.objects.filter(type="payment.requires_action").count() == 1


@pytest.mark.django_db
def test_an_unapproved_wallet_payment_expires(api_client, merchant, sandbox, processor, settings):
    body = create_wallet_payment(api_client, confirm=True).json()
    assert body["status"] == "requires_action"
    assert payments_expire_awaiting_action() == 0  # not old enough
    settings.PAYMENT_WALLET_EXPIRY_SECONDS = 0
    assert payments_expire_awaiting_action() == 1
    expired = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (expired["status"], expired["cancellation_reason"], expired["next_action"]) == ("canceled", "expired", None)
    assert processor.charges_for(reference=body["id"])[0].status == "voided"
    assert payment_expire_awaiting_action(payment_id=body["id"]).status == "canceled"  # again: a no-op
    assert Event.objects.filter(type="payment.canceled").count() == 1


@pytest.mark.django_db
def test_the_merchant_can_cancel_a_payment_awaiting_approval(api_client, sandbox, processor):
    body = create_wallet_payment(api_client, confirm=True).json()
    canceled = post(api_client, f"/api/v1/payments/{body['id']}/cancel", {"reason": "abandoned"})
    assert canceled.status_code == 200, canceled.content
    assert (canceled.json()["status"], canceled.json()["cancellation_reason"]) == ("canceled", "abandoned")
    assert processor.charges_for(reference=body["id"])[0].status == "voided"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_approved_wallet_payment_succeeds_by_webhook(api_client, merchant, wallet_sandbox):
    body = create_wallet_payment(api_client, amount=2500, confirm=True).json()
    assert body["status"] == "requires_action"
    page = wallet_sandbox.wallet_decide(body["next_action"]["url"], approve=True)
    assert page.status_code == 200
    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "succeeded")
    shown = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (shown["amount_captured"], shown["next_action"]) == (2500, None)
    assert available_usd(merchant) == 2500 - (72 + 30)
    types = list(Event.objects.filter(type__startswith="payment.").order_by("id").values_list("type", flat=True))
    assert types == ["payment.processing", "payment.requires_action", "payment.succeeded"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_approved_manual_capture_wallet_payment_is_authorised(api_client, merchant, wallet_sandbox):
    body = create_wallet_payment(api_client, amount=3000, confirm=True, capture_method="manual").json()
    wallet_sandbox.wallet_decide(body["next_action"]["url"], approve=True)
    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "requires_capture")
    captured = post(api_client, f"/api/v1/payments/{body['id']}/capture", {"amount": 2000})
    assert captured.status_code == 200, captured.content
    assert (captured.json()["status"], captured.json()["amount_captured"]) == ("succeeded", 2000)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_declined_wallet_payment_fails_by_webhook(api_client, merchant, wallet_sandbox):
    body = create_wallet_payment(api_client, confirm=True).json()
    wallet_sandbox.wallet_decide(body["next_action"]["url"], approve=False)
    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "failed")
    shown = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (shown["decline_code"], shown["next_action"]) == ("customer_declined", None)
    assert JournalEntry.objects.filter(source=body["id"]).count() == 0
    assert available_usd(merchant) == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_processors_expiry_webhook_cancels_the_payment(api_client, merchant, wallet_sandbox):
    wallet_sandbox.set_faults(wallet_expiry_seconds=1)
    body = create_wallet_payment(api_client, confirm=True).json()
    assert body["status"] == "requires_action"
    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "canceled")
    shown = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (shown["cancellation_reason"], shown["next_action"]) == ("expired", None)
