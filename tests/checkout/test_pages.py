"""The hosted payment page through Django's test client and the real sandbox: its headers, its secret URL, and
paying by card token, by bank transfer and by the wallet, with declines and retries. (The card field itself, in a
real browser, is tests/checkout/test_browser.py.)"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from checkout.models import CheckoutSession
from checkout.services import checkout_sessions_expire_due, checkout_sessions_sync_attempts
from events.models import Event
from payments.models import Payment
from payments.services import payment_apply_charge
from tests.checkout.helpers import create_session, page_path
from tests.payments.helpers import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    """A customer's browser: no API key, no cookies of the merchant."""
    return Client()


def pay(browser, session: dict, **form):
    return browser.post(f"{page_path(session)}/pay", form)


def test_the_page_shows_merchant_amount_and_methods_under_a_strict_policy(browser, api_client, sandbox, settings):
    session = create_session(api_client, payment_method_types=["card", "bank_transfer", "wallet"], description="Tea")
    response = browser.get(page_path(session))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Test merchant" in html and "25.00 USD" in html and "Tea" in html
    assert 'id="card-frame"' in html and f"{sandbox.base_url}/elements/card?origin=http%3A%2F%2Ftestserver" in html
    assert 'id="bank-form"' in html and 'id="wallet-form"' in html and 'href="https://shop.example/cart"' in html
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy
    assert sandbox.base_url in directives["frame-src"].split()
    # The processors' origins only (each configured acquirer's), nothing else.
    assert set(directives["frame-src"].split()) == {
        config["base_url"].rstrip("/") for config in settings.PROCESSORS.values()
    }
    assert directives["form-action"].split()[0] == "'self'" and "https://shop.example" in directives["form-action"]
    assert directives["frame-ancestors"] == "'none'" and directives["connect-src"] == "'none'"
    assert response["Referrer-Policy"] == "no-referrer" and response["Cache-Control"] == "no-store"
    assert response["X-Frame-Options"] == "DENY"
    for handler in ("onclick=", "onload=", "onsubmit=", "onerror=", "javascript:"):
        assert handler not in html.lower()
    assert "<script>" not in html and "style=" not in html


def test_a_wrong_token_or_unknown_id_is_a_404(browser, api_client):
    session = create_session(api_client)
    path = page_path(session)
    base, token = path.rsplit("/", 1)
    wrong = f"{base}/{'0' * len(token)}"
    for candidate in (wrong, f"{base}/{token[:-1]}", f"{base}/", f"/checkout/cs_01JD2W7Q3XK8Y2M4V9R5T6B7CZ/{token}"):
        response = browser.get(candidate)
        assert response.status_code == 404, candidate
        assert "Test merchant" not in response.content.decode()
    assert browser.post(f"{wrong}/pay", {"method": "card", "token": "tok_visa"}).status_code == 404
    assert browser.get(f"{wrong}/return").status_code == 404
    assert Payment.objects.count() == 0
    assert browser.get(path).status_code == 200


def test_paying_by_card_token_completes_the_session_and_sends_the_customer_to_success(
    browser, api_client, merchant, sandbox
):
    session = create_session(api_client, metadata={"order": "7"}, customer_email="ada@example.com")
    response = pay(browser, session, method="card", token="tok_visa")
    assert response.status_code == 303
    assert response["Location"] == f"https://shop.example/thanks?session_id={session['id']}"
    body = api_client.get(f"/api/v1/checkout_sessions/{session['id']}").json()
    assert body["status"] == "complete" and body["url"] is None
    payment = Payment.objects.get(pk=body["payment"])
    assert (payment.status, payment.amount, payment.metadata) == ("succeeded", 2500, {"order": "7"})
    assert payment.customer_email == "ada@example.com"
    events = Event.objects.filter(type="checkout.session.completed", merchant=merchant)
    assert events.count() == 1 and f'"payment":"{payment.id}"' in events.get().payload
    # Paying again (the back button, another tab) charges nothing more and goes to the merchant.
    again = pay(browser, session, method="card", token="tok_visa")
    assert again.status_code == 303 and again["Location"].startswith("https://shop.example/thanks")
    assert Payment.objects.count() == 1
    page = browser.get(page_path(session))
    assert page.status_code == 200 and "Payment received" in page.content.decode()


def test_a_declined_card_shows_the_decline_and_a_retry_completes(browser, api_client, sandbox):
    session = create_session(api_client)
    declined = pay(browser, session, method="card", token="tok_chargeDeclined")
    assert declined.status_code == 402
    html = declined.content.decode()
    assert "Your card was declined." in html and 'role="alert"' in html and 'id="card-frame"' in html
    row = CheckoutSession.objects.get(pk=session["id"])
    assert (row.status, row.attempt_started_at, row.attempt_payment_id) == ("open", None, None)
    ok = pay(browser, session, method="card", token="tok_visa")
    assert ok.status_code == 303
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete"
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["failed", "succeeded"]
    assert row.payment.status == "succeeded"


