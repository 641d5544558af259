"""The audit trail in the admin: read-only for everyone, superusers included (it is append-only)."""

import json

from django.contrib import admin
from django.contrib.admin import ShowFacets
from django.utils.html import format_html

from backoffice.admin.filters import InputFilter
from core.models import AuditEntry

# An id's prefix says what it is, so a search by id uses the (object_type, object_id) index.
OBJECT_TYPE_OF_PREFIX = {
    "pay": "payment",
    "re": "refund",
    "dp": "dispute",
    "rr": "refundrequest",
    "adj": "ledgeradjustment",
    "txn": "journalentry",
    "mch": "merchant",
    "evt": "event",
    "we": "webhookendpoint",
}
OBJECT_TYPES = sorted(set(OBJECT_TYPE_OF_PREFIX.values()))
ACTOR_KINDS = [("staff:", "Staff"), ("api:", "Merchant API"), ("system:", "System"), ("processor:", "Processor")]


class ActorKindFilter(admin.SimpleListFilter):
    title = "kind of actor"
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return ACTOR_KINDS

    def queryset(self, request, queryset):
        return queryset.filter(actor__startswith=self.value()) if self.value() else queryset


class ActorFilter(InputFilter):
    title = "actor"
    parameter_name = "actor"
    lookup = "actor"
    placeholder = "staff:alice"


class ActionFilter(InputFilter):
    title = "action"
    parameter_name = "action"
    lookup = "action"
    placeholder = "refund.create"


class ObjectTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in OBJECT_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(object_type=self.value()) if self.value() else queryset


def _json(value):
    if value is None:
        return "—"
    return format_html(
        "<pre style='margin: 0'>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created", "actor", "action", "object_type", "object_id", "before_short", "after_short", "reason")
    list_filter = (ObjectTypeFilter, ActorKindFilter, ActorFilter, ActionFilter, ("created", admin.DateFieldListFilter))
    search_fields = ("object_id__exact",)
    search_help_text = "An exact object id (pay_…, re_…, dp_…, rr_…, adj_…)."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    sortable_by = ("created",)
    fields = ("created", "actor", "action", "object_type", "object_id", "before_display", "after_display", "reason")
    readonly_fields = fields
    actions = None

    @admin.display(description="before")
    def before_short(self, obj):
        return json.dumps(obj.before, sort_keys=True) if obj.before is not None else ""

    @admin.display(description="after")
    def after_short(self, obj):
        return json.dumps(obj.after, sort_keys=True) if obj.after is not None else ""

    @admin.display(description="before")
    def before_display(self, obj):
        return _json(obj.before)

    @admin.display(description="after")
    def after_display(self, obj):
        return _json(obj.after)

    def get_search_results(self, request, queryset, search_term):
        """An id whose prefix names its type is looked up with its type, through the (object_type, object_id) index."""
        term = search_term.strip()
        prefix = term.partition("_")[0]
        if term and " " not in term and prefix in OBJECT_TYPE_OF_PREFIX:
            return queryset.filter(object_type=OBJECT_TYPE_OF_PREFIX[prefix], object_id=term), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
