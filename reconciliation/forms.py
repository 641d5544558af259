"""Forms of the reconciliation pages in the admin. They parse; the services decide."""

from django import forms

from core.money import MAX_AMOUNT


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        strip=True,
        help_text="Why: kept with the exception and in the audit trail.",
    )


class AdjustForm(ResolveForm):
    amount = forms.IntegerField(
        min_value=-MAX_AMOUNT,
        max_value=MAX_AMOUNT,
        help_text="Signed, in minor units of the exception's currency: positive credits the merchant's available "
        "balance, negative debits it.",
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of zero changes nothing.")
        return amount
