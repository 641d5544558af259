"""Forms and pages that fit a person (issue 17): amounts in major units, no preselected reason, statuses that say
what happened, one date format, actions only for those who may use them, no "View site" to a 404 page."""

import re

import pytest
from django.contrib.admin.utils import quote

from backoffice.forms import (
    CaptureForm,
    LedgerAdjustmentForm,
    ReconciliationAdjustForm,
    StaffPayoutForm,
    StaffRefundForm,
)
from backoffice.models import LedgerAdjustment, RefundRequest
from backoffice.selectors import payment_display_status
from payments.models import Refund
from tests.backoffice.conftest import client_for, payment_row
from tests.backoffice.test_refund_rules import disputed_row, returned_row

LIST = "/admin/payments/payment/"


def page(payment) -> str:
    return f"/admin/payments/payment/{quote(payment.pk)}/change/"


def refund_form(amount: str, currency: str = "USD") -> StaffRefundForm:
    return StaffRefundForm({"amount": amount, "reason": "duplicate", "note": "", "token": "t"}, currency=currency)


# --- Amounts typed in major units ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("25", "USD", 2_500),
        ("25.5", "USD", 2_550),
        ("25.50", "USD", 2_550),
        (" 25.50 ", "EUR", 2_550),
        ("1,234.56", "USD", 123_456),
        ("1234.56", "USD", 123_456),
        ("1,000,000", "USD", 100_000_000),
        ("0.01", "USD", 1),
        ("500", "JPY", 500),
        ("1,500", "JPY", 1_500),
        ("12.345", "BHD", 12_345),
        ("999,999,999.99", "USD", 99_999_999_999),
    ],
)
def test_an_amount_typed_in_major_units_becomes_minor_units(typed, currency, minor):
    form = refund_form(typed, currency)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == minor and type(form.cleaned_data["amount"]) is int


@pytest.mark.parametrize(
    ("typed", "currency", "says"),
    [
        ("25.505", "USD", "USD has 2 decimal places at most."),
        ("5.5", "JPY", "JPY has no decimal places: type a whole number."),
        ("12.3456", "BHD", "BHD has 3 decimal places at most."),
        ("-5", "USD", "The amount must be above zero."),
        ("0", "USD", "The amount must be above zero."),
        ("0.00", "USD", "The amount must be above zero."),
        ("1,000,000,000.00", "USD", "The amount is above the limit of 999,999,999.99 USD."),
        ("100,000,000,000", "JPY", "The amount is above the limit of 99,999,999,999 JPY."),
        ("abc", "USD", "Type an amount such as 25.00 or 1,234.56."),
        ("25,50", "EUR", "Type an amount such as 25.00 or 1,234.56."),  # a decimal comma is not guessed at
        ("1,23", "USD", "Type an amount such as 25.00 or 1,234.56."),
        ("2.5e3", "USD", "Type an amount such as 25.00 or 1,234.56."),
        ("NaN", "USD", "Type an amount such as 25.00 or 1,234.56."),
        ("€25", "EUR", "Type an amount such as 25.00 or 1,234.56."),
        ("1" * 30, "USD", "Type an amount such as 25.00 or 1,234.56."),
        ("", "USD", "This field is required."),
    ],
)
def test_a_bad_amount_is_a_form_error(typed, currency, says):
    form = refund_form(typed, currency)
    assert not form.is_valid()
    assert form.errors["amount"] == [says]


def test_capture_amount_is_optional_and_in_major_units():
    assert CaptureForm({"amount": ""}, currency="USD").is_valid()
    empty = CaptureForm({"amount": ""}, currency="USD")
    empty.is_valid()
    assert empty.cleaned_data["amount"] is None
    form = CaptureForm({"amount": "12.34"}, currency="USD")
    assert form.is_valid() and form.cleaned_data["amount"] == 1_234
    assert CaptureForm({"amount": "12.345"}, currency="USD").errors["amount"] == ["USD has 2 decimal places at most."]
    assert "Amount (EUR)" in str(CaptureForm(currency="EUR")["amount"].label_tag())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("-7.50", "USD", -750), ("7.5", "USD", 750), ("-1,500", "JPY", -1_500), ("-0.005", "BHD", -5)],
)
def test_an_adjustment_is_signed_in_the_chosen_currency(merchant, typed, currency, minor):
    data = {"merchant": merchant.pk, "amount": typed, "currency": currency, "memo": "x", "token": "t"}
    form = LedgerAdjustmentForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == minor


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "currency", "says"),
    [
        ("0", "USD", "An amount of zero changes nothing."),
        ("-1.001", "USD", "USD has 2 decimal places at most."),
        ("-1,000,000,000", "USD", "The amount is above the limit of 999,999,999.99 USD."),
        ("1.5", "JPY", "JPY has no decimal places: type a whole number."),
    ],
)
def test_a_bad_adjustment_amount_is_a_form_error(merchant, typed, currency, says):
    data = {"merchant": merchant.pk, "amount": typed, "currency": currency, "memo": "x", "token": "t"}
    assert LedgerAdjustmentForm(data).errors["amount"] == [says]


