"""OpenAPI pieces shared by every API view: the error shape, the Idempotency-Key header."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description="1–255 printable ASCII characters, unique per operation; reuse it to retry safely.",
)
PAYMENT_ID = OpenApiParameter("payment_id", OpenApiTypes.STR, location=OpenApiParameter.PATH)

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
