"""The audit trail in the admin: one list of the staff actions and the state transitions, read-only for everyone,
superusers included (it is append-only).

The list is ``backoffice.AuditTrail``, a view over the audit entries and the payments' transitions: newest
first, searchable by an object id (a payment's id finds its transitions, the staff actions on it and those on
its refunds, disputes, refund requests and reconciliation exceptions), each line linking to its object. Its
columns fit a 1440 px screen: the change as a short diff ("status: pending → succeeded"), long texts cut with
the whole in their title; the full before and after are on the line's own page.

The audit entries' and the transitions' own lists (``/admin/core/auditentry/``,
``/admin/payments/paymenttransition/``) lead here; their object pages stay.
"""

import json

from django.contrib import admin
from django.contrib.admin import ShowFacets
from django.contrib.admin.utils import quote
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from backoffice.admin.base import clamp, cut, object_url, short_id, when
from backoffice.admin.filters import InputFilter
from backoffice.models import AuditTrail
from backoffice.selectors import OBJECT_TYPE_OF_PREFIX, audit_trail_about
from core.models import AuditEntry

VIEW_PERMISSION = "core.view_auditentry"
OBJECT_TYPES = sorted({*OBJECT_TYPE_OF_PREFIX.values(), "reconciliationexception", "routingrule", "fxrate"})
ACTOR_KINDS = [("staff:", "Staff"), ("api:", "Merchant API"), ("system:", "System"), ("processor:", "Processor")]


class ActorKindFilter(admin.SimpleListFilter):
    title = "kind of actor"
    parameter_name = "actor_kind"

    def lookups(self, request, model_admin):
        return ACTOR_KINDS

    def queryset(self, request, queryset):
        return queryset.filter(actor__startswith=self.value()) if self.value() else queryset


class SourceFilter(admin.SimpleListFilter):
    title = "kind of line"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(AuditTrail.Source.AUDIT, "Audit entries"), (AuditTrail.Source.TRANSITION, "Payment transitions")]

    def queryset(self, request, queryset):
        return queryset.filter(source=self.value()) if self.value() else queryset


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


class CappedPaginator(Paginator):
    """Counts at most ``CAP`` lines: the trail holds every transition of every payment, and counting them all
    would cost more than the page. Past the cap, the pages end; a search or a filter narrows the list."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list.order_by()[: self.CAP].count()


def _value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def change_summary(before, after) -> str:
    """What changed, compactly: ``key: old → new`` for each key whose value differs, ``key: new`` for a key that
    was not there, ``key: old → —`` for one that went; a whole value that is not an object is shown as is."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and after is None:
            return ""
        if before is None:
            return _value(after) if not isinstance(after, dict) else change_summary({}, after)
        if after is None:
            return f"{_value(before)} → —" if not isinstance(before, dict) else change_summary(before, {})
        return f"{_value(before)} → {_value(after)}"
    parts = []
    for key in [*after, *(key for key in before if key not in after)]:
        if key not in before:
            parts.append(f"{key}: {_value(after[key])}")
        elif key not in after:
            parts.append(f"{key}: {_value(before[key])} → —")
        elif before[key] != after[key]:
            parts.append(f"{key}: {_value(before[key])} → {_value(after[key])}")
    return "; ".join(parts) if parts else "no change"


def _json(value):
    if value is None:
        return "—"
    return format_html(
        "<pre style='margin: 0; white-space: pre-wrap'>{}</pre>",
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )


