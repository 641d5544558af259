"""The processor boundary: what the platform may ask a card processor, in plain dataclasses.

Nothing outside ``gateways/`` sees a processor's JSON. An adapter (the sandbox
one, or a real acquirer's) turns every answer into these dataclasses and every
failure into one of these exceptions, so the services can decide from the type
alone whether money may have moved:

- ``CardDeclined``: definite, a declined charge exists and nothing was taken.
- ``ProcessorRequestRejected`` (and ``TokenInvalid``): definite, nothing was charged.
- ``ProcessorUnavailable``: the outcome is UNKNOWN. The call may or may not have
  charged; the caller must find out (``lookup`` by the same idempotency key, or
  a webhook), never guess, and may retry only with the same idempotency key.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

CHARGE_STATUSES = ("authorized", "captured", "declined", "voided")


@dataclass(frozen=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    processor_id: str
    reference: str
    status: str  # "authorized" | "captured" | "declined" | "voided"
    amount: int
    amount_captured: int
    currency: str
    decline_code: str | None
    failure_message: str | None
    card: CardDetails | None


@dataclass(frozen=True)
class ProcessorEvent:
    event_id: str
    type: str
    created: int
    charge: Charge | None
    payload: dict = field(hash=False)


class ProcessorError(Exception):
    """Base of every error an adapter raises for a processor call."""

    def __init__(self, message: str = "", *, code: str | None = None, status_code: int | None = None):
        super().__init__(message or code or self.__class__.__name__)
        self.message = message
        self.code = code
        self.status_code = status_code


class ProcessorUnavailable(ProcessorError):
    """The outcome is unknown: timeout, connection error, 5xx, or the same key still in flight (409)."""


class ProcessorRequestRejected(ProcessorError):
    """A definite 4xx: the processor refused the request and charged nothing. ``code`` says why."""

    def __init__(self, message: str = "", *, code: str, status_code: int | None = None):
        super().__init__(message, code=code, status_code=status_code)


class TokenInvalid(ProcessorRequestRejected):
    """The card token does not exist at the processor."""

    def __init__(self, message: str = "No such token.", *, code: str = "token_invalid", status_code: int | None = None):
        super().__init__(message, code=code, status_code=status_code)


class CardDeclined(ProcessorError):
    """A definite decline: ``charge`` is the declined charge the processor recorded; nothing was taken."""

    def __init__(self, *, charge: Charge, decline_code: str, message: str = "The card was declined."):
        super().__init__(message, code="card_declined", status_code=402)
        self.charge = charge
        self.decline_code = decline_code


class WebhookSignatureInvalid(Exception):
    """A webhook with a missing or wrong signature, a timestamp outside the tolerance, or an unreadable body."""


class Processor(Protocol):
    """What the platform may ask a card processor. Every mutating call carries an idempotency key."""

    def retrieve_token(self, token: str) -> CardDetails:
        """The card behind ``token``. Raises TokenInvalid or ProcessorUnavailable."""
        ...

    def authorize(
        self, *, reference: str, amount: int, currency: str, token: str, capture: bool, idempotency_key: str
    ) -> Charge:
        """Authorise (and with ``capture`` capture) ``amount``. Raises CardDeclined, ProcessorUnavailable or
        ProcessorRequestRejected. Repeating the call with the same key never charges twice."""
        ...

    def capture(self, *, processor_id: str, amount: int | None, idempotency_key: str) -> Charge:
        """Capture an authorised charge, all of it or ``amount``; the rest of the authorisation is released."""
        ...

    def void(self, *, processor_id: str, idempotency_key: str) -> Charge:
        """Release an authorised charge without capturing anything."""
        ...

    def lookup(self, *, idempotency_key: str) -> Charge | None:
        """The charge created by the call that carried ``idempotency_key``; None when the processor never
        recorded one. Raises ProcessorUnavailable when the processor cannot be asked."""
        ...

    def charges_for(self, *, reference: str) -> list[Charge]:
        """Every charge the processor holds for our ``reference``, newest first."""
        ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str], tolerance_seconds: int) -> ProcessorEvent:
        """Verify and decode a webhook. Raises WebhookSignatureInvalid."""
        ...
