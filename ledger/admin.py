"""The ledger in the admin: everything visible, nothing editable, for anyone (superusers included).

Corrections are reversing entries posted through ``ledger.posting_rules``,
never edits here.
"""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import ReadOnlyAdminMixin
from core.money import format_amount
from ledger.models import Account, JournalEntry, LedgerCheckRun, MaturingFunds, Posting
from ledger.selectors import accounts_with_balances


def _normal_balance(account: Account, signed: int) -> str:
    """A balance on the account's normal side (debit for assets and expenses, credit for the others)."""
    value = signed if account.is_debit_normal else -signed
    return format_amount(value, account.currency)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "code", "currency", "merchant", "type", "posted_balance", "pending_balance", "limit")
    list_filter = ("code", "type", "currency")
    list_select_related = ("merchant",)
    search_fields = ("id", "merchant__id", "merchant__name")
    readonly_fields = ("posted_balance", "pending_balance")

    def get_queryset(self, request):
        return accounts_with_balances().select_related("merchant")

    @admin.display(description="posted balance")
    def posted_balance(self, obj):
        return _normal_balance(obj, obj.posted_sum)

    @admin.display(description="pending (reserved)")
    def pending_balance(self, obj):
        return _normal_balance(obj, obj.pending_sum)

    @admin.display(description="limit")
    def limit(self, obj):
        if obj.debits_must_not_exceed_credits:
            return "debits ≤ credits"
        if obj.credits_must_not_exceed_debits:
            return "credits ≤ debits"
        return "—"


class PostingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Posting
    fields = ("account", "side", "amount_display", "phase", "created")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    @admin.display(description="Dr/Cr")
    def side(self, obj):
        return "Dr" if obj.amount > 0 else "Cr"

    @admin.display(description="amount")
    def amount_display(self, obj):
        return format_amount(abs(obj.amount), obj.account.currency)


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "type", "source", "merchant", "currency", "status", "created", "available_on")
    list_filter = ("type", "status", "currency")
    list_select_related = ("merchant",)
    search_fields = ("id", "source", "event_key", "merchant__id")
    date_hierarchy = "created"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "entry", "account", "amount_display", "phase", "created")
    list_filter = ("phase",)
    list_select_related = ("entry", "account")
    search_fields = ("entry__id", "account__id", "entry__source")

    @admin.display(description="amount (Dr + / Cr −)", ordering="amount")
    def amount_display(self, obj):
        return format_amount(obj.amount, obj.account.currency)


@admin.register(MaturingFunds)
class MaturingFundsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The captures whose pending funds have still to mature (the work list of ``ledger.tasks.mature_funds``)."""

    list_display = ("entry", "available_on")
    search_fields = ("entry__id", "entry__source", "entry__merchant__id")


@admin.register(LedgerCheckRun)
class LedgerCheckRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started", "finished", "ok", "warnings_display")
    list_filter = ("ok",)
    fields = ("started", "finished", "ok", "warnings_display", "results_display")
    readonly_fields = fields

    @admin.display(description="warnings")
    def warnings_display(self, obj):
        """The alerts of the run (``ledger.invariants.ALERTS``: funds left pending past their available_on), each
        with its detail."""
        warned = [c for c in (obj.results or {}).get("checks", []) if c.get("status") == "warning"]
        if not warned:
            return "—"
        return format_html_join(
            mark_safe("<br>"), "<strong>{}</strong>: {}", ((c.get("name"), c.get("detail", "")) for c in warned)
        )

    @admin.display(description="results")
    def results_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.results, indent=2))
