from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from core.staff import staff_actor
from merchants.models import MAX_PAYOUT_DELAY_DAYS, ApiKey, Merchant
from merchants.services import (
    api_key_issue,
    api_key_revoke,
    merchant_payout_schedule_update,
    merchant_reactivate,
    merchant_suspend,
)

# The payout schedule's fields and their names in ``merchant_payout_schedule_update`` (and the API).
PAYOUT_SCHEDULE_FIELDS = {
    "payout_interval": "interval",
    "payout_delay_days": "delay_days",
    "payout_weekly_anchor": "weekly_anchor",
}


class MerchantForm(forms.ModelForm):
    class Meta:
        model = Merchant
        fields = (
            "name",
            "settlement_currency",
            "status",
            "payout_interval",
            "payout_delay_days",
            "payout_weekly_anchor",
        )

    def clean_payout_delay_days(self):
        days = self.cleaned_data["payout_delay_days"]
        if days is not None and days > MAX_PAYOUT_DELAY_DAYS:
            raise forms.ValidationError(f"At most {MAX_PAYOUT_DELAY_DAYS} days.")
        return days


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "name", "created", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "settlement_currency", "status", "created")
    list_filter = ("status", "settlement_currency")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created")
    form = MerchantForm
    inlines = [ApiKeyInline]
    actions = ["suspend", "reactivate"]

    def save_model(self, request, obj, form, change):
        """A change of the payout schedule goes through ``merchant_payout_schedule_update``, the service of
        ``POST /api/v1/account``: under the merchant's row lock, with its audit entry
        (``merchant.payout_schedule``, before and after) naming the staff member. The other fields are saved as
        the admin saves them."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Only the fields the form changed (the audit entry's after, and the save, are about those).
        schedule = {
            name: form.cleaned_data[field]
            for field, name in PAYOUT_SCHEDULE_FIELDS.items()
            if field in form.changed_data
        }
        others = [field for field in form.changed_data if field not in PAYOUT_SCHEDULE_FIELDS]
        if others:
            obj.save(update_fields=others)
        if schedule:
            merchant_payout_schedule_update(merchant=obj, actor=staff_actor(request.user), **schedule)

    @admin.action(description="Suspend the selected merchants (their keys stop working)")
    def suspend(self, request, queryset):
        for merchant in queryset:
            merchant_suspend(merchant=merchant)
        self.message_user(request, f"Suspended {queryset.count()} merchant(s).")

    @admin.action(description="Reactivate the selected merchants")
    def reactivate(self, request, queryset):
        for merchant in queryset:
            merchant_reactivate(merchant=merchant)
        self.message_user(request, f"Reactivated {queryset.count()} merchant(s).")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix_display", "merchant", "name", "created", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("merchant",)
    search_fields = ("prefix", "merchant__name", "merchant__id")
    fields = ("merchant", "name")
    actions = ["revoke"]

    @admin.display(description="key")
    def prefix_display(self, obj):
        return format_html("<code>{}…</code>", obj.prefix)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("merchant", "name", "prefix", "created", "last_used_at", "revoked_at")

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return  # keys are immutable; only revocation changes them, through the action
        issued = api_key_issue(merchant=form.cleaned_data["merchant"], name=form.cleaned_data["name"])
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        self.message_user(
            request,
            format_html("New secret key: <code>{}</code> — copy it now; it is shown only this once.", issued.secret),
            level=messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    def has_delete_permission(self, request, obj=None):
        return False
