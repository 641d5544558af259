"""Wallet payments: requires_action, the SandboxPay approval page, approve/decline by the customer, expiry, void."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gateways.base import Charge, ProcessorRequestRejected, TokenInvalid

WALLET = "wallet_sandboxpay"


def pay(adapter, key: str, reference: str, *, capture: bool = True, amount: int = 2_500, currency: str = "USD"):
    return adapter.authorize(
        reference=reference, amount=amount, currency=currency, token=WALLET, capture=capture, idempotency_key=key
    )


def current(adapter, charge: Charge) -> Charge:
    [found] = [c for c in adapter.charges_for(reference=charge.reference) if c.processor_id == charge.processor_id]
    return found


def events_about(live_sandbox, charge_id: str, event_type: str) -> list[dict]:
    return [e for e in live_sandbox.events(type=event_type) if e["payload"]["data"]["object"]["id"] == charge_id]


def test_a_wallet_charge_requires_action_at_its_approval_page(adapter, live_sandbox, new_key, reference):
    key = new_key()

    charge = pay(adapter, key, reference)

    assert (charge.status, charge.amount, charge.amount_captured, charge.card) == ("requires_action", 2_500, 0, None)
    assert charge.next_action_url == f"{live_sandbox.base_url}/wallet/{charge.processor_id}"
    assert adapter.lookup(idempotency_key=key) == charge
    assert pay(adapter, key, reference) == charge  # replayed, same URL
    body = live_sandbox.request("GET", f"/v1/charges/{charge.processor_id}").json()
    assert body["wallet"] == {"type": "sandboxpay"} and body["source_type"] == "wallet"
    assert 899 <= body["expires_at"] - body["created"] <= 900


def test_the_approval_page_is_html_with_the_reference_the_amount_and_two_buttons(adapter, new_key):
    charge = pay(adapter, new_key(), "pay_<b>&co", amount=123_456, currency="KWD")

    page = requests.get(charge.next_action_url, timeout=5)  # a browser: no API key

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    text = page.text
    assert "<title>SandboxPay</title>" in text
    assert "pay_&lt;b&gt;&amp;co" in text and "pay_<b>" not in text
    assert "KWD 123.456" in text
    assert re.search(r'<form method="post" action="[^"]+/approve">', text)
    assert re.search(r'<button type="submit"[^>]*>Approve</button>', text)
    assert re.search(r'<button type="submit"[^>]*formaction="[^"]+/decline"[^>]*>Decline</button>', text)
    assert re.search(r'<input type="hidden" name="token" value="[\w-]{20,}">', text)


def test_approving_captures_with_a_webhook_and_a_settlement_line(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    charge = pay(adapter, new_key(), reference, amount=10_000)

    page = live_sandbox.wallet_decide(charge.next_action_url)

    assert page.status_code == 200 and page.url == charge.next_action_url
    assert 'data-status="captured"' in page.text and "Payment approved" in page.text
    assert "<button" not in page.text
    [delivery] = webhook_receiver.wait_for_event("charge.succeeded", about=charge.processor_id)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    approved = event.charge
    assert (approved.status, approved.amount_captured, approved.next_action_url) == ("captured", 10_000, None)
    assert current(adapter, charge) == event.charge
    day = time.strftime("%Y-%m-%d", time.gmtime())
    report = live_sandbox.request("GET", f"/v1/settlements/{day}.csv").text
    assert f"charge,{charge.processor_id},{reference},USD,10000,275,9725" in report


def test_approving_an_uncaptured_wallet_charge_authorizes_it_for_a_later_capture(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    charge = pay(adapter, new_key(), reference, capture=False, amount=4_000)

    live_sandbox.wallet_decide(charge.next_action_url)

    [delivery] = webhook_receiver.wait_for_event("charge.authorized", about=charge.processor_id)
    assert delivery.event["data"]["object"]["status"] == "authorized"
    captured = adapter.capture(processor_id=charge.processor_id, amount=3_000, idempotency_key=new_key())
    assert (captured.status, captured.amount_captured) == ("captured", 3_000)


def test_declining_declines_with_a_webhook(adapter, live_sandbox, webhook_receiver, new_key, reference):
    charge = pay(adapter, new_key(), reference)

    page = live_sandbox.wallet_decide(charge.next_action_url, approve=False)

    assert 'data-status="declined"' in page.text and "Payment declined" in page.text
    [delivery] = webhook_receiver.wait_for_event("charge.declined", about=charge.processor_id)
    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert (event.charge.status, event.charge.decline_code, event.charge.amount_captured) == (
        "declined",
        "customer_declined",
        0,
    )


def test_deciding_again_shows_the_outcome_and_changes_nothing(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    charge = pay(adapter, new_key(), reference)
    page = requests.get(charge.next_action_url, timeout=5)
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)

    first = requests.post(f"{charge.next_action_url}/approve", data={"token": token}, timeout=5)
    again = requests.post(f"{charge.next_action_url}/approve", data={"token": token}, timeout=5)
    changed_mind = requests.post(f"{charge.next_action_url}/decline", data={"token": token}, timeout=5)

    for answer in (first, again, changed_mind):
        assert answer.status_code == 200 and 'data-status="captured"' in answer.text
    webhook_receiver.wait_for_event("charge.succeeded", about=charge.processor_id)
    assert current(adapter, charge).status == "captured"
    assert len(events_about(live_sandbox, charge.processor_id, "charge.succeeded")) == 1
    assert events_about(live_sandbox, charge.processor_id, "charge.declined") == []


@pytest.mark.parametrize("form", [{}, {"token": "forged"}, {"token": ""}])
def test_a_decision_without_the_pages_token_is_refused(adapter, new_key, reference, form):
    charge = pay(adapter, new_key(), reference)

    answer = requests.post(f"{charge.next_action_url}/approve", data=form, timeout=5)

    assert answer.status_code == 403 and "<title>SandboxPay</title>" in answer.text
    assert current(adapter, charge).status == "requires_action"


def test_the_customer_is_sent_back_to_the_return_url(adapter, live_sandbox, webhook_receiver, new_key, reference):
    charge = pay(adapter, new_key(), reference)
    return_url = "https://shop.example/checkout/done?order=42"

    answer = live_sandbox.wallet_decide(charge.next_action_url, return_url=return_url)

    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "shop.example", "/checkout/done")
    assert parse_qs(location.query) == {"order": ["42"], "charge": [charge.processor_id], "status": ["captured"]}
    outcome = requests.get(charge.next_action_url, params={"return_url": return_url}, timeout=5).text
    assert "Return to the merchant" in outcome and "shop.example/checkout/done" in outcome


@pytest.mark.parametrize("return_url", ["javascript:alert(1)", "/relative", "ftp://shop.example/"])
def test_a_return_url_that_is_not_a_web_address_is_refused(adapter, new_key, reference, return_url):
    charge = pay(adapter, new_key(), reference)

    answer = requests.get(charge.next_action_url, params={"return_url": return_url}, timeout=5)

    assert answer.status_code == 400
    assert "<button" not in answer.text


def test_an_unapproved_wallet_charge_expires_with_a_webhook(
    adapter, live_sandbox, webhook_receiver, new_key, reference
):
    live_sandbox.set_faults(wallet_expiry_seconds=1)
    charge = pay(adapter, new_key(), reference)
    token = re.search(r'name="token" value="([^"]+)"', requests.get(charge.next_action_url, timeout=5).text).group(1)

    [delivery] = webhook_receiver.wait_for_event("charge.expired", about=charge.processor_id, timeout=10)

    event = adapter.parse_webhook(body=delivery.body, headers=delivery.headers, tolerance_seconds=300)
    assert (event.type, event.charge.status, event.charge.next_action_url) == ("charge.expired", "expired", None)
    late = requests.post(f"{charge.next_action_url}/approve", data={"token": token}, timeout=5)
    assert late.status_code == 200 and 'data-status="expired"' in late.text
    assert current(adapter, charge).status == "expired"
    assert events_about(live_sandbox, charge.processor_id, "charge.succeeded") == []


def test_a_charge_past_its_expiry_is_never_offered_even_before_the_dispatcher_runs(
    adapter, live_sandbox, new_key, reference
):
    live_sandbox.set_faults(wallet_expiry_seconds=0)
    charge = pay(adapter, new_key(), reference)

    page = requests.get(charge.next_action_url, timeout=5)

    assert 'data-status="expired"' in page.text and "<button" not in page.text


def test_voiding_cancels_a_charge_awaiting_approval(adapter, live_sandbox, new_key, reference):
    charge = pay(adapter, new_key(), reference)
    token = re.search(r'name="token" value="([^"]+)"', requests.get(charge.next_action_url, timeout=5).text).group(1)

    voided = adapter.void(processor_id=charge.processor_id, idempotency_key=new_key())

    assert (voided.status, voided.amount_captured, voided.next_action_url) == ("voided", 0, None)
    late = requests.post(f"{charge.next_action_url}/approve", data={"token": token}, timeout=5)
    assert 'data-status="voided"' in late.text
    assert current(adapter, charge).status == "voided"
    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id=charge.processor_id, amount=None, idempotency_key=new_key())
    assert caught.value.code == "charge_unexpected_state"


def test_a_charge_awaiting_approval_cannot_be_captured(adapter, new_key, reference):
    charge = pay(adapter, new_key(), reference, capture=False)

    with pytest.raises(ProcessorRequestRejected) as caught:
        adapter.capture(processor_id=charge.processor_id, amount=None, idempotency_key=new_key())

    assert caught.value.code == "charge_unexpected_state"


def test_an_unknown_wallet_is_token_invalid(adapter, new_key, reference):
    with pytest.raises(TokenInvalid):
        adapter.authorize(
            reference=reference,
            amount=100,
            currency="USD",
            token="wallet_nopay",
            capture=True,
            idempotency_key=new_key(),
        )

    assert adapter.charges_for(reference=reference) == []


def test_only_wallet_charges_have_a_page(adapter, live_sandbox, new_key, reference):
    card = adapter.authorize(
        reference=reference, amount=100, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )

    for charge_id in (card.processor_id, "ch_nothing"):
        answer = requests.get(f"{live_sandbox.base_url}/wallet/{charge_id}", timeout=5)
        assert answer.status_code == 404 and "<title>SandboxPay</title>" in answer.text
    assert requests.get(f"{live_sandbox.base_url}/wallet/ch_nothing/approve", timeout=5).status_code == 405


def test_the_approval_url_follows_the_address_the_client_used(live_sandbox, new_key, reference):
    answer = live_sandbox.request(
        "POST",
        "/v1/charges",
        idempotency_key=new_key(),
        headers={"Host": "pay.example:8443"},
        json={"amount": 100, "currency": "EUR", "source": WALLET, "reference": reference},
    )

    assert answer.status_code == 201
    body = answer.json()
    assert body["next_action_url"] == f"http://pay.example:8443/wallet/{body['id']}"