class AuditTrailReadOnly:
    """Nobody adds, changes or deletes history here; seeing it needs ``core.view_auditentry``."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.has_perm(VIEW_PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditTrail)
class AuditTrailAdmin(AuditTrailReadOnly, admin.ModelAdmin):
    list_display = ("created_link", "actor_short", "action", "object_link", "change_display", "reason_short")
    list_display_links = None
    list_filter = (
        SourceFilter,
        ObjectTypeFilter,
        ActorKindFilter,
        ActorFilter,
        ActionFilter,
        ("created", admin.DateFieldListFilter),
    )
    search_fields = ("object_id__exact",)
    search_help_text = (
        "An exact object id (pay_…, re_…, dp_…, rr_…, po_…, mch_…): a payment's id also finds its refunds', "
        "disputes', refund requests' and reconciliation exceptions' lines."
    )
    ordering = ("-created",)
    sortable_by = ()
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    fields = (
        "created",
        "actor",
        "action",
        "object_type",
        "object_page_link",
        "change_page_display",
        "before_display",
        "after_display",
        "reason",
        "source_link",
    )
    readonly_fields = fields
    actions = None

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_object(self, request, object_id, from_field=None):
        """A line by its key (``a<id>``, ``t<id>``), read through its own table's primary key."""
        kind, number = object_id[:1], object_id[1:]
        source = {"a": AuditTrail.Source.AUDIT, "t": AuditTrail.Source.TRANSITION}.get(kind)
        if source is None or not number.isdigit():
            return None
        return self.get_queryset(request).filter(source=source, source_id=int(number)).first()

    def get_search_results(self, request, queryset, search_term):
        """An object id: its lines and those of what belongs to it (``backoffice.selectors.audit_trail_about``)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if " " in term:
            return queryset.none(), False
        return audit_trail_about(term, queryset), False

    # --- Columns -----------------------------------------------------------------------------------------

    @admin.display(description="when")
    def created_link(self, obj):
        url = reverse(f"{self.admin_site.name}:backoffice_audittrail_change", args=[quote(obj.pk)])
        return format_html('<a href="{}" style="white-space: nowrap">{}</a>', url, when(obj.created))

    @admin.display(description="actor")
    def actor_short(self, obj):
        return cut(obj.actor, 8)

    @admin.display(description="object")
    def object_link(self, obj):
        url = object_url(self.admin_site, obj.object_type, obj.object_id)
        label = f"{obj.object_type} {obj.object_id}"
        if url is None:
            return cut(label, 10)
        return format_html(
            '<a href="{}" title="{}" style="white-space: nowrap">{}</a>', url, label, short_id(obj.object_id)
        )

    @admin.display(description="change")
    def change_display(self, obj):
        return clamp(change_summary(obj.before, obj.after), 14, 3)

    @admin.display(description="object")
    def object_page_link(self, obj):
        url = object_url(self.admin_site, obj.object_type, obj.object_id)
        return format_html('<a href="{}">{}</a>', url, obj.object_id) if url else obj.object_id

    @admin.display(description="change")
    def change_page_display(self, obj):
        return change_summary(obj.before, obj.after) or "—"

    @admin.display(description="reason")
    def reason_short(self, obj):
        return clamp(obj.reason, 10, 2) if obj.reason else ""

    @admin.display(description="before")
    def before_display(self, obj):
        return _json(obj.before)

    @admin.display(description="after")
    def after_display(self, obj):
        return _json(obj.after)

    @admin.display(description="recorded as")
    def source_link(self, obj):
        if obj.source == AuditTrail.Source.TRANSITION:
            app_model, label = "payments_paymenttransition", f"payment transition #{obj.source_id}"
        else:
            app_model, label = "core_auditentry", f"audit entry #{obj.source_id}"
        url = reverse(f"{self.admin_site.name}:{app_model}_change", args=[obj.source_id])
        return format_html('<a href="{}">{}</a>', url, label)


@admin.register(AuditEntry)
class AuditEntryAdmin(AuditTrailReadOnly, admin.ModelAdmin):
    """An audit entry's own page; its list is the audit trail's (``AuditTrailAdmin``), where this one leads."""

    fields = ("created", "actor", "action", "object_type", "object_id", "before_display", "after_display", "reason")
    readonly_fields = fields
    actions = None

    def has_view_permission(self, request, obj=None):
        return admin.ModelAdmin.has_view_permission(self, request, obj)

    def get_model_perms(self, request):
        return {}  # not in the index: the audit trail is

    def changelist_view(self, request, extra_context=None):
        url = reverse(f"{self.admin_site.name}:backoffice_audittrail_changelist")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    @admin.display(description="before")
    def before_display(self, obj):
        return _json(obj.before)

    @admin.display(description="after")
    def after_display(self, obj):
        return _json(obj.after)
