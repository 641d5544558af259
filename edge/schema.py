"""OpenAPI pieces shared by every API view: the error shape, the Idempotency-Key header, and the
postprocessing hook that states what every operation accepts (filters' enums and formats, ids' shapes,
closed request bodies) and every error it can answer."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description="1–255 printable ASCII characters, unique per operation; reuse it to retry safely.",
    pattern=r"^[\x20-\x7E]{1,255}$",
)
PAYMENT_ID = OpenApiParameter("payment_id", OpenApiTypes.STR, location=OpenApiParameter.PATH)
# RFC 7240 (edge.prefer): the operations that can answer before their work is done take ``respond-async``.
PREFER_HEADER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="`respond-async` (RFC 7240): answer `202` with the payment `processing` as soon as the intent to "
    "charge is recorded, and charge the card in a worker. Other preferences are ignored.",
)
PREFERENCE_APPLIED_HEADER = OpenApiParameter(
    "Preference-Applied",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=[202],
    description="`respond-async`: the request was answered before the processor was called.",
)

ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "error": inline_serializer(
            "ErrorDetail",
            fields={
                "type": serializers.CharField(),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "param": serializers.CharField(allow_null=True),
            },
        )
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="invalid_request_error"),
    401: OpenApiResponse(ErrorSerializer, description="authentication_error"),
    402: OpenApiResponse(ErrorSerializer, description="card_error (carries the failed payment)"),
    404: OpenApiResponse(ErrorSerializer, description="resource_missing"),
    409: OpenApiResponse(ErrorSerializer, description="idempotency_key_in_use"),
    422: OpenApiResponse(ErrorSerializer, description="idempotency_key_reused"),
    429: OpenApiResponse(ErrorSerializer, description="rate_limit_error"),
}

# For read-only endpoints: no card, idempotency or state errors.
READ_ERROR_RESPONSES = {status: ERROR_RESPONSES[status] for status in (400, 401, 404, 429)}


# --- Request bodies are closed: an unknown field is 400 parameter_unknown ---------------------------


class StrictInputSerializerExtension(OpenApiSerializerExtension):
    """Every ``StrictInputSerializer`` refuses fields it does not know: ``additionalProperties: false``."""

    target_class = "edge.api.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


# --- The postprocessing hook: what every operation accepts and answers --------------------------------

ERROR_TYPES = [
    "invalid_request_error",
    "authentication_error",
    "card_error",
    "idempotency_error",
    "rate_limit_error",
    "api_error",
]

# Lists that take created[gt|gte|lt|lte] (edge.filters.filter_created).
CREATED_FILTER_LISTS = {
    "payments_list",
    "refunds_list",
    "disputes_list",
    "events_list",
    "balance_transactions_list",
    "checkout_sessions_list",
}
# Operations that call the processor and answer 503 processor_unavailable when it cannot be asked.
PROCESSOR_OPERATIONS = {
    "payments_create",
    "payments_confirm",
    "payments_capture",
    "payments_cancel",
    "disputes_submit_evidence",
    "disputes_accept",
    "external_accounts_create",
}
# Operations that may decline (402 card_error carrying the failed payment).
DECLINING_OPERATIONS = {"payments_create", "payments_confirm", "payments_capture", "payments_cancel"}

_ERROR_DESCRIPTIONS = {
    "400": "invalid_request_error: a bad parameter, body or query (also `pan_not_allowed`), or a state that "
    "does not allow the operation",
    "401": "authentication_error: `api_key_missing` or `api_key_invalid`",
    "402": "card_error: a decline; `decline_code` and the failed `payment` are members of the error",
    "404": "invalid_request_error `resource_missing`: no such object of this merchant (or an id of the wrong shape)",
    "409": "`idempotency_key_in_use` (idempotency_error) or `payment_operation_in_progress`",
    "413": "invalid_request_error `body_too_large`: the body is over 1 MB",
    "415": "invalid_request_error `content_type_invalid`: the body is not application/json in UTF-8",
    "422": "idempotency_error `idempotency_key_reused`",
    "429": "rate_limit_error `rate_limit`, with `Retry-After`",
    "503": "api_error `processor_unavailable`: the processor did not answer; retrying with the same key is safe",
}


def _created_parameter(operator: str) -> dict:
    from edge.filters import MAX_TIMESTAMP

    sign = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}[operator]
    return {
        "in": "query",
        "name": f"created[{operator}]",
        "required": False,
        "description": f"Only objects created {sign} this time: Unix seconds (0 to {MAX_TIMESTAMP}) or an ISO 8601 "
        "date-time (UTC when it has no offset), between years 1 and 9999 once in UTC.",
        "schema": {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_TIMESTAMP},
                {"type": "string", "format": "date-time"},
            ]
        },
        "style": "form",
        "explode": True,
    }


def _pagination_parameters() -> list[dict]:
    from edge.pagination import MAX_LIMIT

    cursor = "An id of one of your own objects in this list (`400 resource_missing` otherwise); not with {}."
    return [
        {
            "in": "query",
            "name": "limit",
            "required": False,
            "description": f"How many objects, 1 to {MAX_LIMIT} (default 10).",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        },
        {
            "in": "query",
            "name": "starting_after",
            "required": False,
            "description": "Objects older than this one. " + cursor.format("`ending_before`"),
            "schema": {"type": "string"},
        },
        {
            "in": "query",
            "name": "ending_before",
            "required": False,
            "description": "Objects newer than this one. " + cursor.format("`starting_after`"),
            "schema": {"type": "string"},
        },
    ]


def _error_response(status: str) -> dict:
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": _ERROR_DESCRIPTIONS[status],
    }


def postprocess_schema(result, generator, request, public):
    """Make the document say exactly what the API accepts and answers (issue 12, item 2)."""
    from edge.api import PATH_ID_PREFIXES, id_pattern_text
    from edge.parsers import MAX_JSON_DEPTH

    schemas = result.get("components", {}).get("schemas", {})
    if "ErrorDetail" in schemas:
        schemas["ErrorDetail"]["properties"]["type"] = {"type": "string", "enum": ERROR_TYPES}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation_id = operation.get("operationId", "")
            parameters = operation.setdefault("parameters", [])
            # Ids in the path: the object's prefix and a ULID; any other string is a 404.
            for parameter in parameters:
                if parameter["in"] == "path" and parameter["name"] in PATH_ID_PREFIXES:
                    prefix, noun = PATH_ID_PREFIXES[parameter["name"]]
                    parameter["schema"] = {"type": "string", "pattern": id_pattern_text(prefix)}
                    parameter.setdefault("description", f"The {noun}'s id, `{prefix}_…`.")
            # List filters and pagination.
            if method == "get" and operation_id.endswith("_list"):
                parameters[:] = [p for p in parameters if not p["name"].startswith("created[")]
                names = {p["name"] for p in parameters}
                if operation_id in CREATED_FILTER_LISTS:
                    parameters.extend(_created_parameter(op) for op in ("gt", "gte", "lt", "lte"))
                parameters.extend(p for p in _pagination_parameters() if p["name"] not in names)
            parameters.sort(key=lambda p: (p["in"], p["name"]))
            # The answers each operation can give besides its successes.
            statuses = {"400"}
            if operation.get("security", result.get("security")):
                statuses |= {"401", "429"}
            if any(p["in"] == "path" for p in parameters) or operation_id == "refunds_create":
                statuses.add("404")
            if method == "post":
                statuses |= {"409", "413", "415", "422"}
            if operation_id in DECLINING_OPERATIONS:
                statuses.add("402")
            if operation_id in PROCESSOR_OPERATIONS:
                statuses.add("503")
            responses = operation["responses"]
            for status in list(responses):
                if status[0] in "45" and status not in statuses:
                    del responses[status]
            for status in sorted(statuses):
                responses.setdefault(status, _error_response(status))
                responses[status]["description"] = _ERROR_DESCRIPTIONS[status]
    info = result.setdefault("info", {})
    info["description"] = (
        info.get("description", "")
        + "\n\n**Input limits.** Bodies are JSON objects in UTF-8 of at most 1 MB (`413 body_too_large`), nested "
        f"at most {MAX_JSON_DEPTH} levels (`400 body_invalid`), with no key given twice; no string, key or query "
        "parameter may hold U+0000 or a lone surrogate (`400 parameter_invalid`); an unknown body field is "
        "`400 parameter_unknown`; an id in the path of the wrong shape is `404 resource_missing`. Any string "
        'holding a card number is `400 pan_not_allowed`. See docs/api.md, "Limits".'
    )
    return result
