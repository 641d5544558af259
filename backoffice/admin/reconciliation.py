"""Reconciliation in the admin, for Finance: the runs of each day and the queue of exceptions.

Everything is read-only. Resolving goes through ``reconciliation.services``
(write off, adjust with a ledger adjustment, mark as explained), each asking for
a note on a page of its own first, each written to the audit trail, and only for
users holding ``backoffice.resolve_reconciliation_exception``. Nothing is ever
changed or deleted here.
"""

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.admin.base import ActionPage, ReadOnlyAdminMixin, admin_link_by_id, money, report_error, require_perm
from backoffice.admin.filters import MerchantIdFilter
from backoffice.forms import ReconciliationAdjustForm, minor_to_major_units
from core.errors import DomainError
from core.staff import perm
from reconciliation import selectors, services
from reconciliation.forms import ResolveForm
from reconciliation.models import ExceptionType, ReconciliationException, ReconciliationRun

Resolution = ReconciliationException.Resolution

# What each type means, shown on the exception's page.
MEANING = {
    ExceptionType.DUPLICATE_EXTERNAL: "The report holds the same event on more than one line.",
    ExceptionType.MISSING_INTERNAL: "The processor settled this, and our ledger has no record of it that day.",
    ExceptionType.STATUS_MISMATCH: "The processor settled this, but we hold the payment, refund or dispute in a "
    "state where it should not have been settled.",
    ExceptionType.MISSING_EXTERNAL: "Our ledger moved this through the processor that day; the report lacks it.",
    ExceptionType.CURRENCY_MISMATCH: "The report and our ledger disagree on the currency.",
    ExceptionType.AMOUNT_MISMATCH: "The report and our ledger disagree on the amount.",
    ExceptionType.FEE_MISMATCH: "The processor's fee differs from the fee our settings expect.",
}

# action name -> (service, resolution, title, submit label)
RESOLUTIONS = {
    "write_off": (services.exception_write_off, Resolution.WRITTEN_OFF, "Write off", "Write off"),
    "adjust": (services.exception_adjust, Resolution.ADJUSTED, "Adjust the merchant's balance", "Post the adjustment"),
    "explain": (services.exception_explain, Resolution.EXPLAINED, "Mark as explained", "Mark as explained"),
}


