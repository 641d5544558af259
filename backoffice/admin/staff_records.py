"""Refund requests (maker-checker) and ledger adjustments in the admin.

A refund request is made from a payment's page (``Refund`` above the threshold)
and decided here by a different user with ``approve_refund_request``: the
buttons call ``refund_request_approve`` / ``refund_request_reject``, which refuse
the requester with a message. Ledger adjustments are made on their own add page
by users with ``make_ledger_adjustment``, through ``ledger_adjustment_make``.
Neither is ever changed or deleted.
"""

from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from backoffice import services
from backoffice.admin.base import (
    ActionPage,
    ReadOnlyAdminMixin,
    admin_link_by_id,
    change_url,
    money,
    report_error,
    require_perm,
)
from backoffice.admin.filters import AmountRangeFilter, PendingFirstStatusFilter
from backoffice.forms import DecisionForm, LedgerAdjustmentForm
from backoffice.models import LedgerAdjustment, RefundRequest
from core.errors import DomainError
from core.staff import perm

OWN_REQUEST = "You made this request: another Finance user must approve or reject it."


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "payment_link",
        "amount_display",
        "reason",
        "requested_by",
        "status",
        "created",
        "decided_by",
        "refund_link",
    )
    list_filter = (PendingFirstStatusFilter, AmountRangeFilter, ("created", admin.DateFieldListFilter))
    list_select_related = ("requested_by", "decided_by")
    search_fields = ("id__exact", "payment__id__exact")
    search_help_text = "An exact request id (rr_…) or payment id (pay_…)."
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    fields = (
        "id",
        "payment_link",
        "amount_display",
        "reason",
        "note",
        "requested_by",
        "created",
        "status",
        "decided_by",
        "decided_at",
        "decision_note",
        "refund_link",
        "failure_message",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.currency)

    @admin.display(description="payment")
    def payment_link(self, obj):
        return admin_link_by_id("payments", "payment", obj.payment_id)

    @admin.display(description="refund")
    def refund_link(self, obj):
        return admin_link_by_id("payments", "refund", obj.refund_id)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/approve/", view(self.approve_view), name="backoffice_refundrequest_approve"),
            path("<path:object_id>/reject/", view(self.reject_view), name="backoffice_refundrequest_reject"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        refund_request = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {}), "backoffice_buttons": []}
        can_decide = request.user.has_perm(perm("approve_refund_request"))
        pending = refund_request is not None and refund_request.status == RefundRequest.Status.PENDING
        if pending and refund_request.requested_by_id == request.user.pk:
            # No buttons for the requester, who may not decide their own request (the service refuses it too).
            context["own_request_notice"] = OWN_REQUEST
        elif pending and can_decide:
            context["backoffice_buttons"] = [
                {
                    "label": "Approve",
                    "name": "approve",
                    "url": reverse("admin:backoffice_refundrequest_approve", args=[quote(refund_request.pk)]),
                },
                {
                    "label": "Reject",
                    "name": "reject",
                    "url": reverse("admin:backoffice_refundrequest_reject", args=[quote(refund_request.pk)]),
                },
            ]
        return super().change_view(request, object_id, form_url, context)

    def _details(self, refund_request: RefundRequest):
        payment = refund_request.payment
        return [
            ("Request", refund_request.id),
            ("Payment", payment.id),
            ("Card", f"{payment.card_brand} •••• {payment.card_last4}"),
            ("Amount", money(refund_request.amount, refund_request.currency)),
            (
                "Captured / already refunded",
                f"{money(payment.amount_captured, payment.currency)} / "
                f"{money(payment.amount_refunded, payment.currency)}",
            ),
            ("Reason", refund_request.reason),
            ("Note", refund_request.note or "—"),
            ("Requested by", refund_request.requested_by.get_username()),
        ]

    def _decide(self, request, object_id, *, approve: bool):
        require_perm(request, "approve_refund_request")
        page = ActionPage(self, request, None, object_id)
        refund_request = page.obj
        own = refund_request.requested_by_id == request.user.pk
        if own and request.method != "POST":
            # No form for one's own request (its page has no buttons for the requester); a form posted anyway
            # goes to the service, which refuses it with the same words.
            self.message_user(request, OWN_REQUEST, level=messages.ERROR)
            return page.back()
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if approve:
                    decided = services.refund_request_approve(request=refund_request, user=request.user, note=note)
                else:
                    decided = services.refund_request_reject(request=refund_request, user=request.user, note=note)
            except DomainError as error:
                report_error(self, request, error)
            else:
                self._report(request, decided)
            return page.back()
        verb = "Approve" if approve else "Reject"
        return page.render(
            title=f"{verb} refund request",
            form=form,
            submit_label=verb,
            details=self._details(refund_request),
            danger=not approve,
        )

    def _report(self, request, decided: RefundRequest) -> None:
        if decided.status == RefundRequest.Status.APPROVED and decided.refund is not None:
            refund = decided.refund
            self.message_user(
                request,
                format_html(
                    "Approved: refund {} of {} created: {}.",
                    refund.id,
                    money(refund.amount, refund.currency),
                    refund.status,
                ),
                level=messages.SUCCESS,
            )
        elif decided.status == RefundRequest.Status.FAILED:
            self.message_user(
                request, f"Approved, but the refund was refused: {decided.failure_message}", level=messages.ERROR
            )
        else:
            self.message_user(request, f"Refund request {decided.id} is {decided.status}.", level=messages.SUCCESS)

    def approve_view(self, request, object_id):
        return self._decide(request, object_id, approve=True)

    def reject_view(self, request, object_id):
        return self._decide(request, object_id, approve=False)


@admin.register(LedgerAdjustment)
class LedgerAdjustmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "amount_display", "memo", "made_by", "entry_link", "created")
    list_filter = ("currency", ("created", admin.DateFieldListFilter))
    list_select_related = ("merchant", "made_by")
    search_fields = ("id__exact", "merchant__id__exact", "journal_entry__id__exact")
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    fields = ("id", "merchant", "amount_display", "memo", "made_by", "entry_link", "created")
    readonly_fields = fields

    @admin.display(description="amount (signed)", ordering="amount")
    def amount_display(self, obj):
        return money(obj.amount, obj.currency)

    @admin.display(description="journal entry")
    def entry_link(self, obj):
        return admin_link_by_id("ledger", "journalentry", obj.journal_entry_id)

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm(perm("make_ledger_adjustment"))

    def add_view(self, request, form_url="", extra_context=None):
        """Our own form instead of a model form: the service posts the entry, the record and the audit together."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        page = ActionPage(self, request, None)
        form = LedgerAdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                adjustment = services.ledger_adjustment_make(
                    merchant=data["merchant"],
                    amount=data["amount"],
                    currency=data["currency"],
                    memo=data["memo"],
                    user=request.user,
                    creation_key=data["token"],
                )
            except DomainError as error:
                report_error(self, request, error)
            else:
                self.message_user(
                    request,
                    f"Adjustment {adjustment.id} of "
                    f"{money(adjustment.amount, adjustment.currency)} posted as "
                    f"{adjustment.journal_entry_id}.",
                    level=messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url(adjustment))
        return page.render(
            title="Make a ledger adjustment",
            form=form,
            submit_label="Post the adjustment",
            intro="Corrects a merchant's available balance with a posted journal entry "
            "(type adjustment). Entries are never edited: a mistake is corrected by "
            "another adjustment.",
        )
