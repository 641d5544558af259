"""External accounts in the admin: a read-only list for staff. Merchants add and delete them through the API;
nothing here edits them. Staff see the bank, country and last four, never the processor's token."""

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin
from payouts.models import ExternalAccount


@admin.register(ExternalAccount)
class ExternalAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "merchant",
        "currency",
        "country",
        "bank_name",
        "last4",
        "default_for_currency",
        "processor",
        "created",
        "deleted_at",
    )
    list_filter = ("currency", "default_for_currency", ("deleted_at", admin.EmptyFieldListFilter), "processor")
    list_select_related = ("merchant",)
    search_fields = ("id", "merchant__id", "merchant__name", "last4", "fingerprint")
    fields = (
        "id",
        "merchant",
        "currency",
        "country",
        "bank_name",
        "last4",
        "fingerprint",
        "default_for_currency",
        "processor",
        "created",
        "deleted_at",
    )
    readonly_fields = fields
