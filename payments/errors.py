"""The payment domain's typed errors, each with a stable code."""

from core.errors import ApiError, InvalidRequestError, ResourceMissingError


class PaymentUnexpectedState(InvalidRequestError):
    default_code = "payment_unexpected_state"


class PaymentNotFound(ResourceMissingError):
    pass


class ProcessorUnavailableError(ApiError):
    """The processor did not answer in time; nothing was changed on our side and a retry is safe."""

    status_code = 503
    error_type = "api_error"
    default_code = "processor_unavailable"
