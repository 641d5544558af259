from django.contrib import admin

from gateways.models import ProcessorWebhookEvent


@admin.register(ProcessorWebhookEvent)
class ProcessorWebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "processor", "type", "status", "deliveries", "received_at", "processed_at")
    list_filter = ("processor", "type", "status")
    search_fields = ("=event_id",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ProcessorWebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
