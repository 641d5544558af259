"""Cursor pagination as the contract describes it.

``?limit=`` (1–100, default 10), ``?starting_after=<id>``, ``?ending_before=<id>``;
the answer is ``{"object": "list", "data": [...], "has_more": bool}``, newest first.
Ids are time-ordered (``core.ids``), so "newest first" is "primary key descending"
and a cursor is a primary-key comparison on an index.
"""

from collections.abc import Iterable

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from core.errors import InvalidRequestError

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(
            f"limit must be an integer from 1 to {MAX_LIMIT}.", code="parameter_invalid", param="limit"
        )
    return limit


# Every list takes these; its filters are the rest of what it accepts.
PAGINATION_PARAMETERS = ("limit", "starting_after", "ending_before")


def reject_unknown_parameters(query_params, accepted: Iterable[str]) -> None:
    """400 ``parameter_unknown`` naming the first parameter of the query string that is not ``accepted``: a filter
    misspelled or not supported must not be ignored silently (the answer would be a list the client did not ask
    for). An accepted name ending in ``[*]`` (``metadata[*]``) accepts every ``metadata[key]``."""
    exact = {name for name in accepted if not name.endswith("[*]")}
    families = tuple(name[:-2] for name in accepted if name.endswith("[*]"))
    for name in sorted(query_params.keys()):
        if name in exact or (families and name.startswith(families) and name.endswith("]")):
            continue
        listed = ", ".join(sorted({*exact, *(family + "…]" for family in families)}))
        raise InvalidRequestError(
            f"Unknown parameter '{name}': this list accepts {listed}.", code="parameter_unknown", param=name
        )


class CursorListPagination(BasePagination):
    """Pages a queryset by primary key; the queryset must be the caller's own objects.

    ``filters`` are the query parameters the list accepts besides the pagination's own: any other is refused
    (``reject_unknown_parameters``)."""

    def __init__(self, filters: Iterable[str] = ()):
        self.accepted = (*PAGINATION_PARAMETERS, *filters)

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        reject_unknown_parameters(params, self.accepted)
        limit = parse_limit(params.get("limit"))
        starting_after = params.get("starting_after")
        ending_before = params.get("ending_before")
        if starting_after and ending_before:
            raise InvalidRequestError(
                "Pass starting_after or ending_before, not both.", code="parameter_invalid", param="ending_before"
            )
        cursor_param = "starting_after" if starting_after else "ending_before"
        cursor = starting_after or ending_before
        if cursor and not queryset.filter(pk=cursor).exists():
            # A cursor must be one of the caller's own objects, as with Stripe.
            raise InvalidRequestError(f"No such object: '{cursor}'.", code="resource_missing", param=cursor_param)

        if ending_before:
            rows = list(queryset.filter(pk__gt=ending_before).order_by("pk")[: limit + 1])
            self.has_more = len(rows) > limit
            page = list(reversed(rows[:limit]))
        else:
            if starting_after:
                queryset = queryset.filter(pk__lt=starting_after)
            rows = list(queryset.order_by("-pk")[: limit + 1])
            self.has_more = len(rows) > limit
            page = rows[:limit]
        self.url = request.path
        return page

    def get_paginated_response(self, data):
        return Response({"object": "list", "url": self.url, "has_more": self.has_more, "data": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["object", "data", "has_more", "url"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "url": {"type": "string"},
                "has_more": {"type": "boolean"},
                "data": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        def cursor(name, description):
            return {
                "name": name,
                "required": False,
                "in": "query",
                "description": description,
                "schema": {"type": "string"},
            }

        return [
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": "1 to 100, default 10.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            },
            cursor("starting_after", "An object id: return the objects created before it."),
            cursor("ending_before", "An object id: return the objects created after it."),
        ]
