"""Events, webhook endpoints and deliveries in the admin, for Operations.

Everything is read-only; the only writes are two actions that go through the
services: re-send a delivery (``events.resend_webhookdelivery``) and re-enable an
endpoint (``events.enable_webhookendpoint``). An endpoint's signing secret is
never shown: it is not among the fields of any page here.
"""

import json

from django.contrib import admin, messages
from django.utils import formats, timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdminMixin, cut
from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from events.services import webhook_delivery_resend, webhook_endpoint_enable


def _pretty_json(text: str):
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        shown = text
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', shown)


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fk_name = "event"
    fields = ("id", "endpoint", "status", "attempt_count", "next_attempt_at", "last_status_code", "last_error")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "type", "merchant", "created", "published_at")
    list_filter = ("type",)
    list_select_related = ("merchant",)
    search_fields = ("=id", "=merchant__id")
    date_hierarchy = "created"
    show_full_result_count = False
    fields = ("id", "merchant", "type", "created", "published_at", "body")
    readonly_fields = fields
    inlines = [DeliveryInline]

    @admin.display(description="body")
    def body(self, obj):
        return _pretty_json(obj.payload)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "url", "status", "disabled_reason", "created", "deleted_at")
    list_filter = ("status",)
    list_select_related = ("merchant",)
    search_fields = ("=id", "=merchant__id", "url")
    # Never "secret".
    fields = ("id", "merchant", "url", "events", "status", "disabled_reason", "disabled_at", "created", "deleted_at")
    readonly_fields = fields
    actions = ["enable"]

    def has_enable_permission(self, request):
        return request.user.has_perm("events.enable_webhookendpoint")

    @admin.action(description="Re-enable the selected endpoints", permissions=["enable"])
    def enable(self, request, queryset):
        enabled = sum(webhook_endpoint_enable(endpoint=endpoint) for endpoint in queryset)
        skipped = queryset.count() - enabled
        self.message_user(
            request,
            f"Re-enabled {enabled} endpoint(s)."
            + (f" {skipped} deleted endpoint(s) cannot be re-enabled." if skipped else ""),
        )


class AttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "status_code", "latency_ms", "error", "response_body")
    readonly_fields = fields
    extra = 0


def _when(value):
    """A date and time as the whole admin writes them (``DATETIME_FORMAT``: "2026-11-30 14:05 UTC"), on one line."""
    if value is None:
        return "—"
    return format_html(
        '<span style="white-space: nowrap">{}</span>',
        formats.date_format(timezone.localtime(value), "DATETIME_FORMAT"),
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # What Operations needs to see at a glance, fitting a 1440 px screen (a content area of 791 px beside the
    # admin's navigation and the filters); the event, the lease, the retry step and the creation time are on
    # the delivery's page (the id, a ULID, says when it was made, and the list is newest first).
    list_display = (
        "short_id",
        "event_type",
        "endpoint_url",
        "status",
        "tries",
        "last_result",
        "when_display",
    )
    list_filter = ("status",)
    list_select_related = ("event", "endpoint")
    search_fields = ("=id", "=event__id", "=endpoint__id")
    show_full_result_count = False
    fields = (
        "id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "retry_step",
        "next_attempt_at",
        "locked_until",
        "last_status_code",
        "last_error",
        "created",
        "completed_at",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description="type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="id", ordering="id")
    def short_id(self, obj):
        # whd_…F5P9DH: the end tells two deliveries apart (a ULID begins with its time); the whole id in the title.
        return cut(f"{obj.id[:4]}…{obj.id[-6:]}", 9, title=obj.id)

    @admin.display(description="endpoint")
    def endpoint_url(self, obj):
        return cut(obj.endpoint.url, 9, title=f"{obj.endpoint_id} {obj.endpoint.url}")

    @admin.display(description="last answer")
    def last_result(self, obj):
        if obj.last_status_code is None and not obj.last_error:
            return "—"
        text = " ".join(str(part) for part in (obj.last_status_code, obj.last_error) if part)
        return cut(text, 7)

    @admin.display(description="tries", ordering="attempt_count")
    def tries(self, obj):
        return obj.attempt_count

    @admin.display(description="next try / done")
    def when_display(self, obj):
        """When a pending delivery is tried next; when a finished one finished."""
        return _when(obj.next_attempt_at if obj.status == WebhookDelivery.Status.PENDING else obj.completed_at)

    def has_resend_permission(self, request):
        return request.user.has_perm("events.resend_webhookdelivery")

    @admin.action(description="Re-send the selected deliveries now", permissions=["resend"])
    def resend(self, request, queryset):
        queued = sum(webhook_delivery_resend(delivery=delivery) for delivery in queryset)
        busy = queryset.count() - queued
        self.message_user(request, f"Queued {queued} delivery(ies) to be sent again.")
        if busy:
            self.message_user(
                request,
                f"{busy} delivery(ies) are being sent right now; try again in a minute.",
                level=messages.WARNING,
            )
