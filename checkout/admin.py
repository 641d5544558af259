"""Checkout sessions in the admin: read-only. Merchants create and expire them through the API."""

from django.contrib import admin

from checkout.models import CheckoutSession
from core.admin import ReadOnlyAdminMixin


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "amount", "currency", "status", "payment", "expires_at", "created")
    list_filter = ("status", "currency")
    list_select_related = ("merchant",)
    search_fields = ("id", "merchant__id", "merchant__name", "payment__id")
    fields = (
        "id",
        "merchant",
        "amount",
        "currency",
        "status",
        "payment",
        "attempt_number",
        "attempt_started_at",
        "attempt_payment",
        "payment_method_types",
        "capture_method",
        "customer_email",
        "description",
        "metadata",
        "success_url",
        "cancel_url",
        "expires_at",
        "completed_at",
        "expired_at",
        "created",
    )
    readonly_fields = fields
