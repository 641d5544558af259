"""List filters that stay fast on large tables: typed values and exact ranges instead of lists of every value.

Django's default filters for a foreign key or a free-text column list every
distinct value (a ``SELECT DISTINCT`` over the table on each page view); these
take a typed value and filter on an indexed column instead.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError

from backoffice.forms import MajorUnitsAmountField, major_units_to_minor
from core.money import is_known_currency
from payments.models import DISPUTE_OPEN_STATUSES, DisputeStatus

INPUT_TEMPLATE = "admin/backoffice/input_filter.html"
# Parameters of the changelist that are not filters and must not be carried into a filter form.
_NOT_CARRIED = ("p", "e")


def _carried(request, exclude) -> list[tuple[str, str]]:
    """The other query parameters, carried as hidden inputs so a filter form keeps the other filters."""
    return [(key, value) for key, value in request.GET.items() if key not in exclude and key not in _NOT_CARRIED]


class InputFilter(admin.SimpleListFilter):
    """A text box; ``lookup`` says which indexed lookup the typed value is used for."""

    template = INPUT_TEMPLATE
    lookup: str = ""
    placeholder = ""

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(**{self.lookup: value}) if value else queryset

    def choices(self, changelist):
        yield {
            "inputs": [(self.parameter_name, self.value() or "", self.placeholder)],
            "hidden": _carried(self.request, [self.parameter_name]),
            "active": bool(self.value()),
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }


class RangeFilter(admin.ListFilter):
    """Two integer boxes, ``<field>_min`` and ``<field>_max``, both inclusive."""

    template = INPUT_TEMPLATE
    field_name: str = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.expected_parameters():
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value

    def expected_parameters(self):
        return [f"{self.field_name}_min", f"{self.field_name}_max"]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        low, high = self.expected_parameters()
        try:
            if low in self.used_parameters:
                queryset = queryset.filter(**{f"{self.field_name}__gte": int(self.used_parameters[low])})
            if high in self.used_parameters:
                queryset = queryset.filter(**{f"{self.field_name}__lte": int(self.used_parameters[high])})
        except ValueError as error:
            raise IncorrectLookupParameters(error) from error
        return queryset

    def choices(self, changelist):
        low, high = self.expected_parameters()
        yield {
            "inputs": [
                (low, self.used_parameters.get(low, ""), "from"),
                (high, self.used_parameters.get(high, ""), "to"),
            ],
            "hidden": _carried(self.request, [low, high]),
            "active": bool(self.used_parameters),
            "clear_query_string": changelist.get_query_string(remove=[low, high]),
        }


class MerchantIdFilter(InputFilter):
    title = "merchant id"
    parameter_name = "merchant_id"
    lookup = "merchant_id"
    placeholder = "mch_…"


class Last4Filter(InputFilter):
    title = "card last four"
    parameter_name = "last4"
    lookup = "card_last4"
    placeholder = "4242"


class CurrencyFilter(InputFilter):
    title = "currency"
    parameter_name = "currency"
    lookup = "currency"
    placeholder = "USD"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().upper()
        return queryset.filter(currency=value) if value else queryset


class AmountRangeFilter(RangeFilter):
    """The amount typed in major units (25.00), of the currency the list is filtered on (``CurrencyFilter``), or
    with two decimal places when it is not filtered on one (as most currencies have)."""

    title = "amount (25.00)"
    field_name = "amount"

    def _minor(self, typed: str) -> int:
        currency = (self.request.GET.get(CurrencyFilter.parameter_name) or "").strip().upper()
        currency = currency if is_known_currency(currency) else "USD"
        try:
            return major_units_to_minor(MajorUnitsAmountField(allow_negative=True).clean(typed), currency)
        except ValidationError as error:
            raise IncorrectLookupParameters(error) from error

    def queryset(self, request, queryset):
        low, high = self.expected_parameters()
        if low in self.used_parameters:
            queryset = queryset.filter(**{f"{self.field_name}__gte": self._minor(self.used_parameters[low])})
        if high in self.used_parameters:
            queryset = queryset.filter(**{f"{self.field_name}__lte": self._minor(self.used_parameters[high])})
        return queryset


class DisputeStateFilter(admin.SimpleListFilter):
    """Open disputes by default: the queue staff work through, oldest deadline first."""

    title = "state"
    parameter_name = "state"
    DEFAULT = "open"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open (needs response, under review)"),
            ("needs_response", "Needs response"),
            ("under_review", "Under review"),
            ("closed", "Closed (won, lost)"),
            ("won", "Won"),
            ("lost", "Lost"),
            ("all", "All"),
        ]

    def queryset(self, request, queryset):
        state = self.value() or self.DEFAULT
        if state == "open":
            return queryset.filter(status__in=DISPUTE_OPEN_STATUSES)
        if state == "closed":
            return queryset.filter(status__in=[DisputeStatus.WON, DisputeStatus.LOST])
        if state in DisputeStatus.values:
            return queryset.filter(status=state)
        return queryset

    def choices(self, changelist):
        current = self.value() or self.DEFAULT
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class PendingFirstStatusFilter(admin.SimpleListFilter):
    """Refund requests: the pending ones by default (the approval queue)."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "pending"

    def lookups(self, request, model_admin):
        return [
            ("pending", "Pending"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("failed", "Failed"),
            ("all", "All"),
        ]

    def queryset(self, request, queryset):
        status = self.value() or self.DEFAULT
        return queryset if status == "all" else queryset.filter(status=status)

    def choices(self, changelist):
        current = self.value() or self.DEFAULT
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }
