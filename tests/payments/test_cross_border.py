"""Cross-border payments: converted into the merchant's settlement currency at a rate locked at confirmation,
booked through fx_clearing so that every currency balances. The ledger check runs after each test."""

from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from core.money import convert
from edge.exception_handler import error_answer
from ledger.models import Account, JournalEntry, Posting
from ledger.selectors import balance_get
from payments.fx_services import fx_locked_rate, fx_rate_set, fx_rates_import
from payments.models import FxRate, Payment
from tests.payments.helpers import post
from tests.processors import configure_processor

pytestmark = pytest.mark.django_db

EUR_PER_USD = Decimal("0.921300")  # the sandbox's fixed table
JPY_PER_USD = Decimal("151.230000")


def locked(rate_per_usd: Decimal) -> Decimal:
    """USD per unit of the other currency, less the default 100 bps margin, to 10 places."""
    return (Decimal(1) / rate_per_usd * Decimal("0.99")).quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN)


def pay(client, amount: int, currency: str, **fields):
    body = {"amount": amount, "currency": currency, "payment_method": {"type": "card", "token": "tok_visa"}, **fields}
    return post(client, "/api/v1/payments", body)


def balances(merchant) -> dict[str, int]:
    return {amount.currency: amount.amount for amount in balance_get(merchant=merchant).available}


@pytest.fixture
def rates(sandbox):
    assert fx_rates_import() == 16
    return sandbox


def test_the_feed_is_imported_as_decimals_and_manual_rates_are_kept(rates, sandbox):
    eur = FxRate.objects.get(base_currency="USD", quote_currency="EUR")
    assert (eur.rate, eur.source) == (EUR_PER_USD, "processor")
    gbp = FxRate.objects.get(base_currency="USD", quote_currency="GBP")
    gbp.rate = Decimal("0.8")
    fx_rate_set(rate=gbp, actor="staff:finance")
    assert FxRate.objects.get(quote_currency="GBP").source == "manual"
    sandbox.set_faults(fx_drift_bps=250)
    try:
        assert fx_rates_import() == 15  # GBP, set by hand, is kept
    finally:
        sandbox.set_faults(fx_drift_bps=0)
    assert FxRate.objects.get(quote_currency="EUR").rate == Decimal("0.944332")
    assert FxRate.objects.get(quote_currency="GBP").rate == Decimal("0.8")


def test_a_eur_payment_to_a_usd_merchant_is_converted_at_the_locked_rate(api_client, merchant, rates):
    response = pay(api_client, 10000, "EUR", confirm=True)
    assert response.status_code == 201, response.content
    body = response.json()
    rate = locked(EUR_PER_USD)
    settled = convert(10000, "EUR", "USD", rate)
    assert settled == 10746
    assert (body["status"], body["currency"], body["settlement_currency"]) == ("succeeded", "EUR", "USD")
    assert body["settlement_amount"] == settled and Decimal(body["fx_rate"]) == rate
    assert isinstance(body["fx_rate"], str)

    fee = (312 + 30) + 107  # 2.9 % + 30 of 107.46 USD, and the 1 % cross-border fee
    assert balances(merchant) == {"USD": settled - fee}
    entry = JournalEntry.objects.get(source=body["id"], type="charge")
    assert entry.currency == "EUR"
    by_account = {(p.account.code, p.account.currency): p.amount for p in entry.postings.select_related("account")}
    assert by_account == {
        ("processor_receivable", "EUR"): 10000,
        ("fx_clearing", "EUR"): -10000,
        ("fx_clearing", "USD"): settled,
        ("merchant_available", "USD"): -(settled - fee),
        ("fee_revenue", "USD"): -fee,
    }
    txn = api_client.get("/api/v1/balance_transactions").json()["data"][0]
    assert (txn["currency"], txn["amount"], txn["fee"], txn["net"]) == ("USD", settled, fee, settled - fee)

    # A later rate change does not touch the confirmed payment.
    eur = FxRate.objects.get(quote_currency="EUR")
    eur.rate = Decimal("0.5")
    fx_rate_set(rate=eur, actor="staff:finance")
    assert Decimal(api_client.get(f"/api/v1/payments/{body['id']}").json()["fx_rate"]) == rate


def test_refunds_of_a_converted_payment_use_the_locked_rate(api_client, merchant, rates):
    body = pay(api_client, 10000, "EUR", confirm=True).json()
    before = balances(merchant)["USD"]
    FxRate.objects.filter(quote_currency="EUR").update(rate=Decimal("0.5"))  # the rate moves afterwards
    refund = post(api_client, "/api/v1/refunds", {"payment": body["id"], "amount": 5000})
    assert refund.status_code == 201, refund.content
    assert refund.json()["status"] == "succeeded" and refund.json()["currency"] == "EUR"
    assert balances(merchant)["USD"] == before - convert(5000, "EUR", "USD", locked(EUR_PER_USD))
    assert set(balances(merchant)) == {"USD"}


