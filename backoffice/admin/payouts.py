"""Payouts in the back office: the finance queue, each payout's history and ledger, holds on a merchant's payouts,
and the merchants whose available balance is below zero.

All read-only (no add, change or delete, superusers included): a hold is set and released only through its
action pages, which call ``backoffice.services`` (``hold_payouts``, Finance), themselves
``payouts.payout_services``. Destinations show the bank and last four, never the processor's token.
"""

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.utils import quote, unquote
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from backoffice import selectors as backoffice_selectors
from backoffice import services as backoffice_services
from backoffice.admin.base import (
    ActionPage,
    ReadOnlyAdminMixin,
    admin_link_by_id,
    change_url,
    money,
    report_error,
    require_perm,
    when,
)
from backoffice.admin.filters import AmountRangeFilter, CurrencyFilter, MerchantIdFilter
from backoffice.admin.payments import merchant_column
from backoffice.forms import PayoutHoldForm, PayoutReleaseForm, StaffPayoutForm
from backoffice.models import NegativeBalance
from core.errors import DomainError
from core.money import format_amount
from core.staff import perm
from ledger.selectors import balance_get
from merchants.models import Merchant
from payouts.models import Payout, PayoutHold, PayoutStatus


def _hold_url(merchant_id: str) -> str:
    return f"{reverse('admin:payouts_payouthold_add')}?{urlencode({'merchant': merchant_id})}"


def _payouts_of_url(merchant_id: str) -> str:
    return f"{reverse('admin:payouts_payout_changelist')}?{urlencode({'merchant_id': merchant_id})}"


# --- The payouts queue -----------------------------------------------------------------------------


