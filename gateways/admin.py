from django.contrib import admin

from gateways.health import processors_health
from gateways.models import ProcessorWebhookEvent


@admin.register(ProcessorWebhookEvent)
class ProcessorWebhookEventAdmin(admin.ModelAdmin):
    """Processors' webhooks as received; above the list, each processor's health now (read-only)."""

    change_list_template = "admin/gateways/processorwebhookevent/change_list.html"
    list_display = ("event_id", "processor", "type", "status", "deliveries", "received_at", "processed_at")
    list_filter = ("processor", "type", "status")
    search_fields = ("=event_id",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ProcessorWebhookEvent._meta.fields]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "processors_health": sorted(processors_health().items())}
        return super().changelist_view(request, extra_context=extra_context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
