"""Forms of the back office's pages. They parse; the services decide.

People type amounts as written on a statement, in the currency's major units ("25.00",
"1,234.56", "500" yen): ``MajorUnitsAmountField`` reads them and ``MajorUnitsForm`` turns
them into integers in the currency's minor unit, as the services and the API take them
(25.00 USD is 2500). A hidden one-time ``token`` lets the service recognise a form
submitted twice (a double click, a reload).
"""

import re
import uuid
from decimal import Decimal

from django import forms

from core.money import CURRENCY_CHOICES, MAX_AMOUNT, exponent, to_major
from merchants.models import Merchant
from payments.models import EVIDENCE_FIELDS, CancellationReason, RefundReason
from reconciliation.forms import ResolveForm

# Digits with an optional sign, thousands separated by commas (all groups of three) or not at all, and an
# optional fraction: "25", "25.5", "-7.50", "1,234.56", "1234.56". Not "1,23", "2.5e3", "NaN" or "€25".
_MAJOR_UNITS = re.compile(r"^(?P<sign>[-+]?)(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<fraction>\d+))?$")


def major_units_to_minor(typed: Decimal, currency: str) -> int:
    """``Decimal("25.50"), "USD"`` → ``2550``; ``Decimal("500"), "JPY"`` → ``500``.

    Raises ``ValidationError`` when the amount has more decimal places than the currency has (25.505 USD,
    5.5 JPY) or is beyond the API's limit (``MAX_AMOUNT`` minor units, either sign)."""
    places = exponent(currency)
    minor = typed.scaleb(places)
    if minor != minor.to_integral_value():
        if places == 0:
            raise forms.ValidationError(f"{currency} has no decimal places: type a whole number.", code="places")
        raise forms.ValidationError(f"{currency} has {places} decimal places at most.", code="places")
    if abs(minor) > MAX_AMOUNT:
        limit = to_major(MAX_AMOUNT, currency)
        raise forms.ValidationError(f"The amount is above the limit of {limit:,} {currency}.", code="max_amount")
    return int(minor)


def minor_to_major_units(amount: int | None, currency: str) -> str:
    """``2550, "USD"`` → ``"25.50"``: an amount in minor units as a form shows it for editing (no separators)."""
    if amount is None:
        return ""
    return f"{to_major(amount, currency):.{exponent(currency)}f}"


class MajorUnitsAmountField(forms.Field):
    """An amount typed in the currency's major units; cleans to the ``Decimal`` typed (the form, which knows
    the currency, makes it minor units: ``MajorUnitsForm``).

    Above zero unless ``allow_negative`` (then either sign, never zero)."""

    widget = forms.TextInput
    max_length = 24

    def __init__(self, *, allow_negative: bool = False, **kwargs):
        self.allow_negative = allow_negative
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "inputmode": "decimal", "autocomplete": "off", "maxlength": "24"}

    def to_python(self, value):
        text = "" if value is None else str(value).strip().replace(" ", "").replace("\u00a0", "")
        if text in self.empty_values:
            return None
        match = _MAJOR_UNITS.match(text) if len(text) <= self.max_length else None
        if match is None:
            example = "-25.00" if self.allow_negative else "25.00"
            raise forms.ValidationError(f"Type an amount such as {example} or 1,234.56.", code="invalid")
        typed = Decimal(f"{match['sign']}{match['whole'].replace(',', '')}.{match['fraction'] or '0'}")
        if typed == 0 and self.allow_negative:
            raise forms.ValidationError("An amount of zero changes nothing.", code="zero")
        if typed <= 0 and not self.allow_negative:
            raise forms.ValidationError("The amount must be above zero.", code="negative")
        return typed


class MajorUnitsForm(forms.Form):
    """A form whose ``MajorUnitsAmountField`` values come out of ``cleaned_data`` as integers in minor units.

    The currency is the one given to the form (``currency=``, e.g. the payment's) or else its ``currency``
    field; the amount fields' labels name it when it is given."""

    def __init__(self, *args, currency: str | None = None, **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)
        for field in self._amount_fields():
            if currency:
                field.label = f"{field.label or 'Amount'} ({currency})"
                field.widget.attrs.setdefault("placeholder", minor_to_major_units(2500, currency))

    def _amount_fields(self):
        return [field for field in self.fields.values() if isinstance(field, MajorUnitsAmountField)]

    def clean(self):
        cleaned = super().clean()
        currency = self.currency or cleaned.get("currency")
        for name, field in self.fields.items():
            typed = cleaned.get(name)
            if not isinstance(field, MajorUnitsAmountField) or typed is None:
                continue
            if not currency:
                # Never a Decimal to a service: the currency field's own error is shown, or this one.
                if "currency" in self.fields:
                    del cleaned[name]
                else:
                    self.add_error(name, "There is no currency to read this amount in.")
                continue
            try:
                cleaned[name] = major_units_to_minor(typed, currency)
            except forms.ValidationError as error:
                self.add_error(name, error)
        return cleaned


class OnceForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)


def _no_preselection(choices) -> list[tuple[str, str]]:
    """A choice list whose first entry is empty, so that a person picks one (the field being required)."""
    return [("", "— choose —"), *choices]


class StaffRefundForm(OnceForm, MajorUnitsForm):
    """A refund of a payment: the amount in the payment's currency (``currency=payment.currency``)."""

    amount = MajorUnitsAmountField(help_text="In the currency's major units, as the customer sees it: 25.00.")
    reason = forms.ChoiceField(choices=_no_preselection(RefundReason.choices))
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Why: kept in the audit trail (and shown to the approver).",
    )


class CaptureForm(MajorUnitsForm):
    """A capture of an authorised payment (``currency=payment.currency``)."""

    amount = MajorUnitsAmountField(
        required=False,
        help_text="In the currency's major units (25.00); empty captures all that is authorised.",
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


class LedgerAdjustmentForm(OnceForm, MajorUnitsForm):
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.order_by("name"))
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    amount = MajorUnitsAmountField(
        allow_negative=True,
        help_text="Signed, in the currency's major units: 25.00 credits the merchant's available balance, "
        "-25.00 debits it.",
    )
    memo = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: recorded on the journal entry and in the audit trail.",
    )


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


class StaffPayoutForm(OnceForm, MajorUnitsForm):
    """Pay a merchant out by hand: the amount in the currency's major units (25.00), as a person types it."""

    merchant = forms.ModelChoiceField(
        queryset=Merchant.objects.all(), to_field_name="id", widget=forms.TextInput(attrs={"placeholder": "mch_…"})
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    amount = MajorUnitsAmountField(
        help_text="In the currency's major units, as written on a statement: 25.00 for twenty-five dollars.",
    )
    description = forms.CharField(max_length=1000, required=False, help_text="Shown to the merchant with the payout.")
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why it is paid out by hand: kept in the audit trail.",
    )


class ReconciliationAdjustForm(MajorUnitsForm, ResolveForm):
    """Resolve a reconciliation exception with a ledger adjustment, in the exception's currency
    (``currency=exception.currency``)."""

    amount = MajorUnitsAmountField(
        allow_negative=True,
        help_text="Signed, in the currency's major units: 10.00 credits the merchant's available balance, "
        "-10.00 debits it.",
    )