def _signed(amount, currency) -> str:
    if amount is None:
        return "—"
    return money(amount, currency) if currency else str(amount)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "settlement_date",
        "processor",
        "status",
        "lines",
        "internal_items",
        "matched",
        "exceptions_display",
        "open_display",
        "auto_resolved",
        "duration_display",
        "started",
    )
    list_filter = ("processor", "status")
    date_hierarchy = "settlement_date"
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    fields = (
        "settlement_date",
        "processor",
        "status",
        "source",
        "started",
        "finished",
        "duration_display",
        "lines",
        "internal_items",
        "matched",
        "exceptions_display",
        "open_display",
        "auto_resolved",
        "error",
        "report_sha256",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.runs_with_figures()

    @admin.display(description="exceptions found")
    def exceptions_display(self, obj):
        found = [(kind, n) for kind, n in (obj.exception_counts or {}).items() if n]
        if not found:
            return "none" if obj.status == ReconciliationRun.Status.SUCCEEDED else "—"
        return format_html_join(", ", "{} {}", found)

    @admin.display(description="open", ordering="open_exceptions")
    def open_display(self, obj):
        url = reverse("admin:reconciliation_reconciliationexception_changelist")
        count = getattr(obj, "open_exceptions", None)
        return format_html(
            '<a href="{}?settlement_date={}&processor={}&status=all">{} open</a>',
            url,
            obj.settlement_date.isoformat(),
            obj.processor,
            count if count is not None else "?",
        )

    @admin.display(description="duration")
    def duration_display(self, obj):
        return f"{obj.duration.total_seconds():.2f} s" if obj.duration else "—"


class QueueStatusFilter(admin.SimpleListFilter):
    """Open exceptions by default: the queue Finance works through."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "open"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]

    def queryset(self, request, queryset):
        status = self.value() or self.DEFAULT
        return queryset if status == "all" else queryset.filter(status=status)

    def choices(self, changelist):
        current = self.value() or self.DEFAULT
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "display": title,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
            }


class AgeFilter(admin.SimpleListFilter):
    """How long ago a run first found the exception."""

    title = "age"
    parameter_name = "age"
    RANGES = {"1d": (None, 1), "1-7d": (1, 7), "7-30d": (7, 30), "30d+": (30, None)}

    def lookups(self, request, model_admin):
        return [
            ("1d", "Less than a day"),
            ("1-7d", "1 to 7 days"),
            ("7-30d", "7 to 30 days"),
            ("30d+", "More than 30 days"),
        ]

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        newest, oldest = self.RANGES[self.value()]
        now = timezone.now()
        if newest is not None:
            queryset = queryset.filter(created__lte=now - timedelta(days=newest))
        if oldest is not None:
            queryset = queryset.filter(created__gt=now - timedelta(days=oldest))
        return queryset


@admin.register(ReconciliationException)
class ReconciliationExceptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "settlement_date",
        "processor",
        "type",
        "line_type",
        "status",
        "resolution",
        "merchant",
        "reference",
        "processor_id",
        "internal_display",
        "external_display",
        "fee_display",
        "age_display",
    )
    list_filter = (
        QueueStatusFilter,
        "type",
        AgeFilter,
        MerchantIdFilter,
        "line_type",
        "resolution",
        "processor",
        ("settlement_date", admin.DateFieldListFilter),
    )
    list_select_related = ("merchant",)
    search_fields = ("reference__exact", "processor_id__exact", "match_key__exact")
    search_help_text = "An exact reference (pay_…, re_…) or processor id (ch_…, rf_…, dsp_…)."
    ordering = ("created", "id")
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    actions = ["write_off_selected", "adjust_selected", "explain_selected"]
    fields = (
        "id",
        "run_link",
        "settlement_date",
        "type",
        "meaning",
        "line_type",
        "match_key",
        "merchant",
        "reference",
        "processor_id",
        "currency",
        "internal_display",
        "external_display",
        "expected_fee_display",
        "external_fee_display",
        "details_display",
        "status",
        "resolution",
        "note",
        "resolved_by",
        "resolved_at",
        "ledger_entry_link",
        "created",
        "updated",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.exception_queue()

    # --- Columns -----------------------------------------------------------------------------------------

    @admin.display(description="ledger", ordering="internal_amount")
    def internal_display(self, obj):
        return _signed(obj.internal_amount, obj.details.get("internal_currency") or obj.currency)

    @admin.display(description="report", ordering="external_amount")
    def external_display(self, obj):
        return _signed(obj.external_amount, obj.currency)

    @admin.display(description="fee (report / expected)")
    def fee_display(self, obj):
        if obj.external_fee is None:
            return "—"
        return f"{_signed(obj.external_fee, obj.currency)} / {_signed(obj.expected_fee, obj.currency)}"

    @admin.display(description="expected fee")
    def expected_fee_display(self, obj):
        return _signed(obj.expected_fee, obj.currency)

    @admin.display(description="processor's fee")
    def external_fee_display(self, obj):
        return _signed(obj.external_fee, obj.currency)

    @admin.display(description="age", ordering="created")
    def age_display(self, obj):
        days = (timezone.now() - obj.created).days
        return "today" if days < 1 else f"{days} day{'s' if days > 1 else ''}"

    @admin.display(description="what it means")
    def meaning(self, obj):
        return MEANING.get(obj.type, "")

    @admin.display(description="details")
    def details_display(self, obj):
        return format_html("<pre style='margin: 0'>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True))

    @admin.display(description="run")
    def run_link(self, obj):
        return admin_link_by_id("reconciliation", "reconciliationrun", obj.run_id)

    @admin.display(description="ledger entry")
    def ledger_entry_link(self, obj):
        return admin_link_by_id("ledger", "journalentry", obj.ledger_entry_id)

    # --- Resolving -----------------------------------------------------------------------------------------

    def has_resolve_permission(self, request):
        return request.user.has_perm(perm(services.RESOLVE_PERMISSION))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/write-off/",
                view(self.write_off_view),
                name="reconciliation_reconciliationexception_write_off",
            ),
            path(
                "<path:object_id>/adjust/", view(self.adjust_view), name="reconciliation_reconciliationexception_adjust"
            ),
            path(
                "<path:object_id>/explain/",
                view(self.explain_view),
                name="reconciliation_reconciliationexception_explain",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        exception = self.get_object(request, object_id)
        buttons = []
        if exception is not None and exception.is_open and self.has_resolve_permission(request):
            buttons = [
                {
                    "label": title,
                    "name": name,
                    "url": reverse(f"admin:reconciliation_reconciliationexception_{name}", args=[exception.pk]),
                }
                for name, (_, _, title, _) in RESOLUTIONS.items()
            ]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "backoffice_buttons": buttons}
        )

    def _details(self, exception):
        return [
            ("Exception", f"#{exception.pk} {exception.get_type_display()}"),
            ("Day", exception.settlement_date),
            ("Merchant", exception.merchant or "—"),
            ("Reference", exception.reference or "—"),
            ("Processor id", exception.processor_id or "—"),
            ("Ledger / report", f"{self.internal_display(exception)} / {self.external_display(exception)}"),
            ("Fee (report / expected)", self.fee_display(exception)),
            ("What it means", MEANING.get(exception.type)),
        ]

    def _resolve_page(self, request, object_id, name: str):
        require_perm(request, services.RESOLVE_PERMISSION)
        service, _, title, submit = RESOLUTIONS[name]
        page = ActionPage(self, request, None, object_id)
        exception = page.obj
        if name == "adjust":
            initial = {}
            if exception.external_amount is not None and exception.internal_amount is not None and exception.currency:
                difference = exception.external_amount - exception.internal_amount
                initial["amount"] = minor_to_major_units(difference, exception.currency) if difference else None
            form = ReconciliationAdjustForm(request.POST or None, initial=initial, currency=exception.currency or None)
        else:
            form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            kwargs = {"amount": form.cleaned_data["amount"]} if name == "adjust" else {}
            try:
                resolved = service(exception=exception, user=request.user, note=form.cleaned_data["note"], **kwargs)
            except DomainError as error:
                report_error(self, request, error)
            else:
                outcome = resolved.get_resolution_display()
                self.message_user(request, f"Exception #{resolved.pk} is resolved: {outcome}.", level=messages.SUCCESS)
            return page.back()
        intro = ""
        if name == "adjust":
            intro = (
                "Posts a ledger adjustment of the merchant's available balance (against the platform's "
                "adjustments account) and resolves the exception, together."
            )
        return page.render(title=title, form=form, submit_label=submit, details=self._details(exception), intro=intro)

    def write_off_view(self, request, object_id):
        return self._resolve_page(request, object_id, "write_off")

    def adjust_view(self, request, object_id):
        return self._resolve_page(request, object_id, "adjust")

    def explain_view(self, request, object_id):
        return self._resolve_page(request, object_id, "explain")

    def _resolve_selected(self, request, queryset, name: str):
        """The list's actions: a page asking for the note (and, to adjust, the amount) first, then one call each."""
        service, _, title, submit = RESOLUTIONS[name]
        exceptions = list(queryset.order_by("id"))
        if name == "adjust" and len(exceptions) != 1:
            self.message_user(
                request, "Adjust one exception at a time: each needs its own amount.", level=messages.ERROR
            )
            return None
        data = request.POST if "_confirm" in request.POST else None
        if name == "adjust":
            form = ReconciliationAdjustForm(data, currency=exceptions[0].currency or None)
        else:
            form = ResolveForm(data)
        if "_confirm" in request.POST and form.is_valid():
            kwargs = {"amount": form.cleaned_data["amount"]} if name == "adjust" else {}
            done = 0
            for exception in exceptions:
                try:
                    service(exception=exception, user=request.user, note=form.cleaned_data["note"], **kwargs)
                    done += 1
                except DomainError as error:
                    self.message_user(request, f"#{exception.pk}: {error.message}", level=messages.ERROR)
            if done:
                self.message_user(request, f"{title}: {done} exception(s) resolved.", level=messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "reconciliation/resolve_selected.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "exceptions": exceptions,
                "form": form,
                "action": f"{name}_selected",
                "submit_label": submit,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Write off the selected exceptions…", permissions=["resolve"])
    def write_off_selected(self, request, queryset):
        return self._resolve_selected(request, queryset, "write_off")

    @admin.action(description="Adjust the merchant's balance for the selected exception…", permissions=["resolve"])
    def adjust_selected(self, request, queryset):
        return self._resolve_selected(request, queryset, "adjust")

    @admin.action(description="Mark the selected exceptions as explained…", permissions=["resolve"])
    def explain_selected(self, request, queryset):
        return self._resolve_selected(request, queryset, "explain")