def test_jpy_conversion_rounds_half_even_in_cents(api_client, merchant, rates):
    body = pay(api_client, 2500, "JPY", confirm=True).json()
    rate = locked(JPY_PER_USD)
    assert Decimal(body["fx_rate"]) == rate
    assert body["settlement_amount"] == convert(2500, "JPY", "USD", rate) == 1637  # 16.3658… USD


def test_a_manual_capture_is_converted_when_captured(api_client, merchant, rates):
    body = pay(api_client, 10000, "EUR", confirm=True, capture_method="manual").json()
    assert body["status"] == "requires_capture" and body["settlement_amount"] == 10746
    captured = post(api_client, f"/api/v1/payments/{body['id']}/capture", {"amount": 4000})
    assert captured.status_code == 200, captured.content
    settled = convert(4000, "EUR", "USD", locked(EUR_PER_USD))
    fee = round(settled * Decimal("0.029")) + 30 + round(settled * Decimal("0.01"))
    assert balances(merchant)["USD"] == settled - int(fee)


def test_a_payment_in_the_settlement_currency_is_not_converted(api_client, rates):
    body = pay(api_client, 1999, "USD", confirm=True).json()
    assert (body["settlement_currency"], body["settlement_amount"], body["fx_rate"]) == ("USD", 1999, None)
    assert not Account.objects.filter(code="fx_clearing").exists()


def sandbox_charges(sandbox) -> list[dict]:
    response = sandbox.request("GET", "/v1/charges")
    response.raise_for_status()
    return response.json()["data"]


def assert_refused_for_want_of_a_rate(response, currency: str, settlement_currency: str = "USD") -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "currency_conversion_unavailable",
        "currency",
    )
    assert f"{currency} to {settlement_currency}" in error["message"]


# --- A pair without a rate is refused, never settled unconverted (issue 11, item 9) ---------


def test_a_payment_in_a_currency_without_a_rate_is_refused_when_created(api_client, merchant, sandbox):
    """Needs the call to ``fx_require_rate`` at the top of ``payments.services.payment_create``."""
    assert not FxRate.objects.exists()
    response = pay(api_client, 10000, "EUR")
    assert_refused_for_want_of_a_rate(response, "EUR")
    assert not Payment.objects.exists()


def test_a_payment_created_and_confirmed_without_a_rate_is_refused_and_nothing_is_charged(
    api_client, merchant, sandbox
):
    assert not FxRate.objects.exists()
    charges_before = len(sandbox_charges(sandbox))
    response = pay(api_client, 10000, "EUR", confirm=True)
    assert_refused_for_want_of_a_rate(response, "EUR")
    assert not Payment.objects.exists()
    assert len(sandbox_charges(sandbox)) == charges_before  # the processor was never asked to charge
    assert "EUR" not in balances(merchant)
    assert not Account.objects.filter(currency="EUR").exists()
    assert not JournalEntry.objects.exists()


def test_confirming_a_payment_whose_rate_is_gone_is_refused_then_succeeds_once_rates_are_imported(
    api_client, merchant, processor, sandbox
):
    FxRate.objects.create(base_currency="USD", quote_currency="EUR", rate=EUR_PER_USD)  # so creation is allowed
    created = pay(api_client, 10000, "EUR")
    assert created.status_code == 201, created.content
    payment_id = created.json()["id"]
    FxRate.objects.all().delete()

    response = post(api_client, f"/api/v1/payments/{payment_id}/confirm")
    assert_refused_for_want_of_a_rate(response, "EUR")
    payment = Payment.objects.get(pk=payment_id)
    assert (payment.status, payment.settlement_currency, payment.fx_rate) == ("requires_confirmation", None, None)
    assert processor.charges_for(reference=payment_id) == []
    assert "EUR" not in balances(merchant) and not Account.objects.filter(currency="EUR").exists()

    assert fx_rates_import() == 16
    confirmed = post(api_client, f"/api/v1/payments/{payment_id}/confirm")  # a new key: a new request
    assert confirmed.status_code == 200, confirmed.content
    body = confirmed.json()
    assert (body["status"], body["settlement_currency"], body["settlement_amount"]) == ("succeeded", "USD", 10746)
    assert set(balances(merchant)) == {"USD"}


def test_a_currency_missing_from_the_feed_is_refused(api_client, merchant, rates):
    charges_before = len(sandbox_charges(rates))
    response = pay(api_client, 1000, "BRL", confirm=True)  # the sandbox's feed has no BRL
    assert_refused_for_want_of_a_rate(response, "BRL")
    assert not Payment.objects.exists()
    assert len(sandbox_charges(rates)) == charges_before
    assert set(balances(merchant)) <= {"USD"}