@pytest.mark.django_db
def test_a_payout_by_hand_uses_the_same_field(merchant):
    data = {"merchant": merchant.pk, "currency": "JPY", "amount": "1,500", "reason": "asked", "token": "t"}
    form = StaffPayoutForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == 1_500
    assert StaffPayoutForm({**data, "amount": "-5"}).errors["amount"] == ["The amount must be above zero."]
    # An unknown currency is the currency's error only (the amount cannot be read without one).
    assert set(StaffPayoutForm({**data, "currency": "XXX"}).errors) == {"currency"}


def test_a_reconciliation_adjustment_is_in_the_exceptions_currency():
    form = ReconciliationAdjustForm({"amount": "-1,500", "note": "kept by the processor"}, currency="JPY")
    assert form.is_valid() and form.cleaned_data["amount"] == -1_500
    form = ReconciliationAdjustForm({"amount": "-15.001", "note": "x"}, currency="EUR")
    assert form.errors["amount"] == ["EUR has 2 decimal places at most."]
    # An exception without a currency: the amount cannot be read, and never reaches the service as a Decimal.
    form = ReconciliationAdjustForm({"amount": "-15.00", "note": "x"}, currency=None)
    assert form.errors["amount"] == ["There is no currency to read this amount in."]


@pytest.mark.django_db
def test_the_adjustment_page_takes_major_units(merchant, finance):
    client = client_for(finance)
    token = client.get("/admin/backoffice/ledgeradjustment/add/").context["form"].initial["token"]
    response = client.post(
        "/admin/backoffice/ledgeradjustment/add/",
        {"merchant": merchant.pk, "amount": "1,234.50", "currency": "USD", "memo": "correction", "token": token},
    )
    assert response.status_code == 302
    assert LedgerAdjustment.objects.get().amount == 123_450


@pytest.mark.django_db
def test_the_amount_filter_is_in_major_units_of_the_chosen_currency(merchant, support):
    usd = payment_row(merchant, amount=2_500)  # 25.00 USD
    jpy = payment_row(merchant, amount=25, amount_captured=25, currency="JPY")  # 25 JPY
    client = client_for(support)

    def listed(**params):
        return {payment.pk for payment in client.get(LIST, params).context["cl"].result_list}

    assert listed(amount_min="25", amount_max="25.00") == {usd.pk}
    assert listed(amount_min="1,000.00") == set()
    assert listed(amount_min="25", amount_max="25", currency="JPY") == {jpy.pk}
    # Too many decimals for the currency, or not an amount: the admin's "invalid filter" page, not a crash.
    for params in ({"amount_min": "25.001"}, {"amount_min": "2.5", "currency": "JPY"}, {"amount_max": "lots"}):
        response = client.get(LIST, params, follow=True)
        assert response.status_code == 200 and response.redirect_chain[-1][0].endswith("?e=1")


# --- The refund form -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_refund_form_preselects_no_reason_and_requires_one(merchant, support):
    payment = payment_row(merchant, amount=4_000, amount_captured=4_000)
    client = client_for(support)
    response = client.get(f"/admin/payments/payment/{quote(payment.pk)}/refund/")
    body = response.content.decode()
    select = re.search(r'<select name="reason"[^>]*>(.*?)</select>', body, re.S).group(1)
    assert re.match(r'\s*<option value="" selected>', select), select
    assert "selected" not in select.split("</option>", 1)[1]
    assert 'value="40.00"' in body and "Amount (USD)" in body
    token = response.context["form"].initial["token"]
    refused = client.post(
        f"/admin/payments/payment/{quote(payment.pk)}/refund/", {"amount": "10.00", "note": "", "token": token}
    )
    assert refused.status_code == 200 and refused.context["form"].errors["reason"] == ["This field is required."]
    assert not Refund.objects.exists() and not RefundRequest.objects.exists()


# --- Statuses that say what happened -----------------------------------------------------------------


