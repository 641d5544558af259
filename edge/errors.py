"""The HTTP edge's own refusals: a request it will not read, authenticate, replay or let through.

They have the domain errors' shape (``core.errors.DomainError``: code, message, param) so that the one
exception handler renders them like every other error; only the edge raises them.
"""

from core.errors import DomainError


class AuthenticationError(DomainError):
    default_code = "api_key_invalid"


class MethodNotAllowedError(DomainError):
    default_code = "method_not_allowed"


class NotAcceptableError(DomainError):
    default_code = "not_acceptable"


class IdempotencyKeyInUseError(DomainError):
    default_code = "idempotency_key_in_use"


class PayloadTooLargeError(DomainError):
    default_code = "body_too_large"


class UnsupportedMediaTypeError(DomainError):
    default_code = "content_type_invalid"


class IdempotencyKeyReusedError(DomainError):
    default_code = "idempotency_key_reused"


class RateLimitError(DomainError):
    default_code = "rate_limit"


class ServerError(DomainError):
    """Our fault: logged, and answered without details."""

    default_code = "internal_error"

    def __init__(self, message: str = "An unexpected error occurred on our side. It has been logged.", **kwargs):
        super().__init__(message, **kwargs)
