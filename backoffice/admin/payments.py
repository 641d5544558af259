"""Payments, refunds and disputes in the back office.

Everything here is read-only (no add, change or delete, superusers included):
staff change money only through the buttons on a payment or dispute page, which
call the back-office services (``backoffice.services``), themselves calling the
same services as the API with the staff member as the actor. Card data shown is
brand, last four digits and expiry: never the processor token.

The lists stay fast on large tables: related rows are joined
(``list_select_related``), totals are not counted, filters take typed values on
indexed columns, and the payments' search box is ``payments.selectors.payments_search``, whose every match
(ids, last four, customer email, description words, metadata values) an index answers on PostgreSQL. The other
lists search by exact id (``field__exact``, which uses the index; the ``=field`` prefix would be a
case-insensitive match that cannot).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice import selectors as backoffice_selectors
from backoffice import services as backoffice_services
from backoffice.admin.base import (
    ActionPage,
    CappedCountPaginator,
    ReadOnlyAdminMixin,
    admin_link_by_id,
    money,
    report_error,
    require_perm,
    when,
)
from backoffice.admin.filters import (
    AmountRangeFilter,
    CurrencyFilter,
    DisputeStateFilter,
    Last4Filter,
    MerchantIdFilter,
)
from backoffice.forms import (
    CancelForm,
    CaptureForm,
    DisputeAcceptForm,
    DisputeEvidenceForm,
    StaffRefundForm,
    minor_to_major_units,
)
from core.errors import DomainError
from core.staff import perm
from payments import refund_services
from payments import selectors as payments_selectors
from payments.methods import PAYMENT_METHOD_TYPES
from payments.models import (
    EVIDENCE_FIELDS,
    Dispute,
    DisputeStatus,
    FxRate,
    Payment,
    PaymentTransition,
    Refund,
    RoutingRule,
)
from payments.routing import routing_rule_delete, routing_rule_save, routing_rule_validate

# Transitions staff may trigger from a payment's page; the others are the processor's.
STAFF_TRANSITIONS = ("capture", "cancel")


@admin.display(description="merchant", ordering="merchant__name")
def merchant_column(self, obj):
    """The merchant's name, its id on hover (needs ``merchant`` in ``list_select_related``)."""
    return format_html('<span title="{}">{}</span>', obj.merchant_id, obj.merchant.name)


def _money_column(field: str, description: str):
    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return money(getattr(obj, field), obj.currency)

    return column


