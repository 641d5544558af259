"""The processor boundary: what the platform may ask a card processor, in plain dataclasses.

Nothing outside ``gateways/`` sees a processor's JSON. An adapter (the sandbox
one, or a real acquirer's) turns every answer into these dataclasses and every
failure into one of these exceptions, so the services can decide from the type
alone whether money may have moved:

- ``CardDeclined``: definite, a declined (or, for a bank transfer, failed) charge exists and nothing was taken.
- ``ProcessorRequestRejected`` (and ``TokenInvalid``): definite, nothing was charged.
- ``ProcessorUnavailable``: the outcome is UNKNOWN. The call may or may not have
  charged; the caller must find out (``lookup`` by the same idempotency key, or
  a webhook), never guess, and may retry only with the same idempotency key.
- ``ProcessorNotReached`` (a ``ProcessorUnavailable``): definite, the request never left: the
  connection was refused or never established, so nothing was sent and nothing charged.

Two of these say that this processor did not process the request and another one may be asked
instead (failover): ``ProcessorNotReached``, and a ``ProcessorRequestRejected`` whose
``retry_elsewhere`` is true (e.g. ``currency_not_supported``). Nothing else does.
"""

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO, NamedTuple, Protocol


class ChargeStatus(StrEnum):
    """A charge's status at the processor, whatever the processor calls it."""

    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    DECLINED = "declined"
    VOIDED = "voided"
    # Bank transfers: submitted but not settled; settled then returned by the bank; refused by the bank at once.
    PENDING = "pending"
    RETURNED = "returned"
    FAILED = "failed"
    # Wallets: waiting for the customer to approve (``next_action_url``); not approved in time.
    REQUIRES_ACTION = "requires_action"
    EXPIRED = "expired"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PayoutStatus(StrEnum):
    """A payout's status at the processor: sent (``in_transit``), then ``paid`` or ``failed``."""

    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"


