from django.contrib import admin

from payments.models import Payment, PaymentTransition


class PaymentTransitionInline(admin.TabularInline):
    model = PaymentTransition
    fields = ("created", "from_status", "to_status", "transition", "actor", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "merchant", "amount", "currency", "status", "card_brand", "card_last4", "created")
    list_filter = ("status", "capture_method", "currency")
    list_select_related = ("merchant",)
    search_fields = ("=id", "=card_last4", "merchant__name", "=merchant__id")
    date_hierarchy = "created"
    show_full_result_count = False
    inlines = [PaymentTransitionInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PaymentTransition)
class PaymentTransitionAdmin(admin.ModelAdmin):
    list_display = ("payment", "from_status", "to_status", "transition", "actor", "created")
    list_filter = ("to_status", "transition")
    search_fields = ("=payment__id", "actor")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
