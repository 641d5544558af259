"""Query-string filters shared by list endpoints (``?created[gte]=``…)."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from core.errors import InvalidRequestError

_CREATED_OPERATORS = ("gt", "gte", "lt", "lte")


def _parse_timestamp(raw: str, param: str) -> datetime:
    """A Unix timestamp in seconds or an ISO 8601 date-time (UTC when no offset)."""
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw), tz=UTC)
    parsed = None
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidRequestError(
            f"{param} must be a Unix timestamp or an ISO 8601 date-time.", code="parameter_invalid", param=param
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_created(queryset, query_params, field: str = "created"):
    """Apply ``created[gt]``, ``created[gte]``, ``created[lt]`` and ``created[lte]``."""
    for operator in _CREATED_OPERATORS:
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
