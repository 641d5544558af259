"""Plain Django JSON responses in the contract's error shape, for code outside DRF views."""

from django.http import JsonResponse

from core.errors import ApiError


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.as_body(), status=error.status_code)
