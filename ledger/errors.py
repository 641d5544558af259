"""Errors of the ledger.

``InsufficientBalance`` and ``PendingEntryResolved`` are refusals a caller may
meet in normal operation; they are ``core.errors`` kinds so that, if they reach a view,
the exception handler renders them in the contract's shape. The others mean a
caller broke the engine's contract (a bug): they are plain exceptions, which the
API renders as a 500 and logs.
"""

from core.errors import InvalidRequestError


class InsufficientBalance(InvalidRequestError):
    """A posting would break an account's balance limit (TigerBeetle's ``exceeds_credits``/``exceeds_debits``)."""

    default_code = "balance_insufficient"


class PendingEntryResolved(InvalidRequestError):
    """The pending entry was already posted or voided; a pending entry is resolved at most once."""

    default_code = "ledger_entry_already_resolved"


class LedgerError(Exception):
    """A caller broke the posting engine's contract."""


class UnbalancedEntry(LedgerError):
    """The postings of an entry do not sum to zero per currency and phase, or one is zero."""


class LedgerEventConflict(LedgerError):
    """An event key was posted again with a different type, source, merchant or currency."""


class LedgerEventMissing(LedgerError):
    """A rule needs an earlier event's entry (a refund's creation, a dispute's opening) that does not exist."""