class NeedsAttentionFilter(admin.SimpleListFilter):
    """Pending payouts the sweep no longer sends (``PAYOUT_MAX_PROCESSOR_ATTEMPTS`` sends, none recorded by the
    processor): Finance asks the processor what became of them. The payout's own row carries the flag."""

    title = "needs attention"
    parameter_name = "needs_attention"

    def lookups(self, request, model_admin):
        return (("yes", "Needs attention (pending, not sent again)"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=PayoutStatus.PENDING, needs_attention_since__isnull=False)
        return queryset


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "merchant_name",
        "amount_display",
        "status_display",
        "automatic",
        "destination_display",
        "balance_transaction_link",
        "failure_code",
        "arrival_date",
        "created",
    )
    list_filter = (
        "status",
        NeedsAttentionFilter,
        MerchantIdFilter,
        ("created", admin.DateFieldListFilter),
        "automatic",
        CurrencyFilter,
        AmountRangeFilter,
    )
    list_select_related = ("merchant", "destination")
    search_fields = ("id__exact", "merchant__id__exact", "processor_payout_id__exact")
    search_help_text = "An exact payout id (po_…), merchant id (mch_…) or processor payout id."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    sortable_by = ("id", "amount", "created")
    list_per_page = 50
    fieldsets = (
        (
            "Payout",
            {
                "fields": (
                    "id",
                    "merchant_link",
                    "merchant_payouts",
                    "amount_display",
                    "status_display",
                    "automatic",
                    "destination_display",
                    "description",
                    "arrival_date",
                    "balance_transaction_link",
                    "requested_by",
                    "created",
                    "updated",
                )
            },
        ),
        ("Failure", {"fields": ("failure_code", "failure_message")}),
        (
            "Processor",
            {
                "classes": ("collapse",),
                "fields": (
                    "processor",
                    "processor_payout_id",
                    "sending_since",
                    "processor_attempts",
                    "needs_attention_since",
                ),
            },
        ),
    )
    readonly_fields = tuple(name for _, section in fieldsets for name in section["fields"])

    @admin.display(description="merchant", ordering="merchant__name")
    def merchant_name(self, obj):
        url = reverse("admin:merchants_merchant_change", args=[quote(obj.merchant_id)])
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.merchant_id, obj.merchant.name)

    @admin.display(description="balance transaction")
    def balance_transaction_link(self, obj):
        return admin_link_by_id("ledger", "journalentry", obj.balance_transaction)

    def _ledger_column(self, request, names):
        """``balance_transaction_link`` (into the ledger) for those who may read the ledger, the plain id otherwise."""
        if request.user.has_perm("ledger.view_journalentry"):
            return tuple(names)
        return tuple("balance_transaction" if name == "balance_transaction_link" else name for name in names)

    def get_list_display(self, request):
        return self._ledger_column(request, super().get_list_display(request))

    def get_fieldsets(self, request, obj=None):
        return [
            (title, {**section, "fields": self._ledger_column(request, section["fields"])})
            for title, section in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "balance_transaction")

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        if obj.needs_attention:
            return format_html(
                '{} <strong title="The processor has no record of it after {} sends: it is not sent again. Ask the '
                'processor what became of it.">· needs attention</strong>',
                obj.status,
                obj.processor_attempts,
            )
        return obj.status

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.currency)

    @admin.display(description="destination")
    def destination_display(self, obj):
        account = obj.destination
        label = f"{account.bank_name or 'bank'} ····{account.last4} ({account.country})"
        return format_html('<a href="{}" title="{}">{}</a>', change_url(account), account.pk, label)

    @admin.display(description="merchant")
    def merchant_link(self, obj):
        return admin_link_by_id("merchants", "merchant", obj.merchant_id)

    @admin.display(description="merchant's payouts")
    def merchant_payouts(self, obj):
        hold = PayoutHold.objects.filter(merchant_id=obj.merchant_id).first()
        listed = format_html('<a href="{}">all its payouts</a>', _payouts_of_url(obj.merchant_id))
        if hold is None:
            return format_html("not held; {}", listed)
        return format_html(
            "<strong>held</strong> since {} by {}: {}; {}",
            when(hold.held_at),
            hold.held_by,
            hold.reason,
            listed,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payout = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if payout is not None:
            buttons = []
            if request.user.has_perm(perm("hold_payouts")):
                hold = PayoutHold.objects.filter(merchant_id=payout.merchant_id).first()
                if hold is None:
                    url = _hold_url(payout.merchant_id)
                    buttons.append({"label": "Hold the merchant's payouts", "url": url, "name": "hold"})
                else:
                    url = reverse("admin:payouts_payouthold_release", args=[quote(hold.pk)])
                    buttons.append({"label": "Release the merchant's payouts", "url": url, "name": "release"})
            extra_context.update(
                payout_dossier=backoffice_selectors.payout_dossier(payout=payout),
                backoffice_buttons=buttons,
                show_ledger=request.user.has_perm("ledger.view_journalentry"),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request, obj=None):
        # The "add" page is the pay-out page (``add_view``), for those who may pay merchants out by hand.
        return request.user.has_perm(perm("create_payouts"))

    def add_view(self, request, form_url="", extra_context=None):
        """Pay a merchant out by hand (``?merchant=mch_…`` fills the merchant in): Finance."""
        require_perm(request, "create_payouts")
        page = ActionPage(self, request, None)
        form = StaffPayoutForm(request.POST or None, initial={"merchant": request.GET.get("merchant")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                payout = backoffice_services.staff_payout_create(
                    merchant=data["merchant"],
                    amount=data["amount"],
                    currency=data["currency"],
                    description=data["description"],
                    reason=data["reason"],
                    token=data["token"],
                    user=request.user,
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(
                    request,
                    f"Payout {payout.id} of {format_amount(payout.amount, payout.currency)} to "
                    f"{data['merchant'].name} is created: a worker sends it to the bank within a minute.",
                    level=messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url(payout))
        details = []
        merchant_id = request.POST.get("merchant") or request.GET.get("merchant")
        merchant = Merchant.objects.filter(pk=merchant_id).first() if merchant_id else None
        if merchant is not None:
            available = ", ".join(format_amount(b.amount, b.currency) for b in balance_get(merchant=merchant).available)
            details = [("Merchant", f"{merchant.name} ({merchant.pk})"), ("Available now", available)]
        return page.render(
            title="Pay a merchant out",
            form=form,
            submit_label="Create the payout",
            details=details,
            intro="The amount leaves the merchant's available balance at once and goes to its default bank account "
            "in that currency. It is sent like any payout, by a worker, and the merchant can see it (and cancel it "
            "until it is sent). More than is available is refused.",
        )


# --- Holds ---------------------------------------------------------------------------------------------


@admin.register(PayoutHold)
class PayoutHoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The merchants whose payouts are held. "Add" is the hold page (a reason required); a hold's page has the
    release button. Both need ``hold_payouts``; the history of holds is in the audit trail."""

    list_display = ("merchant_name", "reason", "held_by", "held_at", "payouts")
    list_select_related = ("merchant",)
    search_fields = ("merchant__id__exact",)
    search_help_text = "An exact merchant id (mch_…)."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    fields = ("merchant_link", "reason", "held_by", "held_at", "payouts")
    readonly_fields = fields

    merchant_name = merchant_column

    @admin.display(description="merchant")
    def merchant_link(self, obj):
        return admin_link_by_id("merchants", "merchant", obj.merchant_id)

    @admin.display(description="payouts")
    def payouts(self, obj):
        return format_html('<a href="{}">its payouts</a>', _payouts_of_url(obj.merchant_id))

    def has_add_permission(self, request, obj=None):
        # The "add" page is the hold page (``add_view``), for those who may hold.
        return request.user.has_perm(perm("hold_payouts"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/release/", view(self.release_view), name="payouts_payouthold_release"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        hold = self.get_object(request, unquote(object_id))
        buttons = []
        if hold is not None and request.user.has_perm(perm("hold_payouts")):
            url = reverse("admin:payouts_payouthold_release", args=[quote(hold.pk)])
            buttons.append({"label": "Release", "url": url, "name": "release"})
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "backoffice_buttons": buttons}
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Hold a merchant's payouts (``?merchant=mch_…`` fills the merchant in)."""
        require_perm(request, "hold_payouts")
        page = ActionPage(self, request, None)
        form = PayoutHoldForm(request.POST or None, initial={"merchant": request.GET.get("merchant")})
        if request.method == "POST" and form.is_valid():
            merchant = form.cleaned_data["merchant"]
            try:
                hold = backoffice_services.staff_payouts_hold(
                    merchant=merchant, reason=form.cleaned_data["reason"], user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(
                    request,
                    f"{merchant.name}'s payouts are held: none is created or sent until they are released.",
                    level=messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url(hold))
        return page.render(
            title="Hold a merchant's payouts",
            form=form,
            submit_label="Hold payouts",
            intro="While held, the merchant cannot create payouts (400 payouts_held) and its pending payouts are not "
            "sent: they stay pending, and the merchant can still cancel them. Automatic payouts skip it.",
            danger=True,
        )

    def release_view(self, request, object_id):
        require_perm(request, "hold_payouts")
        page = ActionPage(self, request, None, object_id)
        hold = page.obj
        form = PayoutReleaseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                backoffice_services.staff_payouts_release(
                    merchant=hold.merchant, reason=form.cleaned_data["reason"], user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
                return page.back()
            self.message_user(
                request,
                f"{hold.merchant.name}'s payouts are released: its pending payouts are sent within a minute.",
                level=messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:payouts_payouthold_changelist"))
        details = [
            ("Merchant", f"{hold.merchant.name} ({hold.merchant_id})"),
            ("Held since", when(hold.held_at)),
            ("Held by", hold.held_by),
            ("Reason", hold.reason),
        ]
        return page.render(title="Release payouts", form=form, submit_label="Release payouts", details=details)


# --- Merchants in the negative ----------------------------------------------------------------------


@admin.register(NegativeBalance)
class NegativeBalanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Merchants whose available balance is below zero, per currency (disputes and refunds after payouts): no
    payout is made while it is, and later captures recover it first. The most negative first."""

    list_display = ("merchant_name", "currency", "available", "held", "actions_column")
    list_display_links = None
    list_filter = (CurrencyFilter, MerchantIdFilter)
    list_select_related = ("merchant",)
    search_fields = ("merchant__id__exact",)
    search_help_text = "An exact merchant id (mch_…)."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    sortable_by = ()

    merchant_name = merchant_column

    def get_ordering(self, request):
        # The most negative first (an annotation, hence not ``ordering``, which names fields only).
        return ("-posted_sum", "id")

    def get_queryset(self, request):
        held = Exists(PayoutHold.objects.filter(merchant=OuterRef("merchant")))
        return backoffice_selectors.negative_balances().select_related("merchant").annotate(held=held)

    @admin.display(description="available")
    def available(self, obj):
        return format_html('<strong style="color: var(--error-fg);">{}</strong>', money(-obj.posted_sum, obj.currency))

    @admin.display(description="payouts held", boolean=True)
    def held(self, obj):
        return obj.held

    @admin.display(description="")
    def actions_column(self, obj):
        return format_html('<a href="{}">payouts</a>', _payouts_of_url(obj.merchant_id))

    def has_view_permission(self, request, obj=None):
        return obj is None and super().has_view_permission(request, obj)
