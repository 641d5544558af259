"""Bank transfers (ACH/SEPA-like) through the API and the real sandbox: tokenised, pending, settled by
webhook, returned after settling (R01) or refused at once (R03). The ledger check runs after each test."""

import pytest

from events.models import Event
from ledger.models import JournalEntry
from payments.bank_accounts import aba_routing_valid, iban_valid
from payments.models import Payment
from payments.services import payment_resolve
from tests.payments.helpers import balance_of, error_of, post, sandbox_sending_webhooks_to, wait_for

US_SETTLES = {
    "country": "US",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "holder_name": "Jane Doe",
}
US_RETURNED = {**US_SETTLES, "account_number": "000111111116"}
US_NO_ACCOUNT = {**US_SETTLES, "account_number": "000111111113"}
DE_SETTLES = {"country": "DE", "iban": "de89 3704 0044 0532 0130 00", "holder_name": "Erika Mustermann"}


def create_bank_payment(client, account: dict, amount: int = 5000, currency: str = "USD", **fields):
    body = {
        "amount": amount,
        "currency": currency,
        "payment_method": {"type": "bank_transfer", "bank_account": account},
        **fields,
    }
    return post(client, "/api/v1/payments", body)


@pytest.fixture
def bank_sandbox(live_server, settings):
    """A sandbox whose webhooks reach this test's live server, settling and returning transfers after 1 s."""
    with sandbox_sending_webhooks_to(
        live_server, settings, SANDBOX_BANK_SETTLEMENT_SECONDS=1, SANDBOX_BANK_RETURN_SECONDS=1
    ) as process:
        yield process


# --- Checksums on our side ------------------------------------------------------------------


def test_aba_and_iban_checksums():
    assert aba_routing_valid("110000000") and aba_routing_valid("021000021")
    assert not aba_routing_valid("110000001") and not aba_routing_valid("11000000")
    assert iban_valid("DE89370400440532013000", country="DE")
    assert iban_valid("FR1420041010050500013M02606", country="FR")
    assert not iban_valid("DE89370400440532013001", country="DE")  # check digits
    assert not iban_valid("DE8937040044053201300", country="DE")  # length
    assert not iban_valid("NL91ABNA0417164300", country="DE")  # another country


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("account", "param"),
    [
        ({**US_SETTLES, "routing_number": "110000001"}, "payment_method[bank_account][routing_number]"),
        ({**US_SETTLES, "account_number": "12ab"}, "payment_method[bank_account][account_number]"),
        ({**DE_SETTLES, "iban": "DE89370400440532013001"}, "payment_method[bank_account][iban]"),
        ({**DE_SETTLES, "country": "JP"}, "payment_method[bank_account][country]"),
        (
            {"country": "US", "routing_number": "110000000", "account_number": "000123456789"},
            "payment_method[bank_account][holder_name]",
        ),
    ],
)
def test_invalid_bank_accounts_are_400_with_the_param(api_client, account, param):
    response = create_bank_payment(api_client, account)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    assert Payment.objects.count() == 0


@pytest.mark.django_db
def test_bank_transfers_are_captured_automatically_only(api_client):
    response = create_bank_payment(api_client, US_SETTLES, capture_method="manual")
    assert response.status_code == 400 and error_of(response)["param"] == "capture_method"


# --- Through the session sandbox (no webhooks) -----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("account", [US_SETTLES, DE_SETTLES])
def test_only_the_token_and_a_description_of_the_account_are_kept(request, sandbox, account):
    # A SEPA debit in EUR to the merchant settling in EUR (a USD merchant would need an exchange rate).
    client, currency = ("other_api_client", "EUR") if account["country"] == "DE" else ("api_client", "USD")
    response = create_bank_payment(request.getfixturevalue(client), account, currency=currency)
    assert response.status_code == 201, response.content
    body = response.json()
    method = body["payment_method"]
    assert method["type"] == "bank_transfer" and set(method) == {"type", "bank_transfer"}
    assert set(method["bank_transfer"]) == {"country", "last4", "fingerprint", "bank_name"}
    assert method["bank_transfer"]["country"] == account["country"]
    assert method["bank_transfer"]["last4"] == ("6789" if account["country"] == "US" else "3000")
    assert method["bank_transfer"]["bank_name"]
    payment = Payment.objects.get(pk=body["id"])
    assert payment.card_token.startswith("ba_")
    stored = " ".join(str(value) for value in Payment.objects.filter(pk=payment.pk).values().first().values())
    assert "000123456789" not in stored and "0532013000" not in stored
    assert (body["amount_returned"], body["returned"], body["return_code"]) == (0, False, None)


@pytest.mark.django_db
def test_a_pending_transfer_stays_processing_and_the_resolver_keeps_waiting(api_client, merchant, sandbox):
    response = create_bank_payment(api_client, US_SETTLES, confirm=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "processing" and body["amount_captured"] == 0
    assert Payment.objects.get(pk=body["id"]).processor_charge_id
    assert payment_resolve(payment_id=body["id"]).status == "processing"
    assert JournalEntry.objects.filter(source=body["id"]).count() == 0
    assert balance_of(merchant) == (0, 0)


@pytest.mark.django_db
def test_an_account_that_does_not_exist_fails_at_once_with_402(api_client, merchant, sandbox):
    payment = create_bank_payment(api_client, US_NO_ACCOUNT).json()
    response = post(api_client, f"/api/v1/payments/{payment['id']}/confirm")
    assert response.status_code == 402, response.content
    error = error_of(response)
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "no_account")
    assert error["payment"]["status"] == "failed" and error["payment"]["id"] == payment["id"]
    assert JournalEntry.objects.filter(source=payment["id"]).count() == 0
    assert Event.objects.filter(type="payment.failed").count() == 1


