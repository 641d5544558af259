"""The platform's errors: a kind, a stable ``code``, a message and the parameter at fault. Nothing about HTTP.

Services raise these. Each class below is one *kind* of refusal; an app's own errors subclass a kind and
fix their ``default_code`` (``payments.errors``, ``ledger.errors``…). What a kind means to an API client,
its status code and the ``type`` of the contract's error object, is decided in one place: the table of
the HTTP edge's exception handler (``edge.exception_handler.ERROR_KINDS``). The back office shows the
same errors' messages to staff.
"""


class DomainError(Exception):
    """Base of every refusal the platform explains to its caller, with a ``code`` that never changes."""

    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param
        # Further members of the error object (``decline_code``, ``payment``).
        self.extra = extra


class InvalidRequestError(DomainError):
    """Bad or missing parameter, or an operation the object's state does not allow."""


class CardError(DomainError):
    """The card was declined (``decline_code`` says why)."""

    default_code = "card_declined"


class PermissionDeniedError(DomainError):
    """The caller may not perform this action."""

    default_code = "permission_denied"


class ResourceMissingError(DomainError):
    """No such object (for this caller)."""

    default_code = "resource_missing"


class ConflictError(DomainError):
    """Another operation on the same object is under way; retrying once it has finished is safe."""

    default_code = "conflict"


class UnavailableError(DomainError):
    """A service we depend on did not answer in time; nothing was changed on our side and a retry is safe."""

    default_code = "service_unavailable"
