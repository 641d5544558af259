"""Plain Django JSON responses in the contract's error shape, for code outside DRF views."""

from django.http import JsonResponse

from core.errors import DomainError
from edge.exception_handler import error_answer


def error_response(error: DomainError) -> JsonResponse:
    answer = error_answer(error)
    return JsonResponse(answer.body, status=answer.status)
