"""Template filters of the back office's pages."""

import json

from django import template

from core.money import format_amount

register = template.Library()


@register.filter
def money(amount, currency):
    """``{{ refund.amount|money:refund.currency }}`` → ``19.99 USD`` (the one display helper, core.money)."""
    if amount is None or not currency:
        return "—"
    return format_amount(amount, currency)


@register.filter
def compact_json(value):
    if value in (None, "", {}):
        return ""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, sort_keys=True)
