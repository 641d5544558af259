"""The sandbox's errors, each with its HTTP status and its place in the error shape."""

from typing import Any


class SandboxError(Exception):
    """An answer other than success: ``{"error": {"type", "code", "message", "decline_code"?}, ...extra}``.

    ``stored`` says whether an idempotent request that ends in this error stores
    it for replay (most do; a processing error must leave no trace so that a
    retry with the same key is attempted again).
    """

    status = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"
    stored = True

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        self.extra = extra

    def body(self) -> dict:
        error: dict[str, Any] = {"type": self.error_type, "code": self.code, "message": self.message}
        if self.param:
            error["param"] = self.param
        return {"error": error, **self.extra}


class InvalidRequest(SandboxError):
    pass


class AuthenticationFailed(SandboxError):
    status = 401
    error_type = "authentication_error"
    default_code = "api_key_invalid"


class CardDeclinedError(SandboxError):
    status = 402
    error_type = "card_error"
    default_code = "card_declined"

    def __init__(self, message: str, *, decline_code: str, charge: dict):
        super().__init__(message, charge=charge)
        self.decline_code = decline_code

    def body(self) -> dict:
        body = super().body()
        body["error"]["decline_code"] = self.decline_code
        return body


class ResourceMissing(SandboxError):
    status = 404
    default_code = "resource_missing"


class MethodNotAllowed(SandboxError):
    status = 405
    default_code = "method_not_allowed"


class IdempotencyKeyInUse(SandboxError):
    status = 409
    error_type = "idempotency_error"
    default_code = "idempotency_key_in_use"
    stored = False


class IdempotencyKeyReused(SandboxError):
    status = 422
    error_type = "idempotency_error"
    default_code = "idempotency_key_reused"
    stored = False


class ProcessingError(SandboxError):
    """The processor failed before charging: nothing is recorded, not even the idempotency key."""

    status = 500
    error_type = "api_error"
    default_code = "processing_error"
    stored = False