def test_a_payment_in_the_settlement_currency_needs_no_rate(other_api_client, other_merchant, sandbox):
    assert not FxRate.objects.exists()
    response = pay(other_api_client, 2000, "EUR", confirm=True)  # other_merchant settles in EUR
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["settlement_currency"], body["settlement_amount"], body["fx_rate"]) == (
        "succeeded",
        "EUR",
        2000,
        None,
    )
    assert set(balances(other_merchant)) == {"EUR"}


def test_the_conversion_service_never_settles_unconverted(db):
    from payments.errors import CurrencyConversionUnavailable
    from payments.fx_services import fx_lock_conversion, fx_require_rate

    same = fx_lock_conversion(amount=500, currency="USD", settlement_currency="USD")
    assert (same.settlement_currency, same.settlement_amount, same.fx_rate) == ("USD", 500, None)
    fx_require_rate(currency="USD", settlement_currency="USD")  # no rate needed
    for check in (
        lambda: fx_lock_conversion(amount=500, currency="EUR", settlement_currency="USD"),
        lambda: fx_require_rate(currency="EUR", settlement_currency="USD"),
    ):
        with pytest.raises(CurrencyConversionUnavailable) as raised:
            check()
        assert (error_answer(raised.value).status, raised.value.code, raised.value.param) == (
            400,
            "currency_conversion_unavailable",
            "currency",
        )
    FxRate.objects.create(base_currency="USD", quote_currency="EUR", rate=EUR_PER_USD)
    fx_require_rate(currency="EUR", settlement_currency="USD")
    fx_require_rate(currency="USD", settlement_currency="EUR")  # the inverse of a known rate
    assert fx_lock_conversion(amount=500, currency="EUR", settlement_currency="USD").settlement_currency == "USD"


def test_the_margin_is_configurable(rates, settings):
    settings.FX_MARGIN_BPS = 0
    assert fx_locked_rate(from_currency="USD", to_currency="EUR") == EUR_PER_USD
    assert fx_locked_rate(from_currency="EUR", to_currency="JPY") == (JPY_PER_USD / EUR_PER_USD).quantize(
        Decimal("1e-10"), rounding=ROUND_HALF_EVEN
    )


def test_fx_clearing_balances_per_currency(api_client, rates):
    pay(api_client, 10000, "EUR", confirm=True)
    pay(api_client, 2500, "JPY", confirm=True)
    for currency in ("EUR", "JPY", "USD"):
        assert sum(Posting.objects.filter(account__currency=currency).values_list("amount", flat=True)) == 0


def test_a_dispute_on_a_converted_payment_moves_the_settlement_balance(api_client, merchant, rates):
    import time

    from gateways.base import Dispute as ProcessorDispute
    from payments.dispute_services import dispute_apply_processor_dispute

    body = pay(api_client, 10000, "EUR", confirm=True).json()
    after_capture = balances(merchant)["USD"]
    base = dict(
        processor_id="dsp_fx_1",
        charge_id="ch_x",
        payment_reference=body["id"],
        amount=10000,
        currency="EUR",
        reason="fraudulent",
        evidence_due_by=int(time.time()) + 3600,
        evidence={},
    )
    dispute = dispute_apply_processor_dispute(answer=ProcessorDispute(**base, status="needs_response"), actor="test")
    rate = locked(EUR_PER_USD)
    amount_usd, fee_usd = convert(10000, "EUR", "USD", rate), convert(dispute.fee, "EUR", "USD", rate)
    assert balances(merchant) == {"USD": after_capture - amount_usd - fee_usd}
    dispute_apply_processor_dispute(answer=ProcessorDispute(**base, status="won"), actor="test")
    assert balances(merchant) == {"USD": after_capture - fee_usd}


def test_finance_edits_rates_in_the_admin(rates):
    from core.models import AuditEntry
    from tests.staff import client_for, staff_user

    client = client_for(staff_user("fin", "Finance"))
    eur = FxRate.objects.get(quote_currency="EUR")
    page = client.get(f"/admin/payments/fxrate/{eur.pk}/change/")
    assert page.status_code == 200
    saved = client.post(
        f"/admin/payments/fxrate/{eur.pk}/change/", {"base_currency": "USD", "quote_currency": "EUR", "rate": "0.95"}
    )
    assert saved.status_code == 302, saved.content[:2000]
    eur.refresh_from_db()
    assert (eur.rate, eur.source) == (Decimal("0.95"), "manual")
    assert AuditEntry.objects.filter(action="fx_rate.set", object_id=str(eur.pk)).exists()


def test_import_fx_rates_command(sandbox, db, capsys):
    from django.core.management import call_command

    call_command("import_fx_rates")
    assert "imported" in capsys.readouterr().out
    assert FxRate.objects.filter(base_currency="USD", quote_currency="EUR").exists()


def test_import_fx_rates_command_fails_when_the_processor_is_down(settings, db):
    from django.core.management import CommandError, call_command

    configure_processor(settings, base_url="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="did not answer"):
        call_command("import_fx_rates")
