"""Guards that run on every /api/v1/ request before any view, store or log sees it."""

import logging
from urllib.parse import unquote_plus

from django.core.exceptions import RequestDataTooBig

from core.cards import contains_card_number
from core.errors import ApiServerError, InvalidRequestError, PayloadTooLargeError
from core.responses import error_response

logger = logging.getLogger("core.api")

API_PREFIX = "/api/v1/"


class ApiRequestGuardMiddleware:
    """Refuses oversized bodies (413) and anything carrying a card number (400 ``pan_not_allowed``).

    The card check runs before authentication, idempotency storage and logging, so
    a refused body is never written anywhere. The message never echoes the input.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            refusal = self._refusal(request)
            if refusal is not None:
                return error_response(refusal)
        return self.get_response(request)

    def process_exception(self, request, exception):
        """An unexpected exception in any view under /api/ is a 500 ``api_error`` (also with DEBUG on)."""
        if not request.path.startswith("/api/"):
            return None
        logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return error_response(ApiServerError())

    def _refusal(self, request):
        try:
            body = request.body
        except RequestDataTooBig:
            return PayloadTooLargeError("The request body is larger than 1 MB.")
        # The idempotency key is stored too, so it is checked like any field.
        texts = [unquote_plus(request.META.get("QUERY_STRING", "")), request.headers.get("Idempotency-Key", "")]
        if body:
            texts.append(body.decode("utf-8", errors="replace"))
        if any(contains_card_number(text) for text in texts):
            return InvalidRequestError(
                "Card numbers may not be sent to this API. Tokenise the card with the processor "
                "and send the token instead.",
                code="pan_not_allowed",
            )
        return None
