"""The one place where exceptions become the contract's error shape and status code.

Domain errors (``core.errors``) know their kind, code, message and parameter, never HTTP. ``ERROR_KINDS``
says what each kind means to a client: its status code and the error object's ``type``. Django's and
DRF's own refusals are translated into the same kinds first (``to_domain_error``); anything else is
our fault, logged and answered 500 without details.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import (
    CardError,
    ConflictError,
    DomainError,
    InvalidRequestError,
    PermissionDeniedError,
    ResourceMissingError,
    UnavailableError,
)
from edge.errors import (
    AuthenticationError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    MethodNotAllowedError,
    NotAcceptableError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger(__name__)

# Every kind of error: its status code and the ``type`` of the contract's error object. An error's kind is
# the nearest of its classes listed here (an app's ``PaymentNotFound`` is a ``ResourceMissingError``).
ERROR_KINDS: dict[type[DomainError], tuple[int, str]] = {
    DomainError: (400, "invalid_request_error"),
    InvalidRequestError: (400, "invalid_request_error"),
    AuthenticationError: (401, "authentication_error"),
    CardError: (402, "card_error"),
    PermissionDeniedError: (403, "permission_error"),
    ResourceMissingError: (404, "invalid_request_error"),
    MethodNotAllowedError: (405, "invalid_request_error"),
    NotAcceptableError: (406, "invalid_request_error"),
    ConflictError: (409, "invalid_request_error"),
    IdempotencyKeyInUseError: (409, "idempotency_error"),
    PayloadTooLargeError: (413, "invalid_request_error"),
    UnsupportedMediaTypeError: (415, "invalid_request_error"),
    IdempotencyKeyReusedError: (422, "idempotency_error"),
    RateLimitError: (429, "rate_limit_error"),
    ServerError: (500, "api_error"),
    UnavailableError: (503, "api_error"),
}


@dataclass(frozen=True)
class ErrorAnswer:
    """What the API answers for an error: a status code and a body in the contract's error shape."""

    status: int
    body: dict


def error_kind(error: DomainError) -> tuple[int, str]:
    """The status code and error ``type`` of ``error``'s kind (``ERROR_KINDS``)."""
    for cls in type(error).__mro__:
        if cls in ERROR_KINDS:
            return ERROR_KINDS[cls]
    raise TypeError(f"{type(error).__name__} is not a DomainError")


def error_answer(error: DomainError) -> ErrorAnswer:
    status, error_type = error_kind(error)
    body = {"type": error_type, "code": error.code, "message": error.message, "param": error.param}
    body.update(error.extra)
    return ErrorAnswer(status, {"error": body})


# DRF's own validation codes that mean "this value is wrong", as opposed to the
# specific codes our serializers raise (``amount_invalid``, ``currency_invalid``…).
_GENERIC_INVALID_CODES = {
    "invalid",
    "null",
    "blank",
    "max_length",
    "min_length",
    "max_value",
    "min_value",
    "invalid_choice",
    "not_a_list",
    "empty",
    "max_digits",
    "max_decimal_places",
    "max_whole_digits",
    "not_a_dict",
    "date",
    "datetime",
    "make_aware",
    "overflow",
    "does_not_exist",
    "incorrect_type",
    "no_match",
    "invalid_image",
    "not_a_json",
    # CharField's own refusals of text PostgreSQL cannot store (edge.parsers refuses them first).
    "null_characters_not_allowed",
    "surrogate_characters_not_allowed",
}


def _first_error(detail, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], object]:
    """The first leaf of a DRF error structure and the field path that leads to it."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        next_path = path if key == "non_field_errors" else (*path, str(key))
        return _first_error(value, next_path)
    if isinstance(detail, list) and detail:
        # A list of messages for one field, or a list of nested objects (indexed).
        if all(isinstance(item, (str,)) for item in detail):
            return path, detail[0]
        for index, item in enumerate(detail):
            if item:
                return _first_error(item, (*path, str(index)))
    return path, detail


def _param_name(path: tuple[str, ...]) -> str | None:
    """Stripe's style of naming a nested parameter: ``payment_method[token]``."""
    if not path:
        return None
    return path[0] + "".join(f"[{part}]" for part in path[1:])


def validation_error_to_domain_error(exc: drf_exceptions.ValidationError) -> InvalidRequestError:
    path, leaf = _first_error(exc.detail)
    param = _param_name(path)
    drf_code = getattr(leaf, "code", None) or "invalid"
    if drf_code == "required":
        code = "parameter_missing"
    elif drf_code in _GENERIC_INVALID_CODES:
        code = "parameter_invalid"
    else:
        code = drf_code
    message = str(leaf)
    if param and drf_code in _GENERIC_INVALID_CODES | {"required"}:
        message = f"{param}: {message}"
    return InvalidRequestError(message, code=code, param=param)


def suspicious_operation_to_domain_error(exc: SuspiciousOperation) -> DomainError:
    """Django's refusals of a request it will not read (its limits, a host it does not serve)."""
    from django.conf import settings

    if isinstance(exc, RequestDataTooBig):
        from edge.parsers import size_text

        limit = size_text(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return PayloadTooLargeError(f"The request body is larger than {limit}.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return InvalidRequestError(
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters.", code="parameter_invalid"
        )
    # DisallowedHost and the like: the message never echoes what was sent.
    return InvalidRequestError("The request is malformed.", code="request_invalid")


def to_domain_error(exc: Exception) -> DomainError | None:
    """Translate a known exception into its kind; None for one that is our fault."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, SuspiciousOperation):
        return suspicious_operation_to_domain_error(exc)
    if isinstance(exc, Http404 | drf_exceptions.NotFound):
        return ResourceMissingError("No such object.")
    if isinstance(exc, drf_exceptions.ValidationError):
        return validation_error_to_domain_error(exc)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        message = (
            str(exc.detail)
            if isinstance(exc, drf_exceptions.AuthenticationFailed)
            else ("No API key provided. Send it as 'Authorization: Bearer sk_test_…'.")
        )
        code = "api_key_missing" if isinstance(exc, drf_exceptions.NotAuthenticated) else "api_key_invalid"
        return AuthenticationError(message, code=code)
    if isinstance(exc, PermissionDenied | drf_exceptions.PermissionDenied):
        return AuthenticationError("This API key may not perform this request.", code="api_key_invalid")
    if isinstance(exc, drf_exceptions.ParseError):
        return InvalidRequestError("The request body is not valid JSON.", code="body_invalid")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return UnsupportedMediaTypeError("Send the body as application/json.")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return MethodNotAllowedError(str(exc.detail))
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return NotAcceptableError(str(exc.detail), code=exc.default_code)
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimitError("Too many requests. Slow down and retry with backoff.")
    return None


def answer_for(exc: Exception) -> ErrorAnswer | None:
    """The answer to a known exception; None for one that is our fault (the caller logs it and answers 500)."""
    error = to_domain_error(exc)
    if error is not None:
        return error_answer(error)
    if isinstance(exc, drf_exceptions.APIException):
        # DRF's base class raised as is: its own status, the contract's shape.
        body = error_answer(DomainError(str(exc.detail), code=exc.default_code)).body
        return ErrorAnswer(exc.status_code, body)
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every error in the contract's shape, a 500 for the rest."""
    answer = answer_for(exc)
    if answer is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        answer = error_answer(ServerError())
    set_rollback()
    response = Response(answer.body, status=answer.status)
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(exc.wait) + 1)
    if answer.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
