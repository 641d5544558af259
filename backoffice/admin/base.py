"""What the back office's admin pages share: read-only model admins, action pages, errors as messages."""

from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from backoffice.selectors import OBJECT_TYPE_OF_PREFIX
from core.admin import ReadOnlyAdminMixin, cut  # noqa: F401 - the back office's admins import them from here
from core.errors import DomainError
from core.money import format_amount
from core.staff import perm


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` + 1 rows: ``count`` is exact up to ``cap``, and ``cap`` + 1 means "more than
    ``cap``" (the list's templates say so).

    Counting everything a search or filter finds reads every matching row, and a word or a metadata value that a
    third of a million payments share takes seconds to count; no one pages that far, they refine the search.
    """

    cap = 1000

    @cached_property
    def count(self) -> int:
        # SELECT COUNT(*) FROM (SELECT … LIMIT cap + 1): PostgreSQL stops reading after cap + 1 rows.
        return self.object_list.order_by()[: self.cap + 1].count()


def money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_amount(amount, currency)


def when(moment) -> str:
    """A date and time as the whole admin writes them: "2026-11-30 14:05 UTC" (``DATETIME_FORMAT``)."""
    if moment is None:
        return "—"
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def admin_link(obj, label: str | None = None):
    """A link to ``obj``'s admin page."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def admin_link_by_id(app_label: str, model_name: str, pk) -> str:
    if pk is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{app_label}_{model_name}_change", args=[quote(pk)]), pk)


def object_url(admin_site, object_type: str, object_id) -> str | None:
    """The admin page of an object given by its model's name (an audit entry's ``object_type``) and id, if the
    admin has pages for that model."""
    for model in admin_site._registry:
        if model._meta.model_name == object_type:
            name = f"{admin_site.name}:{model._meta.app_label}_{object_type}_change"
            try:
                return reverse(name, args=[quote(object_id)])
            except NoReverseMatch:
                return None
    return None


def short_id(object_id: str) -> str:
    """``pay_01M8Q1JA0NC24P775BYJF5P9DH`` → ``pay_01M8…F5P9DH``: the prefix says what it is, the end tells two
    apart (a ULID's first characters are its time, alike for ids made the same day). For a list's column; the
    whole id goes in the title."""
    return object_id if len(object_id) <= 16 else f"{object_id[:8]}…{object_id[-6:]}"


def clamp(text: str, em: int, lines: int):
    """``text`` wrapped within ``em`` ems, at most ``lines`` lines of it (an ellipsis when longer), the whole of
    it in the title: for a column whose words matter (a change, a reason) in a list that fits the screen."""
    return format_html(
        '<span title="{}" style="display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: {};'
        ' overflow: hidden; max-width: {}em; min-width: {}em; overflow-wrap: anywhere">{}</span>',
        text,
        lines,
        em,
        em // 2,
        text,
    )


def link_by_prefix(admin_site, object_id: str, label: str | None = None):
    """A link to the object ``object_id`` names by its prefix (``pay_…``, ``re_…``, ``po_…``), with the whole id
    in the title; the id as text when its prefix names nothing the admin shows."""
    if not object_id:
        return "—"
    object_type = OBJECT_TYPE_OF_PREFIX.get(object_id.partition("_")[0]) if "_" in object_id else None
    url = object_url(admin_site, object_type, object_id) if object_type else None
    if url is None:
        return format_html('<span title="{}">{}</span>', object_id, label or object_id)
    return format_html(
        '<a href="{}" title="{} {}" style="white-space: nowrap">{}</a>', url, object_type, object_id, label or object_id
    )


def require_perm(request, codename: str) -> None:
    """403 unless the user holds ``backoffice.<codename>`` (the service checks again)."""
    if not request.user.has_perm(perm(codename)):
        raise PermissionDenied


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def report_error(model_admin, request, error: DomainError) -> None:
    """A refusal from a service, shown as the page's error message (never a crash page)."""
    model_admin.message_user(request, error.message, level=messages.ERROR)


class ActionPage:
    """A page with one form that performs one staff action on one object, then returns to the object."""

    template = "backoffice/action_form.html"

    def __init__(self, model_admin, request, obj_or_model, object_id=None):
        self.model_admin = model_admin
        self.request = request
        self.opts = model_admin.model._meta
        if object_id is not None:
            self.obj = get_object_or_404(model_admin.get_queryset(request), pk=unquote(object_id))
        else:
            self.obj = obj_or_model
        if self.obj is not None and not model_admin.has_view_permission(request, self.obj):
            raise PermissionDenied

    def render(
        self,
        *,
        title: str,
        form,
        submit_label: str,
        details=(),
        intro: str = "",
        danger: bool = False,
        warning: str = "",
    ):
        context = {
            **self.model_admin.admin_site.each_context(self.request),
            "opts": self.opts,
            "original": self.obj,
            "title": title,
            "subtitle": str(self.obj) if self.obj is not None else None,
            "form": form,
            "submit_label": submit_label,
            "details": details,
            "intro": intro,
            "warning": warning,
            "danger": danger,
            "back_url": change_url(self.obj) if self.obj is not None else None,
            "media": self.model_admin.media + form.media,
        }
        return TemplateResponse(self.request, self.template, context)

    def back(self):
        return HttpResponseRedirect(change_url(self.obj))


def get_admin_view(model_admin, view):
    """``view`` behind the admin's login and staff checks (never wrapped in a transaction)."""
    return model_admin.admin_site.admin_view(view)
