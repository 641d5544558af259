"""Forms of the reconciliation pages in the admin. They parse; the services decide. (The adjustment's form, whose
amount is typed in major units, is ``backoffice.forms.ReconciliationAdjustForm``.)"""

from django import forms


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        strip=True,
        help_text="Why: kept with the exception and in the audit trail.",
    )
