"""Reconciliation's typed errors."""

from core.errors import InvalidRequestError


class ReportInvalid(Exception):
    """The settlement report cannot be imported; ``str()`` names the line (``line 7: amount 'abc' is not…``)."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


class ReconciliationFailed(Exception):
    """A run failed: the report could not be fetched or imported. The run row records the same message.

    ``retryable`` is true when trying again later may succeed (the processor could not be reached).
    """

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class ExceptionAlreadyResolved(InvalidRequestError):
    """Someone resolved the exception first, or a re-run of its day replaced it."""

    default_code = "reconciliation_exception_resolved"


class ExceptionNotAdjustable(InvalidRequestError):
    """An adjustment needs a merchant and a currency to post to, and a non-zero amount."""

    default_code = "reconciliation_exception_not_adjustable"
