"""Forms of the back office's pages. They parse; the services decide.

Amounts are integers in the currency's minor unit, as in the API (1999 is 19.99 USD);
the pages show each amount formatted next to the box. A hidden one-time ``token``
lets the service recognise a form submitted twice (a double click, a reload).
"""

import uuid
from decimal import Decimal, InvalidOperation

from django import forms

from core.money import CURRENCY_CHOICES, MAX_AMOUNT, exponent
from merchants.models import Merchant
from payments.models import EVIDENCE_FIELDS, CancellationReason, RefundReason


class OnceForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)


class StaffRefundForm(OnceForm):
    amount = forms.IntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="In minor units (1999 = 19.99 USD).")
    reason = forms.ChoiceField(choices=RefundReason.choices)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Why: kept in the audit trail (and shown to the approver).",
    )


class CaptureForm(forms.Form):
    amount = forms.IntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        required=False,
        help_text="In minor units; empty captures all that is authorised.",
    )


class CancelForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[("", "—")] + [c for c in CancellationReason.choices if c[0] != CancellationReason.EXPIRED],
        required=False,
    )


class DecisionForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Kept in the audit trail. Required to reject.",
    )


class DisputeEvidenceForm(forms.Form):
    customer_communication = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20000)
    shipping_documentation = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20000)
    refund_policy = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20000)
    uncategorized_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20000)

    def clean(self):
        data = super().clean()
        if not any((data.get(name) or "").strip() for name in EVIDENCE_FIELDS):
            raise forms.ValidationError("Submit at least one evidence field with text.")
        return data


class DisputeAcceptForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Why the dispute is conceded: kept in the audit trail.")


class LedgerAdjustmentForm(OnceForm):
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.order_by("name"))
    amount = forms.IntegerField(
        min_value=-MAX_AMOUNT,
        max_value=MAX_AMOUNT,
        help_text="Signed, in minor units: positive credits the merchant's available balance, negative debits it.",
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    memo = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: recorded on the journal entry and in the audit trail.",
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of zero changes nothing.")
        return amount


class PayoutHoldForm(forms.Form):
    """Hold a merchant's payouts: which merchant (by id), and why (kept in the audit trail, never shown to the
    merchant)."""

    merchant = forms.ModelChoiceField(
        queryset=Merchant.objects.all(), to_field_name="id", widget=forms.TextInput(attrs={"placeholder": "mch_…"})
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: kept in the audit trail. The merchant is only told that its payouts are on hold.",
    )


class PayoutReleaseForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why: kept in the audit trail."
    )


class StaffPayoutForm(OnceForm):
    """Pay a merchant out by hand: the amount in the currency's major units (25.00), as a person types it."""

    merchant = forms.ModelChoiceField(
        queryset=Merchant.objects.all(), to_field_name="id", widget=forms.TextInput(attrs={"placeholder": "mch_…"})
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    amount = forms.CharField(
        max_length=20,
        help_text="In the currency's major units, as written on a statement: 25.00 for twenty-five dollars.",
    )
    description = forms.CharField(max_length=1000, required=False, help_text="Shown to the merchant with the payout.")
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why it is paid out by hand: kept in the audit trail.",
    )

    def clean(self):
        cleaned = super().clean()
        currency, typed = cleaned.get("currency"), cleaned.get("amount")
        if not currency or typed is None:
            return cleaned
        places = exponent(currency)
        try:
            major = Decimal(typed.replace(",", "").strip())
        except InvalidOperation:
            self.add_error("amount", "Type an amount such as 25.00.")
            return cleaned
        minor = major.scaleb(places)
        if not major.is_finite() or minor != minor.to_integral_value():
            self.add_error("amount", f"{currency} has {places} decimal places at most.")
        elif not 0 < minor <= MAX_AMOUNT:
            self.add_error("amount", "The amount must be above zero and within the API's limit.")
        else:
            cleaned["amount_minor"] = int(minor)
        return cleaned