# --- Webhook-driven lifecycles --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_transfer_settles_by_webhook(api_client, merchant, bank_sandbox):
    body = create_bank_payment(api_client, US_SETTLES, amount=10000, confirm=True).json()
    assert body["status"] == "processing"
    assert balance_of(merchant) == (0, 0)

    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "succeeded")
    settled = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (settled["amount_captured"], settled["returned"]) == (10000, False)
    fee = 290 + 30
    assert balance_of(merchant) == (10000 - fee, 0)
    assert JournalEntry.objects.filter(source=body["id"], type="charge").count() == 1
    assert Event.objects.filter(type="payment.succeeded").count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_settled_transfer_returned_by_the_bank_is_reversed(api_client, merchant, bank_sandbox):
    body = create_bank_payment(api_client, US_RETURNED, amount=4000, confirm=True).json()
    assert body["status"] == "processing"

    returned = wait_for(lambda: Payment.objects.filter(pk=body["id"], returned_at__isnull=False).first())
    assert returned.status == "succeeded" and returned.return_code == "R01"
    shown = api_client.get(f"/api/v1/payments/{body['id']}").json()
    assert (shown["status"], shown["amount_returned"], shown["returned"], shown["return_code"]) == (
        "succeeded",
        4000,
        True,
        "R01",
    )
    assert balance_of(merchant) == (0, 0)
    assert JournalEntry.objects.filter(source=body["id"], type="payment_return").count() == 1
    assert Event.objects.filter(type="payment.returned").count() == 1
    types = list(Event.objects.filter(type__startswith="payment.").order_by("id").values_list("type", flat=True))
    assert types == ["payment.processing", "payment.succeeded", "payment.returned"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sepa_transfer_settles(other_api_client, other_merchant, bank_sandbox):
    # To the merchant settling in EUR: a USD merchant's EUR payment needs an exchange rate (test_cross_border).
    body = create_bank_payment(other_api_client, DE_SETTLES, amount=2500, currency="EUR", confirm=True).json()
    assert body["status"] == "processing"
    wait_for(lambda: Payment.objects.get(pk=body["id"]).status == "succeeded")
    assert balance_of(other_merchant, "EUR")[0] == 2500 - (72 + 25)


@pytest.mark.django_db
def test_a_return_that_overtakes_the_settlement_is_applied_in_order_and_once(api_client, merchant, sandbox):
    import dataclasses

    from payments.services import payment_apply_charge

    body = create_bank_payment(api_client, US_RETURNED, amount=3000, confirm=True).json()
    pending = Payment.objects.get(pk=body["id"])
    template = dict(
        processor_id=pending.processor_charge_id,
        reference=pending.id,
        amount=3000,
        currency="USD",
        decline_code=None,
        failure_message=None,
        card=None,
    )
    from gateways.base import Charge

    returned = Charge(**template, status="returned", amount_captured=3000, return_code="R01")
    payment = payment_apply_charge(payment_id=pending.id, charge=returned, actor="test")
    assert (payment.status, payment.amount_captured, payment.amount_returned) == ("succeeded", 3000, 3000)
    # The late settlement and a duplicate return change nothing.
    payment_apply_charge(
        payment_id=pending.id, charge=dataclasses.replace(returned, status="captured", return_code=None), actor="test"
    )
    payment_apply_charge(payment_id=pending.id, charge=returned, actor="test")
    assert JournalEntry.objects.filter(source=pending.id, type="charge").count() == 1
    assert JournalEntry.objects.filter(source=pending.id, type="payment_return").count() == 1
    assert Event.objects.filter(type="payment.returned").count() == 1
    assert balance_of(merchant) == (0, 0)


@pytest.mark.django_db
def test_a_bank_account_number_that_passes_luhn_is_not_refused_as_a_card_number(api_client, sandbox):
    """One account number of 12 to 17 digits in ten passes the Luhn check: it is still a bank account."""
    account = {**US_SETTLES, "account_number": "4111111111111111"}  # 16 digits, Luhn-valid
    response = create_bank_payment(api_client, account)
    assert response.status_code == 201, response.content
    assert response.json()["payment_method"]["bank_transfer"]["last4"] == "1111"
    assert "4111111111111111" not in Payment.objects.get(pk=response.json()["id"]).__dict__.values()


@pytest.mark.django_db
def test_a_card_number_written_with_separators_in_the_account_number_is_refused(api_client, sandbox):
    account = {**US_SETTLES, "account_number": "4111 1111 1111 1111"}
    response = create_bank_payment(api_client, account)
    assert (response.status_code, error_of(response)["code"]) == (400, "pan_not_allowed")
    assert not Payment.objects.exists()