def _said(client, payment) -> tuple[str, str]:
    """The status as the payments list and the payment's page show it."""
    pattern = r'<span class="payment-status" title="API status: (\w+)">([^<]+)</span>'
    listed = dict(
        (found[1], found[0]) for found in re.findall(pattern, client.get(LIST, {"q": payment.pk}).content.decode())
    )
    on_page = re.findall(pattern, client.get(page(payment)).content.decode())
    assert len(on_page) == 1 and on_page[0][0] == payment.status
    assert list(listed) == [on_page[0][1]]
    return on_page[0][1], payment_display_status(payment)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda merchant: payment_row(merchant), "Succeeded"),
        (lambda merchant: payment_row(merchant, amount_refunded=2_500), "Partially refunded"),
        (lambda merchant: payment_row(merchant, amount_refunded=10_000), "Refunded"),
        (lambda merchant: returned_row(merchant), "Returned (R01)"),
        (lambda merchant: disputed_row(merchant), "Disputed"),
        (lambda merchant: disputed_row(merchant, status="under_review"), "Disputed"),
        (lambda merchant: disputed_row(merchant, status="lost"), "Dispute lost"),
        (lambda merchant: disputed_row(merchant, status="won", amount_refunded=1_000), "Dispute won"),
        (
            lambda merchant: payment_row(merchant, status="requires_capture", amount_captured=0),
            "Requires capture",
        ),
        (lambda merchant: payment_row(merchant, status="failed", amount_captured=0), "Failed"),
    ],
    ids=[
        "succeeded",
        "partially-refunded",
        "refunded",
        "returned",
        "disputed",
        "dispute-under-review",
        "dispute-lost",
        "dispute-won",
        "requires-capture",
        "failed",
    ],
)
def test_the_status_says_what_happened_in_the_list_and_on_the_page(merchant, support, make, expected):
    payment = make(merchant)
    assert payment.status in ("succeeded", "requires_capture", "failed")
    assert _said(client_for(support), payment) == (expected, expected)


@pytest.mark.django_db
def test_a_returned_transfer_is_not_said_to_have_succeeded(merchant, support):
    payment = returned_row(merchant)
    assert payment.status == "succeeded"
    body = client_for(support).get(page(payment)).content.decode()
    assert "Returned (R01)" in body and "API status" in body


# --- One date format -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dates_are_written_one_way_on_the_payment_page(merchant, support, finance):
    payment = disputed_row(merchant)
    for client in (client_for(support), client_for(finance)):
        body = client.get(page(payment)).content.decode()
        # (ISO timestamps inside the audit trail's before/after JSON are data, written as the API writes them.)
        stamps = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?(?: UTC)?", body)
        assert stamps and all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", stamp) for stamp in stamps), stamps
        assert not re.search(r"\b(a\.m\.|p\.m\.|midnight|noon)", body)
        assert payment.created.strftime("%Y-%m-%d %H:%M UTC") in body
        dispute = payment.disputes.get()
        disputes = client.get("/admin/payments/dispute/").content.decode()
        assert dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC") in disputes


# --- "View site" and the buttons ---------------------------------------------------------------------


@pytest.mark.django_db
def test_there_is_no_view_site_link(support):
    body = client_for(support).get("/admin/").content.decode()
    assert "View site" not in body


@pytest.mark.django_db
def test_support_is_shown_no_finance_buttons(merchant, support, finance):
    payment = payment_row(merchant, status="requires_capture", amount_captured=0, amount_capturable=10_000)
    support_body = client_for(support).get(page(payment)).content.decode()
    assert "data-action=" not in support_body
    finance_body = client_for(finance).get(page(payment)).content.decode()
    assert 'data-action="capture"' in finance_body and 'data-action="cancel"' in finance_body
    # A final payment offers nothing to anyone.
    canceled = payment_row(merchant, status="canceled", amount_captured=0)
    assert "data-action=" not in client_for(finance).get(page(canceled)).content.decode()
    # Adding a ledger adjustment is Finance's: Support sees no "Add" on the list.
    assert client_for(support).get("/admin/backoffice/ledgeradjustment/").status_code == 403
    adjustments = client_for(finance).get("/admin/backoffice/ledgeradjustment/").content.decode()
    assert "/admin/backoffice/ledgeradjustment/add/" in adjustments


@pytest.mark.django_db
def test_ledger_postings_are_listed_in_major_units_with_their_sign(merchant, finance):
    payment_row(merchant, amount=12_345, amount_captured=12_345)  # its capture's postings
    body = client_for(finance).get("/admin/ledger/posting/").content.decode()
    assert "123.45 USD" in body and re.search(r">-\d[\d,]*\.\d{2} USD<", body)
    assert not re.search(r">-?12345<", body)
