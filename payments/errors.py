"""The payment domain's typed errors, each with a stable code."""

from core.errors import ConflictError, InvalidRequestError, ResourceMissingError, UnavailableError


class PaymentUnexpectedState(InvalidRequestError):
    default_code = "payment_unexpected_state"


class PaymentOperationInProgress(ConflictError):
    """Another request's capture or cancel of this payment is under way; retry once it has finished."""

    default_code = "payment_operation_in_progress"


class PaymentNotFound(ResourceMissingError):
    pass


class ProcessorUnavailableError(UnavailableError):
    """The processor did not answer in time; nothing was changed on our side and a retry is safe."""

    default_code = "processor_unavailable"


class CurrencyConversionUnavailable(InvalidRequestError):
    """A payment's currency differs from its merchant's settlement currency and no exchange rate is known
    for the pair: the payment is refused rather than settled unconverted in the wrong currency."""

    default_code = "currency_conversion_unavailable"

    @classmethod
    def for_pair(cls, *, currency: str, settlement_currency: str) -> "CurrencyConversionUnavailable":
        return cls(
            f"No exchange rate is known from {currency} to {settlement_currency}: a payment in {currency} cannot "
            f"be settled in this account's settlement currency ({settlement_currency}). Pay in "
            f"{settlement_currency}, or try again later.",
            param="currency",
        )