class DisputeStatus(StrEnum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


# The text fields a dispute's evidence may carry.
DISPUTE_EVIDENCE_FIELDS = ("customer_communication", "shipping_documentation", "refund_policy", "uncategorized_text")


@dataclass(frozen=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class BankAccountDetails:
    """A tokenised bank account, as the processor describes it. Never the account number or IBAN."""

    processor_id: str  # "ba_…": the processor's token for the account, used as ``authorize(token=…)``
    country: str  # ISO 3166 alpha-2
    last4: str
    # Stable per (country, routing number or IBAN, account number): the same account always has the same
    # fingerprint, so duplicates can be recognised without holding the number.
    fingerprint: str
    bank_name: str | None


@dataclass(frozen=True)
class Charge:
    processor_id: str
    reference: str
    status: ChargeStatus
    amount: int
    amount_captured: int
    currency: str
    decline_code: str | None
    failure_message: str | None
    card: CardDetails | None
    # Keyword-only with defaults, so that every existing way of building a Charge keeps working.
    amount_refunded: int = field(default=0, kw_only=True)  # the sum of its pending and succeeded refunds
    disputed: bool = field(default=False, kw_only=True)  # a dispute is open or was lost (not when won)
    # A wallet charge in ``requires_action``: where the customer approves it (else None).
    next_action_url: str | None = field(default=None, kw_only=True)
    # A bank transfer that failed or was returned: the bank's return code ("R01", "R03", …), else None.
    return_code: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Refund:
    processor_id: str  # "rf_…"
    charge_id: str  # the processor's charge id
    reference: str  # the platform's refund id ("re_…")
    amount: int
    currency: str
    status: RefundStatus
    failure_reason: str | None


@dataclass(frozen=True)
class Dispute:
    processor_id: str  # "dsp_…"
    charge_id: str
    payment_reference: str  # the disputed charge's reference (the platform's payment id "pay_…")
    amount: int
    currency: str
    reason: str  # "fraudulent" | "product_not_received" | "duplicate" | "general" | …
    status: DisputeStatus
    evidence_due_by: int  # unix seconds
    evidence: dict = field(hash=False)  # field -> text, as submitted


@dataclass(frozen=True)
class Payout:
    """Money the processor sends to a merchant's bank account."""

    processor_id: str  # "po_…" of the processor
    reference: str  # the platform's payout id
    amount: int
    currency: str
    destination: str  # the processor's bank account token ("ba_…", from ``tokenize_bank_account``)
    status: PayoutStatus
    arrival_date: int  # unix seconds: when it is (or was) due to be paid
    failure_code: str | None  # a failed payout: why ("account_closed", …), else None
    failure_message: str | None = None


@dataclass(frozen=True)
class ProcessorEvent:
    """A verified webhook. ``charge``, ``refund``, ``dispute`` or ``payout`` holds the object it is about (by its
    type)."""

    event_id: str
    type: str
    created: int
    charge: Charge | None
    # Keyword-only with defaults: the positional order (…, charge, payload) of existing code is unchanged.
    refund: Refund | None = field(default=None, kw_only=True)
    dispute: Dispute | None = field(default=None, kw_only=True)
    payout: Payout | None = field(default=None, kw_only=True)
    payload: dict = field(hash=False)


class ProcessorError(Exception):
    """Base of every error an adapter raises for a processor call."""

    def __init__(
        self, message: str = "", *, code: str | None = None, status_code: int | None = None, param: str | None = None
    ):
        super().__init__(message or code or self.__class__.__name__)
        self.message = message
        self.code = code
        self.status_code = status_code
        # The request field the processor objected to, when it said (e.g. "iban" for bank_account_invalid).
        self.param = param


class ProcessorUnavailable(ProcessorError):
    """The outcome is unknown: timeout, connection error, 5xx, or the same key still in flight (409)."""


class ProcessorNotReached(ProcessorUnavailable):
    """The request never reached the processor (connection refused, or not established in time): nothing was
    sent, so nothing was charged by this call. Still a ProcessorUnavailable for every caller that does not care
    why; only failover tells the two apart."""


class ProcessorRequestRejected(ProcessorError):
    """A definite 4xx: the processor refused the request and charged nothing. ``code`` says why.

    ``retry_elsewhere``: the adapter knows the refusal is about this processor, not the payment (a currency it
    does not take, say), so another processor may be asked instead."""

    def __init__(
        self,
        message: str = "",
        *,
        code: str,
        status_code: int | None = None,
        param: str | None = None,
        retry_elsewhere: bool = False,
    ):
        super().__init__(message, code=code, status_code=status_code, param=param)
        self.retry_elsewhere = retry_elsewhere


class TokenInvalid(ProcessorRequestRejected):
    """The card token does not exist at the processor."""

    def __init__(
        self,
        message: str = "No such token.",
        *,
        code: str = "token_invalid",
        status_code: int | None = None,
        param: str | None = None,
    ):
        super().__init__(message, code=code, status_code=status_code, param=param)


class CardDeclined(ProcessorError):
    """A definite decline: ``charge`` is the declined charge the processor recorded; nothing was taken.

    A bank transfer that the customer's bank refuses at once is one too: its charge is ``failed`` and carries
    the bank's ``return_code`` (e.g. "R03", with ``decline_code`` "no_account")."""

    def __init__(self, *, charge: Charge, decline_code: str, message: str = "The card was declined."):
        super().__init__(message, code="card_declined", status_code=402)
        self.charge = charge
        self.decline_code = decline_code


class WebhookSignatureInvalid(Exception):
    """A webhook with a missing or wrong signature, a timestamp outside the tolerance, or an unreadable body."""


class SettlementLine(NamedTuple):
    """One line of an acquirer's settlement report, whatever its file format.

    A tuple (a report has a million of them): build one with ``SettlementLine(...)`` or, in a hot loop,
    ``tuple.__new__(SettlementLine, (...))``. The adapter only reads the file: it does not judge what a line
    says. ``type`` is in the boundary's words (``charge``, ``refund``, ``dispute``, ``dispute_reversal``,
    ``return``, ``payout``), and a word it does not know is passed on as written, like ``currency``; reconciliation
    decides what it accepts.
    """

    line: int  # its line number in the source file (1 is the first), for error messages
    settlement_date: datetime.date
    type: str
    processor_id: str  # the acquirer's id of the object that moved money (charge, refund, dispute, payout)
    reference: str  # the platform's id that object belongs to (a payment "pay_…", a refund "re_…", a payout)
    currency: str  # as written: ISO 4217 upper case when the file is right
    amount: int  # signed, minor units: positive is money to the merchant
    fee: int  # the acquirer's fee on this line, minor units
    net: int  # what the line adds to the payout: amount − fee when the file is right


class SettlementReportInvalid(Exception):
    """A settlement report the adapter cannot read (its syntax, not its meaning); ``str()`` names the line
    (``line 7: amount 'abc' is not an integer``), ``line`` is None when no line is to blame (an empty file)."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


class SettlementReport(Protocol):
    """One settlement report of one acquirer, fetched or read from a file, parsed as it is read.

    ``batches`` may be called more than once (each call reads the report from its start). It yields the lines
    in file order, at most ``size`` a batch, and raises SettlementReportInvalid at the first line it cannot
    read, after yielding every line before it: a reader that checks what the lines mean finds the first bad
    line whichever side it is bad for.
    """

    # The SHA-256 (hex) of the report as the acquirer wrote it: which file a reconciliation run imported.
    sha256: str

    def batches(self, *, size: int) -> Iterator[list[SettlementLine]]: ...


class Processor(Protocol):
    """What the platform may ask a card processor. Every mutating call carries an idempotency key."""

    def health(self) -> None:
        """Ask the processor whether it is up, within a short timeout. Raises ProcessorUnavailable when not."""
        ...

    def retrieve_token(self, token: str) -> CardDetails:
        """The card behind ``token``. Raises TokenInvalid or ProcessorUnavailable."""
        ...

    def authorize(
        self, *, reference: str, amount: int, currency: str, token: str, capture: bool, idempotency_key: str
    ) -> Charge:
        """Authorise (and with ``capture`` capture) ``amount``. Raises CardDeclined, ProcessorUnavailable or
        ProcessorRequestRejected. Repeating the call with the same key never charges twice.

        ``token`` is a card token (``tok_…``), a bank account token (``ba_…``, from ``tokenize_bank_account``)
        or a wallet source (``wallet_sandboxpay``; an unknown wallet is TokenInvalid):

        - a bank transfer answers ``pending`` and settles later (``captured`` by webhook), may then be
          ``returned`` (webhook, with ``return_code``); a bank that refuses it at once is CardDeclined with a
          ``failed`` charge carrying ``return_code``. ``capture=False`` is refused (``capture_method_invalid``).
        - a wallet answers ``requires_action`` with ``next_action_url``; once the customer approves, the charge
          is ``captured`` (``capture``) or ``authorized``, else ``declined`` or ``expired`` (by webhook)."""
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

    def refund(self, *, processor_charge_id: str, amount: int, reference: str, idempotency_key: str) -> Refund:
        """Refund ``amount`` of a captured charge; ``reference`` is our refund id. The answer may be ``pending``
        (the outcome follows by webhook or ``lookup_refund``), ``succeeded`` or ``failed``.

        Raises ProcessorUnavailable (outcome unknown: find out with ``lookup_refund``, retry only with the same
        key) or ProcessorRequestRejected (definite, nothing refunded: ``code`` is e.g. ``amount_too_large``,
        ``charge_unexpected_state``, ``charge_disputed``). The same key never refunds twice."""
        ...

    def lookup_refund(self, *, idempotency_key: str) -> Refund | None:
        """The refund created by the call that carried ``idempotency_key``; None when the processor never
        recorded one. Raises ProcessorUnavailable when the processor cannot be asked."""
        ...

    def retrieve_dispute(self, *, processor_dispute_id: str) -> Dispute:
        """The dispute as the processor holds it now."""
        ...

    def submit_dispute_evidence(
        self, *, processor_dispute_id: str, evidence: dict[str, str], idempotency_key: str
    ) -> Dispute:
        """Answer a ``needs_response`` dispute with text evidence (DISPUTE_EVIDENCE_FIELDS); it moves to
        ``under_review`` and is decided later (``dispute.closed`` webhook). A dispute in another state:
        ProcessorRequestRejected ``dispute_unexpected_state``."""
        ...

    def accept_dispute(self, *, processor_dispute_id: str, idempotency_key: str) -> Dispute:
        """Concede a ``needs_response`` dispute: it is ``lost`` at once."""
        ...

    def tokenize_bank_account(
        self,
        *,
        country: str,
        holder_name: str,
        account_number: str | None = None,
        routing_number: str | None = None,
        iban: str | None = None,
    ) -> BankAccountDetails:
        """Tokenise a bank account: US with ``routing_number`` and ``account_number``, a SEPA country with
        ``iban``. Raises ProcessorRequestRejected (``code="bank_account_invalid"``) for details the processor
        refuses, ProcessorUnavailable when it cannot be asked. Tokenising twice makes two tokens with one
        fingerprint."""
        ...

    def create_payout(
        self, *, amount: int, currency: str, destination: str, reference: str, idempotency_key: str
    ) -> Payout:
        """Send ``amount`` to the bank account token ``destination``; ``reference`` is our payout id. The answer
        is ``in_transit``; ``paid`` or ``failed`` (with ``failure_code``, e.g. ``account_closed``) follows by
        webhook (``payout.paid``/``payout.failed``) or ``retrieve_payout``.

        Raises ProcessorUnavailable (outcome unknown: find out with ``lookup_payout``, retry only with the same
        key; ProcessorNotReached when nothing was sent) or ProcessorRequestRejected (definite, nothing sent:
        ``code`` is e.g. ``token_invalid`` for an unknown destination, ``amount_invalid``). The same key never
        pays out twice."""
        ...

    def lookup_payout(self, *, idempotency_key: str) -> Payout | None:
        """The payout created by the call that carried ``idempotency_key``; None when the processor never
        recorded one. Raises ProcessorUnavailable when the processor cannot be asked."""
        ...

    def retrieve_payout(self, *, processor_payout_id: str) -> Payout:
        """The payout as the processor holds it now. Raises ProcessorUnavailable when it cannot be had (an
        unknown id included: a refused read says nothing about money)."""
        ...

    def fx_rates(self) -> tuple[str, dict[str, str]]:
        """The processor's exchange rates: ``(base currency, {quote currency: rate})``, one unit of the base
        buying ``rate`` units of the quote. Rates are decimal strings (read them with ``decimal.Decimal``,
        never ``float``). Raises ProcessorUnavailable when they cannot be had."""
        ...

    def settlement_report(self, *, day: datetime.date) -> SettlementReport:
        """The processor's settlement report of the UTC ``day``, as far as it has settled it so far, fetched
        whole (its lines are parsed when read, holding no connection). Raises ProcessorUnavailable when it
        cannot be fetched."""
        ...

    def read_settlement_report(self, *, file: BinaryIO) -> SettlementReport:
        """A settlement report of this processor read from ``file`` (a seekable binary file in the
        processor's own format: a report kept or handed over by staff). The caller keeps ``file`` open while
        it reads the report, and closes it."""
        ...
