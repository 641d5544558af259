"""Typed errors with a stable ``code``, translated to the contract's error shape in one place.

Services raise these; ``core.exception_handler`` renders every one as
``{"error": {"type", "code", "message", "param"}}`` with its HTTP status.
"""


class ApiError(Exception):
    """Base of every error the API answers with. Subclasses fix status and type."""

    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        # Further members of the error object (``decline_code``, ``payment``).
        self.extra = extra

    def as_body(self) -> dict:
        error = {"type": self.error_type, "code": self.code, "message": self.message, "param": self.param}
        error.update(self.extra)
        return {"error": error}


class InvalidRequestError(ApiError):
    """Bad or missing parameter, or an operation the object's state does not allow."""


class AuthenticationError(ApiError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "api_key_invalid"


class CardError(ApiError):
    status_code = 402
    error_type = "card_error"
    default_code = "card_declined"


class ResourceMissingError(ApiError):
    status_code = 404
    default_code = "resource_missing"


class MethodNotAllowedError(ApiError):
    status_code = 405
    default_code = "method_not_allowed"


class IdempotencyKeyInUseError(ApiError):
    status_code = 409
    error_type = "idempotency_error"
    default_code = "idempotency_key_in_use"


class PayloadTooLargeError(ApiError):
    status_code = 413
    default_code = "body_too_large"


class UnsupportedMediaTypeError(ApiError):
    status_code = 415
    default_code = "content_type_invalid"


class IdempotencyKeyReusedError(ApiError):
    status_code = 422
    error_type = "idempotency_error"
    default_code = "idempotency_key_reused"


class RateLimitError(ApiError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit"


class ApiServerError(ApiError):
    status_code = 500
    error_type = "api_error"
    default_code = "internal_error"

    def __init__(self, message: str = "An unexpected error occurred on our side. It has been logged.", **kwargs):
        super().__init__(message, **kwargs)
