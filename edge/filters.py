"""Query-string filters shared by list endpoints (``?created[gte]=``…)."""

import re
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from core.errors import InvalidRequestError

CREATED_OPERATORS = ("gt", "gte", "lt", "lte")
# The query parameters of ``filter_created``, for a list's accepted filters.
CREATED_FILTERS = tuple(f"created[{operator}]" for operator in CREATED_OPERATORS)

# The range of ``created[…]``: what a date-time can be in UTC (years 1 to 9999). As Unix seconds,
# 0 (1970-01-01T00:00:00Z) to 253402300799 (9999-12-31T23:59:59Z); ASCII digits only ("²", "٣" and
# full-width digits are digits to ``str.isdigit`` and ``int`` but not to the API).
MAX_TIMESTAMP = 253402300799
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$", re.ASCII)


def _parse_timestamp(raw: str, param: str) -> datetime:
    """A Unix timestamp in seconds or an ISO 8601 date-time (UTC when no offset), from year 1 to 9999 in UTC."""

    def invalid():
        return InvalidRequestError(
            f"{param} must be a Unix timestamp (0 to {MAX_TIMESTAMP}) or an ISO 8601 date-time between years "
            "1 and 9999 in UTC.",
            code="parameter_invalid",
            param=param,
        )

    if _UNIX_SECONDS.match(raw):
        seconds = int(raw)
        if seconds > MAX_TIMESTAMP:
            raise invalid()
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not raw.isascii():
        raise invalid()
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid()
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC, which the database's driver cannot write.
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise invalid() from None


def filter_created(queryset, query_params, field: str = "created"):
    """Apply ``created[gt]``, ``created[gte]``, ``created[lt]`` and ``created[lte]``."""
    for operator in CREATED_OPERATORS:
        param = f"created[{operator}]"
        raw = query_params.get(param)
        if raw:
            queryset = queryset.filter(**{f"{field}__{operator}": _parse_timestamp(raw, param)})
    return queryset


def filter_choice(queryset, query_params, param: str, choices, field: str | None = None):
    """Apply ``?param=value`` where value must be one of ``choices``."""
    raw = query_params.get(param)
    if raw is None:
        return queryset
    if raw not in choices:
        allowed = ", ".join(sorted(choices))
        raise InvalidRequestError(f"{param} must be one of: {allowed}.", code="parameter_invalid", param=param)
    return queryset.filter(**{field or param: raw})