# --- Payments ------------------------------------------------------------------------------------


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "merchant_name",
        "amount_display",
        "status_display",
        "processor",
        "card_column",
        "customer_column",
        "disputed",
        "created",
    )
    list_filter = (
        "status",
        MerchantIdFilter,
        AmountRangeFilter,
        ("created", admin.DateFieldListFilter),
        Last4Filter,
        CurrencyFilter,
        "capture_method",
        "disputed",
    )
    list_select_related = ("merchant",)
    # The search box is ``payments_search`` (get_search_results); Django only needs a field here to show the box.
    search_fields = ("id__exact",)
    search_help_text = (
        "A payment id (pay_…), processor charge id, merchant id (mch_…), card last four digits, the customer's "
        "email or its beginning, words of the description, or a metadata value such as an order number."
    )
    show_full_result_count = False
    # A search for a common word counts at most 1,001 payments ("more than 1,000"), not all of them.
    paginator = CappedCountPaginator
    show_facets = ShowFacets.NEVER
    sortable_by = ("id", "amount", "created")
    list_per_page = 50
    fieldsets = (
        (
            "Payment",
            {
                "fields": (
                    "id",
                    "merchant_link",
                    "status_display",
                    "api_status",
                    "next_transitions",
                    "amount_display",
                    "capture_method",
                    "amount_capturable_display",
                    "amount_captured_display",
                    "amount_refunded_display",
                    "disputed",
                    "description",
                    "metadata",
                    "created",
                    "updated",
                )
            },
        ),
        ("Customer", {"fields": ("customer_email", "customer_name")}),
        ("Card", {"fields": ("payment_method_type", "card_brand", "card_last4", "card_expiry")}),
        (
            "Bank transfer or wallet",
            {
                "classes": ("collapse",),
                "fields": (
                    "bank_country",
                    "bank_last4",
                    "bank_fingerprint",
                    "bank_name",
                    "amount_returned",
                    "return_code",
                    "wallet_provider",
                    "next_action_url",
                ),
            },
        ),
        ("Cross-border", {"classes": ("collapse",), "fields": ("settlement_currency", "settlement_amount", "fx_rate")}),
        (
            "Processor",
            {
                "classes": ("collapse",),
                "fields": (
                    "processor_charge_id",
                    "processor_attempts",
                    "processing_since",
                    "authorized_at",
                    "processor_operation_pending_since",
                    "creation_idempotency_key",
                ),
            },
        ),
        (
            "Failure or cancellation",
            {
                "classes": ("collapse",),
                "fields": ("failure_code", "failure_message", "decline_code", "cancellation_reason"),
            },
        ),
    )
    # Never "card_token": the processor's token is not shown anywhere in the admin.
    readonly_fields = tuple(name for _, section in fieldsets for name in section["fields"])

    merchant_name = merchant_column
    amount_display = _money_column("amount", "amount")
    amount_capturable_display = _money_column("amount_capturable", "capturable")
    amount_captured_display = _money_column("amount_captured", "captured")
    amount_refunded_display = _money_column("amount_refunded", "refunded")

    def get_search_results(self, request, queryset, search_term):
        """One search box for everything support knows of a payment (``payments.selectors.payments_search``):
        each kind of match read from its index, never a scan of every payment, and no duplicates to remove."""
        return payments_selectors.payments_search(queryset, search_term), False

    @admin.display(description="merchant")
    def merchant_link(self, obj):
        return admin_link_by_id("merchants", "merchant", obj.merchant_id)

    def get_queryset(self, request):
        # The disputes of the listed payments in one query, for their status ("Disputed", "Dispute lost").
        return super().get_queryset(request).prefetch_related("disputes")

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        """What happened (returned, refunded, disputed: ``payment_display_status``), the API's status on hover."""
        said = backoffice_selectors.payment_display_status(obj)
        return format_html('<span class="payment-status" title="API status: {}">{}</span>', obj.status, said)

    # Brand and last four in one column, and the customer's email in one more, so that the list still fits 1440 px.
    @admin.display(description="card")
    def card_column(self, obj):
        if not obj.card_last4:
            return obj.card_brand or "—"
        return format_html('{} <span class="nowrap">···· {}</span>', obj.card_brand, obj.card_last4)

    @admin.display(description="customer")
    def customer_column(self, obj):
        """The customer's email (the name on hover), cut to what fits; the page shows both in full."""
        if not obj.customer_email:
            return obj.customer_name or "—"
        shown = obj.customer_email if len(obj.customer_email) <= 28 else obj.customer_email[:27] + "…"
        return format_html('<span title="{}">{}</span>', obj.customer_name or obj.customer_email, shown)

    @admin.display(description="API status")
    def api_status(self, obj):
        return obj.status

    @admin.display(description="expiry")
    def card_expiry(self, obj):
        if not obj.card_exp_month or not obj.card_exp_year:
            return "—"
        return f"{obj.card_exp_month:02d}/{obj.card_exp_year}"

    @admin.display(description="allowed next transitions")
    def next_transitions(self, obj):
        transitions = list(obj.get_available_status_transitions())
        if not transitions:
            return "none (final)"
        return ", ".join(f"{t.name} → {t.target}" for t in transitions)

    # --- The page of one payment ---------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/refund/", view(self.refund_view), name="payments_payment_refund"),
            path("<path:object_id>/capture/", view(self.capture_view), name="payments_payment_capture"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="payments_payment_cancel"),
            *super().get_urls(),
        ]

    def _buttons(self, request, payment: Payment) -> list[dict]:
        buttons = []
        available = {t.name for t in payment.get_available_status_transitions()}
        if request.user.has_perm(perm("capture_or_cancel_payment")):
            for name in STAFF_TRANSITIONS:
                if name in available:
                    url = reverse(f"admin:payments_payment_{name}", args=[quote(payment.pk)])
                    buttons.append({"label": name.capitalize(), "url": url, "name": name})
        # The refund rules themselves decide (a returned transfer, a disputed payment, nothing left: no button);
        # the service decides again under the payment's lock when the form is posted.
        can_refund = request.user.has_perm(perm("refund_within_threshold"))
        if can_refund and refund_services.refund_refusal(payment) is None:
            url = reverse("admin:payments_payment_refund", args=[quote(payment.pk)])
            buttons.append({"label": "Refund", "url": url, "name": "refund"})
        return buttons

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payment = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if payment is not None:
            user = request.user
            extra_context.update(
                dossier=backoffice_selectors.payment_dossier(payment=payment),
                backoffice_buttons=self._buttons(request, payment),
                show_ledger=user.has_perm("ledger.view_journalentry"),
                can_view_events=user.has_perm("events.view_event"),
                can_view_deliveries=user.has_perm("events.view_webhookdelivery"),
                can_view_refund_requests=user.has_perm("backoffice.view_refundrequest"),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def refund_view(self, request, object_id):
        require_perm(request, "refund_within_threshold")
        page = ActionPage(self, request, None, object_id)
        payment = page.obj
        remaining = payment.amount_refundable
        threshold = backoffice_services.refund_approval_threshold(payment.currency)
        already = backoffice_services.staff_refunded_without_approval(payment)
        form = StaffRefundForm(
            request.POST or None,
            currency=payment.currency,
            initial={"amount": minor_to_major_units(remaining, payment.currency) if remaining else None},
        )
        posted = request.method == "POST" and form.is_valid()
        refusal = refund_services.refund_refusal(payment)
        if refusal is not None and not posted:
            # No form for a payment that cannot be refunded (the page has no Refund button for it either).
            # A valid form posted anyway goes to the service, whose 400 is shown below.
            report_error(self, request, refusal)
            return page.back()
        if posted:
            data = form.cleaned_data
            try:
                outcome = backoffice_services.staff_refund(
                    payment=payment,
                    amount=data["amount"],
                    reason=data["reason"],
                    note=data["note"],
                    user=request.user,
                    creation_key=data["token"],
                )
            except DomainError as error:
                # The service's 400, as the page's error message; nothing was written. When the payment cannot
                # be refunded at all (returned, disputed, not succeeded) there is no form to show again.
                report_error(self, request, error)
                if refund_services.refund_refusal(payment) is not None:
                    return page.back()
            else:
                if outcome.refund is not None:
                    refund = outcome.refund
                    self.message_user(
                        request,
                        format_html(
                            "Refund {} of {} created: {}.",
                            refund.id,
                            money(refund.amount, refund.currency),
                            refund.status,
                        ),
                        level=messages.SUCCESS,
                    )
                else:
                    request_ = outcome.request
                    earlier = money(already, payment.currency)
                    with_earlier = f" (with {earlier} refunded by staff before)" if already else ""
                    self.message_user(
                        request,
                        format_html(
                            "{}{} is above the approval threshold of {}: refund request {} was created and waits for a "
                            "Finance user's approval.",
                            money(request_.amount, request_.currency),
                            with_earlier,
                            money(threshold, payment.currency),
                            request_.id,
                        ),
                        level=messages.WARNING,
                    )
                return page.back()
        details = [
            ("Payment", payment.id),
            ("Card", f"{payment.card_brand} •••• {payment.card_last4}"),
            ("Captured", money(payment.amount_captured, payment.currency)),
            ("Already refunded", money(payment.amount_refunded, payment.currency)),
            ("Left to refund", money(remaining, payment.currency)),
            ("Approval threshold", f"{money(threshold, payment.currency)} (above it, a Finance user must approve)"),
            ("Refunded by staff without approval", money(already, payment.currency)),
        ]
        return page.render(
            title="Refund payment",
            form=form,
            submit_label="Refund",
            details=details,
            intro=f"Type the amount in {payment.currency} as the customer sees it (25.00), up to what is left.",
        )

    def capture_view(self, request, object_id):
        require_perm(request, "capture_or_cancel_payment")
        page = ActionPage(self, request, None, object_id)
        payment = page.obj
        form = CaptureForm(request.POST or None, currency=payment.currency)
        if request.method == "POST" and form.is_valid():
            try:
                payment = backoffice_services.staff_payment_capture(
                    payment=payment, amount=form.cleaned_data["amount"], user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(request, f"Payment {payment.id} is now {payment.status}.", level=messages.SUCCESS)
            return page.back()
        details = [
            ("Payment", payment.id),
            ("Status", backoffice_selectors.payment_display_status(payment)),
            ("Capturable", money(payment.amount_capturable, payment.currency)),
        ]
        return page.render(title="Capture payment", form=form, submit_label="Capture", details=details)

    def cancel_view(self, request, object_id):
        require_perm(request, "capture_or_cancel_payment")
        page = ActionPage(self, request, None, object_id)
        payment = page.obj
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payment = backoffice_services.staff_payment_cancel(
                    payment=payment, reason=form.cleaned_data["reason"] or None, user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(request, f"Payment {payment.id} is now {payment.status}.", level=messages.SUCCESS)
            return page.back()
        details = [
            ("Payment", payment.id),
            ("Status", backoffice_selectors.payment_display_status(payment)),
            ("Amount", money(payment.amount, payment.currency)),
        ]
        return page.render(
            title="Cancel payment",
            form=form,
            submit_label="Cancel the payment",
            details=details,
            danger=True,
            warning="An authorisation is released for good; this cannot be undone.",
        )


@admin.register(PaymentTransition)
class PaymentTransitionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("payment", "from_status", "to_status", "transition", "actor", "created")
    list_filter = ("to_status", "transition")
    search_fields = ("payment__id__exact",)
    show_full_result_count = False
    show_facets = ShowFacets.NEVER


# --- Refunds -------------------------------------------------------------------------------------


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "payment_link",
        "merchant_name",
        "amount_display",
        "status",
        "reason",
        "requested_by",
        "created",
    )
    list_filter = (
        "status",
        "reason",
        MerchantIdFilter,
        AmountRangeFilter,
        ("created", admin.DateFieldListFilter),
        CurrencyFilter,
    )
    list_select_related = ("merchant",)
    search_fields = ("id__exact", "payment__id__exact", "processor_refund_id__exact", "merchant__id__exact")
    search_help_text = "An exact refund id (re_…), payment id (pay_…), processor refund id or merchant id."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    sortable_by = ("id", "amount", "created")
    fields = (
        "id",
        "payment_link",
        "merchant",
        "amount_display",
        "currency",
        "status",
        "reason",
        "failure_reason",
        "processor_refund_id",
        "processor_attempts",
        "requested_by",
        "created",
        "updated",
    )
    readonly_fields = fields

    merchant_name = merchant_column
    amount_display = _money_column("amount", "amount")

    @admin.display(description="payment", ordering="payment_id")
    def payment_link(self, obj):
        return admin_link_by_id("payments", "payment", obj.payment_id)


# --- Disputes: the queue, evidence and acceptance ---------------------------------------------------


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The queue fits 1440 px beside the admin's menu and filters: the dispute, its payment and merchant in one
    # column (each id once, the merchant's name cut short), then what staff decide on (the amount, the state,
    # the deadline, the reason). When it was opened is on its page.
    list_display = ("dispute_column", "amount_display", "status_display", "due", "reason_display")
    list_display_links = None  # the dispute column links itself (and the payment)
    list_filter = (DisputeStateFilter, "reason", MerchantIdFilter)
    list_select_related = ("merchant",)
    # The queue: the nearest deadline first (the partial index dispute_open_due serves it).
    ordering = ("evidence_due_by", "id")
    search_fields = ("id__exact", "payment__id__exact", "processor_dispute_id__exact", "merchant__id__exact")
    search_help_text = "An exact dispute id (dp_…), payment id (pay_…), processor dispute id or merchant id."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    actions = ["accept_selected"]
    fields = (
        "id",
        "payment_link",
        "merchant",
        "amount_display",
        "fee_display",
        "currency",
        "status",
        "reason",
        "due",
        "evidence_submitted_at",
        "evidence_display",
        "closed_at",
        "processor_dispute_id",
        "created",
        "updated",
    )
    readonly_fields = fields

    merchant_name = merchant_column
    amount_display = _money_column("amount", "amount")
    fee_display = _money_column("fee", "fee")

    @admin.display(description="payment", ordering="payment_id")
    def payment_link(self, obj):
        return admin_link_by_id("payments", "payment", obj.payment_id)

    @admin.display(description="dispute · payment · merchant", ordering="id")
    def dispute_column(self, obj):
        return format_html(
            '<a href="{}" class="backoffice-id">{}</a>'
            '<a href="{}" class="backoffice-id backoffice-sub">{}</a>'
            '<span class="backoffice-sub backoffice-cut" title="{}">{}</span>',
            reverse("admin:payments_dispute_change", args=[quote(obj.pk)]),
            obj.pk,
            reverse("admin:payments_payment_change", args=[quote(obj.payment_id)]),
            obj.payment_id,
            obj.merchant_id,
            obj.merchant.name,
        )

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return obj.status.replace("_", " ").capitalize()

    @admin.display(description="reason", ordering="reason")
    def reason_display(self, obj):
        return obj.reason.replace("_", " ")

    @admin.display(description="evidence due by", ordering="evidence_due_by")
    def due(self, obj):
        if obj.is_open and obj.evidence_due_by < timezone.now():
            return format_html(
                '{} <strong class="backoffice-sub" style="color: var(--error-fg);">overdue</strong>',
                when(obj.evidence_due_by),
            )
        return when(obj.evidence_due_by)

    @admin.display(description="evidence")
    def evidence_display(self, obj):
        rows = [(name.replace("_", " "), obj.evidence.get(name, "")) for name in EVIDENCE_FIELDS]
        if not any(text for _, text in rows):
            return "—"
        items = format_html_join(
            "",
            "<dt><strong>{}</strong></dt><dd style='white-space: pre-wrap'>{}</dd>",
            ((label, text) for label, text in rows if text),
        )
        return format_html("<dl>{}</dl>", items)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/evidence/", view(self.evidence_view), name="payments_dispute_evidence"),
            path("<path:object_id>/accept/", view(self.accept_view), name="payments_dispute_accept"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dispute = self.get_object(request, unquote(object_id))
        buttons = []
        if dispute is not None and dispute.status == DisputeStatus.NEEDS_RESPONSE:
            for name, label, codename in (
                ("evidence", "Submit evidence", "submit_dispute_evidence"),
                ("accept", "Accept (concede)", "accept_dispute"),
            ):
                if request.user.has_perm(perm(codename)):
                    url = reverse(f"admin:payments_dispute_{name}", args=[quote(dispute.pk)])
                    buttons.append({"label": label, "name": name, "url": url})
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "backoffice_buttons": buttons}
        )

    def evidence_view(self, request, object_id):
        require_perm(request, "submit_dispute_evidence")
        page = ActionPage(self, request, None, object_id)
        dispute = page.obj
        form = DisputeEvidenceForm(request.POST or None, initial=dispute.evidence or None)
        if request.method == "POST" and form.is_valid():
            try:
                dispute = backoffice_services.staff_dispute_submit_evidence(
                    dispute=dispute, evidence=form.cleaned_data, user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(
                    request,
                    f"Evidence sent to the processor; dispute {dispute.id} is now {dispute.status}.",
                    level=messages.SUCCESS,
                )
                return page.back()
        return page.render(
            title="Submit dispute evidence",
            form=form,
            submit_label="Submit evidence",
            details=self._details(dispute),
            intro="Evidence is sent once; the processor then decides.",
        )

    def accept_view(self, request, object_id):
        require_perm(request, "accept_dispute")
        page = ActionPage(self, request, None, object_id)
        dispute = page.obj
        form = DisputeAcceptForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                dispute = backoffice_services.staff_dispute_accept(
                    dispute=dispute, reason=form.cleaned_data["reason"], user=request.user
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(
                    request, f"Dispute {dispute.id} accepted: it is now {dispute.status}.", level=messages.SUCCESS
                )
            return page.back()
        return page.render(
            title="Accept dispute",
            form=form,
            submit_label="Accept the dispute",
            details=self._details(dispute),
            danger=True,
            warning="Accepting concedes the dispute: the amount and the fee are lost for good.",
        )

    def _details(self, dispute):
        return [
            ("Dispute", dispute.id),
            ("Payment", dispute.payment_id),
            ("Reason", dispute.reason),
            ("Amount", money(dispute.amount, dispute.currency)),
            ("Status", dispute.status),
            ("Evidence due by", self.due(dispute)),
        ]

    def has_accept_permission(self, request):
        return request.user.has_perm(perm("accept_dispute"))

    @admin.action(description="Accept (concede) the selected disputes…", permissions=["accept"])
    def accept_selected(self, request, queryset):
        """Asks for a reason on a confirmation page first; each dispute goes through ``dispute_accept``."""
        disputes = list(queryset.order_by("evidence_due_by"))
        form = DisputeAcceptForm(request.POST if "_confirm" in request.POST else None)
        if "_confirm" in request.POST and form.is_valid():
            accepted = 0
            for dispute in disputes:
                try:
                    backoffice_services.staff_dispute_accept(
                        dispute=dispute, reason=form.cleaned_data["reason"], user=request.user
                    )
                    accepted += 1
                except DomainError as error:
                    self.message_user(request, f"{dispute.id}: {error.message}", level=messages.ERROR)
            if accepted:
                self.message_user(request, f"Accepted {accepted} dispute(s).", level=messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "backoffice/dispute_accept_selected.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Accept disputes",
                "disputes": disputes,
                "form": form,
                "action": "accept_selected",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    """Exchange rates: imported hourly from the processor; finance may correct one (it is then kept as set).
    A payment locks its rate at confirmation, so an edit only affects payments confirmed afterwards."""

    list_display = ["base_currency", "quote_currency", "rate", "source", "as_of", "updated"]
    list_filter = ["source", "base_currency"]
    search_fields = ["quote_currency", "base_currency"]
    readonly_fields = ["source", "as_of", "updated"]

    def save_model(self, request, obj, form, change):
        from core.staff import staff_actor
        from payments.fx_services import fx_rate_set

        fx_rate_set(rate=obj, actor=staff_actor(request.user), reason="edited in the admin")

    def has_delete_permission(self, request, obj=None):
        return False


class RoutingRuleForm(forms.ModelForm):
    """A routing rule; a processor name that is not configured is refused with a form error."""

    payment_method_type = forms.ChoiceField(choices=[("", "any")] + PAYMENT_METHOD_TYPES, required=False)

    class Meta:
        model = RoutingRule
        fields = [
            "priority",
            "currency",
            "payment_method_type",
            "merchant",
            "processor",
            "fallback_processor",
            "enabled",
            "description",
        ]

    def _post_clean(self):
        super()._post_clean()
        try:
            routing_rule_validate(self.instance)
        except ValidationError as error:
            self._update_errors(error)


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Which acquirer takes which payments: operations edit the rules here, each change audited
    (``payments.routing``). The first enabled matching rule decides; none matches, PROCESSOR_DEFAULT."""

    form = RoutingRuleForm
    list_display = [
        "priority",
        "currency",
        "payment_method_type",
        "merchant",
        "processor",
        "fallback_processor",
        "enabled",
        "description",
    ]
    list_filter = ["enabled", "processor"]
    raw_id_fields = ["merchant"]

    def save_model(self, request, obj, form, change):
        routing_rule_save(rule=obj, actor=_staff_actor(request.user), reason="edited in the admin")

    def delete_model(self, request, obj):
        routing_rule_delete(rule=obj, actor=_staff_actor(request.user), reason="deleted in the admin")

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


def _staff_actor(user) -> str:
    from backoffice.services import staff_actor

    return staff_actor(user)