def test_bad_page_input_is_refused_without_a_payment(browser, api_client, sandbox):
    session = create_session(api_client, payment_method_types=["card", "bank_transfer"])
    assert pay(browser, session, method="card", token="").status_code == 400
    assert pay(browser, session, method="wallet").status_code == 400  # not offered by this session
    unknown = pay(browser, session, method="card", token="tok_doesNotExist")
    assert unknown.status_code == 400 and "No such card token" in unknown.content.decode()
    bank = pay(browser, session, method="bank_transfer", country="US", holder_name="Ada")
    assert bank.status_code == 400 and "Bank account" in bank.content.decode()
    assert Payment.objects.count() == 0
    assert CheckoutSession.objects.get(pk=session["id"]).attempt_started_at is None
    assert browser.get(f"{page_path(session)}/pay").status_code == 405


def test_an_expired_session_takes_no_payment(browser, api_client, sandbox, settings):
    settings.CHECKOUT_SESSION_TTL_SECONDS = 0
    session = create_session(api_client)
    response = pay(browser, session, method="card", token="tok_visa")
    assert response.status_code == 303 and response["Location"].endswith(page_path(session))
    assert "This checkout has expired" in browser.get(page_path(session)).content.decode()
    assert Payment.objects.count() == 0
    assert checkout_sessions_expire_due() == 1 and checkout_sessions_expire_due() == 0
    assert Event.objects.filter(type="checkout.session.expired").count() == 1


def test_a_bank_transfer_is_processing_until_it_settles_then_the_sweep_completes_the_session(
    browser, api_client, sandbox, processor, settings
):
    sandbox.set_faults(bank_settlement_seconds=0.5)
    try:
        session = create_session(api_client, payment_method_types=["bank_transfer"])
        response = pay(
            browser,
            session,
            method="bank_transfer",
            country="US",
            holder_name="Ada Lovelace",
            routing_number="110000000",
            account_number="000123456789",
        )
        assert response.status_code == 303 and response["Location"].endswith(page_path(session))
        page = browser.get(page_path(session)).content.decode()
        assert "settles" in page and 'id="bank-form"' not in page
        row = CheckoutSession.objects.get(pk=session["id"])
        payment = row.attempt_payment
        assert (row.status, payment.status, payment.payment_method_type) == ("open", "processing", "bank_transfer")
        # The session cannot expire under a transfer that may still settle.
        settings.CHECKOUT_SESSION_TTL_SECONDS = 0
        CheckoutSession.objects.filter(pk=row.pk).update(expires_at=row.created)
        assert checkout_sessions_expire_due() == 0
        assert checkout_sessions_sync_attempts() == 0  # not settled yet
        charge = wait_for(
            lambda: next((c for c in processor.charges_for(reference=payment.id) if c.status == "captured"), None)
        )
        payment_apply_charge(payment_id=payment.id, charge=charge, actor="test:webhook")  # the webhook, by hand
        assert checkout_sessions_sync_attempts() == 1
        row = CheckoutSession.objects.get(pk=session["id"])
        assert (row.status, row.payment_id) == ("complete", payment.id)
        assert "account_number" not in str(Payment.objects.filter(pk=payment.id).values().get())
        assert "000123456789" not in str(Payment.objects.filter(pk=payment.id).values().get())
    finally:
        sandbox.set_faults(bank_settlement_seconds=5)


def test_paying_with_the_wallet_redirects_and_the_return_completes_the_session(browser, api_client, sandbox):
    session = create_session(api_client, payment_method_types=["wallet"])
    response = pay(browser, session, method="wallet")
    assert response.status_code == 303
    location = response["Location"]
    assert location.startswith(f"{sandbox.base_url}/wallet/")
    return_url = parse_qs(urlsplit(location).query)["return_url"][0]
    assert return_url == f"http://testserver{page_path(session)}/return"
    # A second tab meanwhile: the attempt is in flight, nothing more is charged.
    busy = pay(browser, session, method="wallet")
    assert busy.status_code == 409 and "already being paid" in busy.content.decode()
    decided = sandbox.wallet_decide(location.split("?")[0], approve=True, return_url=return_url)
    assert decided.status_code == 303 and decided.headers["Location"].startswith(return_url)
    back = browser.get(urlsplit(decided.headers["Location"]).path + "?" + urlsplit(decided.headers["Location"]).query)
    assert back.status_code == 303 and back["Location"] == f"https://shop.example/thanks?session_id={session['id']}"
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment.status == "succeeded" and Payment.objects.count() == 1


def test_a_declined_wallet_frees_the_session_and_the_sweep_completes_one_never_returned_from(
    browser, api_client, sandbox
):
    session = create_session(api_client, payment_method_types=["wallet", "card"])
    location = pay(browser, session, method="wallet")["Location"]
    return_url = parse_qs(urlsplit(location).query)["return_url"][0]
    sandbox.wallet_decide(location.split("?")[0], approve=False, return_url=return_url)
    back = browser.get(f"{page_path(session)}/return")
    html = back.content.decode()
    assert back.status_code == 200 and "declined" in html and 'id="wallet-form"' in html
    assert CheckoutSession.objects.get(pk=session["id"]).attempt_started_at is None
    # Again; this time the customer approves and closes the tab: the beat sweep completes the session.
    location = pay(browser, session, method="wallet")["Location"]
    sandbox.wallet_decide(location.split("?")[0], approve=True)
    assert checkout_sessions_sync_attempts() == 1
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment.payment_method_type == "wallet"
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["failed", "succeeded"]
