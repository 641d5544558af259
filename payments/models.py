"""Payments as finite-state machines (django-fsm-2), with their transition history.

Only the transitions below move a payment; the status field is protected, so no
code can assign it directly. Models hold data and transitions only: no I/O. The
services in ``payments.services`` call the transitions inside their transactions
and record each one in ``PaymentTransition``.
"""

from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core.db import SavesChangedFields
from core.ids import new_id
from core.money import CURRENCY_CHOICES
from merchants.models import Merchant


def new_payment_id() -> str:
    return new_id("pay")


class PaymentStatus(models.TextChoices):
    REQUIRES_CONFIRMATION = "requires_confirmation"
    PROCESSING = "processing"
    # A wallet payment waiting for the customer to approve it on the wallet's page (``next_action_url``).
    REQUIRES_ACTION = "requires_action"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class CaptureMethod(models.TextChoices):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class CancellationReason(models.TextChoices):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    ABANDONED = "abandoned"
    EXPIRED = "expired"


S = PaymentStatus


class Payment(ConcurrentTransitionMixin, SavesChangedFields):
    id = models.CharField(primary_key=True, max_length=40, default=new_payment_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = FSMField(default=S.REQUIRES_CONFIRMATION, choices=S.choices, protected=True, max_length=32)
    capture_method = models.CharField(max_length=16, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    amount_capturable = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)

    # The payment method as the processor tokenised it: never a card number, account number or IBAN.
    # One of ``payments.methods.PAYMENT_METHODS``, whose module says which of the columns below it fills.
    payment_method_type = models.CharField(max_length=32, default="card")
    # The processor's token for the payment method: a card token ("tok_…"), a bank account token ("ba_…") or a
    # wallet source ("wallet_sandboxpay").
    card_token = models.CharField(max_length=255, blank=True, default="")
    card_brand = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="", db_index=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # A bank transfer's account, as the processor described it (its token is in ``card_token``).
    bank_country = models.CharField(max_length=2, blank=True, default="")
    bank_last4 = models.CharField(max_length=4, blank=True, default="")
    bank_fingerprint = models.CharField(max_length=64, blank=True, default="", db_index=True)
    bank_name = models.CharField(max_length=255, null=True, blank=True)
    # A wallet payment's provider ("sandboxpay"); where the customer approves it while ``requires_action``.
    wallet_provider = models.CharField(max_length=32, blank=True, default="")
    next_action_url = models.CharField(max_length=2000, null=True, blank=True)
    requires_action_since = models.DateTimeField(null=True, blank=True)

    description = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Who paid, as the merchant told us (optional, never checked with anyone): what support searches by.
    # On PostgreSQL, migration 0013 indexes lower(customer_email), the words of ``description`` and the values of
    # ``metadata`` for the back office's search (``payments.selectors.payments_search``).
    customer_email = models.CharField(max_length=254, null=True, blank=True)
    customer_name = models.CharField(max_length=200, null=True, blank=True)
    disputed = models.BooleanField(default=False)
    # Locked at confirmation: the merchant's settlement currency, the amount it receives in it (before fees)
    # and, when the currencies differ, the rate used (settlement units per unit of ``currency``, margin
    # included). Captures, refunds and returns of this payment all use this rate.
    settlement_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, null=True, blank=True)
    settlement_amount = models.BigIntegerField(null=True, blank=True)
    fx_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    # A settled bank transfer that the customer's bank returned afterwards: the payment stays ``succeeded``,
    # the returned amount left the merchant's balance, ``return_code`` is the bank's ("R01", …).
    amount_returned = models.BigIntegerField(default=0)
    return_code = models.CharField(max_length=8, null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)

    failure_code = models.CharField(max_length=64, null=True, blank=True)
    failure_message = models.TextField(null=True, blank=True)
    decline_code = models.CharField(max_length=64, null=True, blank=True)
    cancellation_reason = models.CharField(max_length=32, choices=CancellationReason.choices, null=True, blank=True)

    # The idempotency key of the request that created the payment. Unique per
    # merchant, so a create request re-executed after a crash finds its payment
    # instead of making a second one.
    creation_idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)

    # The acquirer the payment is with (a name of ``settings.PROCESSORS``), chosen by the routing rules when it
    # is created; every call about the payment goes there. ``fallback_processor``: where its authorisation may
    # go instead while ``processor`` provably holds no charge for it (payments.routing); emptied once used,
    # when ``failed_over_from`` records the processor it left.
    processor = models.CharField(max_length=40)
    fallback_processor = models.CharField(max_length=40, blank=True, default="")
    failed_over_from = models.CharField(max_length=40, blank=True, default="")
    processor_charge_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    # How many times the authorisation was sent to the processor (always with the same key).
    processor_attempts = models.PositiveIntegerField(default=0)
    processing_since = models.DateTimeField(null=True, blank=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    # Set when a capture or void was sent and its outcome is not known yet.
    processor_operation_pending_since = models.DateTimeField(null=True, blank=True)
    # The capture or cancel claimed on this payment (under its row lock, before the processor is
    # called), who claimed it and, for a capture, the amount asked for. Kept once the operation
    # is applied, so a retry of the request that claimed it can tell its own outcome from a rival's.
    operation = models.CharField(max_length=16, null=True, blank=True)
    operation_claim = models.CharField(max_length=64, null=True, blank=True)
    operation_amount = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="payment_merchant_newest"),
            models.Index(fields=["merchant", "status", "-id"], name="payment_merchant_status"),
            models.Index(fields=["processing_since"], condition=Q(status="processing"), name="payment_processing"),
            models.Index(fields=["authorized_at"], condition=Q(status="requires_capture"), name="payment_uncaptured"),
            models.Index(
                fields=["requires_action_since"], condition=Q(status="requires_action"), name="payment_awaiting_action"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "creation_idempotency_key"],
                condition=Q(creation_idempotency_key__isnull=False),
                name="payment_unique_creation_key",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=99_999_999_999), name="payment_amount_range"
            ),
            models.CheckConstraint(condition=Q(amount_capturable__gte=0), name="payment_capturable_nonnegative"),
            models.CheckConstraint(
                condition=Q(amount_captured__gte=0) & Q(amount_captured__lte=F("amount")), name="payment_captured_range"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount_captured")),
                name="payment_refunded_range",
            ),
            models.CheckConstraint(condition=Q(status__in=S.values), name="payment_status_valid"),
            models.CheckConstraint(
                condition=Q(amount_returned__gte=0) & Q(amount_returned__lte=F("amount_captured")),
                name="payment_returned_range",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def returned(self) -> bool:
        return self.returned_at is not None

    @property
    def amount_refundable(self) -> int:
        """What refunds may still add up to: the captured amount less what pending and succeeded refunds hold."""
        return self.amount_captured - self.amount_refunded

    # --- Transitions. Each says what it guarantees; services record them. ------

    @transition(field=status, source=S.REQUIRES_CONFIRMATION, target=S.PROCESSING)
    def confirm(self, *, now) -> None:
        """The intent to charge is recorded before the processor is called; from here the
        outcome is unknown until the processor answers, a webhook arrives or a status check
        finds it."""
        self.processing_since = now

    @transition(field=status, source=S.PROCESSING, target=S.REQUIRES_ACTION)
    def mark_requires_action(self, *, processor_charge_id: str, next_action_url: str, now) -> None:
        """A wallet charge waits for the customer's approval at ``next_action_url``; nothing is charged yet.
        It expires after ``PAYMENT_WALLET_EXPIRY_SECONDS`` if the customer does not decide."""
        self.processor_charge_id = processor_charge_id
        self.next_action_url = next_action_url
        self.requires_action_since = now
        self.processing_since = None
        self.processor_operation_pending_since = None

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.REQUIRES_CAPTURE)
    def mark_authorized(self, *, processor_charge_id: str, now) -> None:
        """The processor authorised the full amount; it can be captured until the
        authorisation expires."""
        self.next_action_url = None
        self.processor_charge_id = processor_charge_id
        self.amount_capturable = self.amount
        self.authorized_at = now
        self.processing_since = None
        self.processor_operation_pending_since = None

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.SUCCEEDED)
    def mark_succeeded(self, *, processor_charge_id: str, amount_captured: int) -> None:
        """The processor charged the customer (authorised and captured in one step)."""
        self.next_action_url = None
        self.processor_charge_id = processor_charge_id
        self.amount_captured = amount_captured
        self.amount_capturable = 0
        self.processing_since = None
        self.processor_operation_pending_since = None

    @transition(field=status, source=[S.PROCESSING, S.REQUIRES_ACTION], target=S.FAILED)
    def mark_failed(self, *, failure_code: str, failure_message: str, decline_code: str | None = None) -> None:
        """The processor definitely did not charge: a decline (the customer's too), or a request it refused."""
        self.next_action_url = None
        self.failure_code = failure_code
        self.failure_message = failure_message
        self.decline_code = decline_code
        self.amount_capturable = 0
        self.processing_since = None
        self.processor_operation_pending_since = None

    @transition(field=status, source=S.REQUIRES_CAPTURE, target=S.SUCCEEDED)
    def capture(self, *, amount_captured: int) -> None:
        """Capture part or all of the authorisation; the rest is released for good."""
        self.amount_captured = amount_captured
        self.amount_capturable = 0
        self.processor_operation_pending_since = None

    @transition(
        field=status, source=[S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE], target=S.CANCELED
    )
    def cancel(self, *, reason_code: str | None) -> None:
        """Cancel before confirmation, or release an authorisation or a wallet charge awaiting approval
        (voided at the processor)."""
        self.next_action_url = None
        self.cancellation_reason = reason_code
        self.amount_capturable = 0
        self.processor_operation_pending_since = None

    def mark_returned(self, *, return_code: str | None, now) -> None:
        """A settled bank transfer was returned by the customer's bank: everything captured goes back.

        Not a status change (the payment stays ``succeeded``, as it did succeed); called only on a
        succeeded, not yet returned payment, under its row lock."""
        if self.status != S.SUCCEEDED or self.returned_at is not None:
            raise ValueError(f"{self.id} cannot be returned from {self.status}")
        self.amount_returned = self.amount_captured
        self.return_code = return_code
        self.returned_at = now

    @transition(field=status, source=[S.REQUIRES_CAPTURE, S.REQUIRES_ACTION], target=S.CANCELED)
    def expire(self) -> None:
        """An authorisation not captured in time, or a wallet charge not approved in time, is released
        (voided at the processor, or expired by it)."""
        self.next_action_url = None
        self.cancellation_reason = CancellationReason.EXPIRED
        self.amount_capturable = 0
        self.processor_operation_pending_since = None


class PaymentTransition(models.Model):
    """Append-only history of every status change: who or what caused it, from, to, when, why."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="transitions")
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    transition = models.CharField(max_length=32)
    # "api:<key id>", "staff:<user>", "system:resolver", "processor:<name>:webhook:<event id>"…
    actor = models.CharField(max_length=128)
    reason = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.from_status} → {self.to_status}"


# --- Exchange rates ---------------------------------------------------------------------------


class FxRate(models.Model):
    """A mid-market exchange rate: one unit of ``base_currency`` buys ``rate`` units of ``quote_currency``.

    Imported from the processor's feed by a scheduled task (``source`` "processor"); finance may edit a rate
    in the admin (``source`` "manual"). A payment locks the rate it converts at, so changing a rate never
    changes a payment already confirmed.
    """

    class Source(models.TextChoices):
        PROCESSOR = "processor"
        MANUAL = "manual"

    base_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    quote_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    as_of = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["base_currency", "quote_currency"]
        verbose_name = "FX rate"
        constraints = [
            models.UniqueConstraint(fields=["base_currency", "quote_currency"], name="fxrate_unique_pair"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fxrate_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.base_currency} = {self.rate} {self.quote_currency}"


# --- Refunds -------------------------------------------------------------------------------


def new_refund_id() -> str:
    return new_id("re")


class RefundStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(models.TextChoices):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


class Refund(ConcurrentTransitionMixin, SavesChangedFields):
    """Money returned to the customer from a succeeded payment.

    Created ``pending`` with its amount already counted in the payment's
    ``amount_refunded`` (under the payment's row lock), so the refunds of a payment
    can never add up to more than was captured, even when requested concurrently.
    A failed refund releases its amount again.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_refund_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = FSMField(default=RefundStatus.PENDING, choices=RefundStatus.choices, protected=True, max_length=16)
    reason = models.CharField(max_length=32, choices=RefundReason.choices, null=True, blank=True)
    failure_reason = models.CharField(max_length=64, null=True, blank=True)
    processor_refund_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    processor_attempts = models.PositiveIntegerField(default=0)
    # Who asked for it: "api:<key id>" or "staff:<username>".
    requested_by = models.CharField(max_length=128)
    creation_idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="refund_merchant_newest"),
            models.Index(fields=["created"], condition=Q(status="pending"), name="refund_pending"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "creation_idempotency_key"],
                condition=Q(creation_idempotency_key__isnull=False),
                name="refund_unique_creation_key",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="refund_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.SUCCEEDED)
    def succeed(self, *, processor_refund_id: str) -> None:
        """The processor returned the money to the customer."""
        self.processor_refund_id = processor_refund_id

    @transition(field=status, source=[RefundStatus.PENDING, RefundStatus.SUCCEEDED], target=RefundStatus.FAILED)
    def fail(self, *, failure_reason: str, processor_refund_id: str | None = None) -> None:
        """The processor could not return the money (now, or after it first reported success)."""
        self.failure_reason = failure_reason
        self.processor_refund_id = processor_refund_id or self.processor_refund_id


# --- Disputes ------------------------------------------------------------------------------


def new_dispute_id() -> str:
    return new_id("dp")


class DisputeStatus(models.TextChoices):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


DISPUTE_OPEN_STATUSES = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW)

# The merchant's evidence, as text: the keys of ``Dispute.evidence``, in the order the API shows them.
EVIDENCE_FIELDS = ("customer_communication", "shipping_documentation", "refund_policy", "uncategorized_text")


class Dispute(ConcurrentTransitionMixin, SavesChangedFields):
    """A chargeback, opened by the processor (never by the merchant) and decided by it."""

    id = models.CharField(primary_key=True, max_length=40, default=new_dispute_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="disputes")
    processor_dispute_id = models.CharField(max_length=64, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    fee = models.BigIntegerField(default=0)
    status = FSMField(
        default=DisputeStatus.NEEDS_RESPONSE, choices=DisputeStatus.choices, protected=True, max_length=16
    )
    reason = models.CharField(max_length=64, default="general")
    evidence = models.JSONField(default=dict, blank=True)
    evidence_due_by = models.DateTimeField()
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="dispute_merchant_newest"),
            models.Index(
                fields=["evidence_due_by"],
                condition=Q(status__in=["needs_response", "under_review"]),
                name="dispute_open_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(fee__gte=0), name="dispute_amounts_valid"),
            models.CheckConstraint(condition=Q(status__in=DisputeStatus.values), name="dispute_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_open(self) -> bool:
        return self.status in DISPUTE_OPEN_STATUSES

    @transition(field=status, source=DisputeStatus.NEEDS_RESPONSE, target=DisputeStatus.UNDER_REVIEW)
    def submit_evidence(self, *, evidence: dict, now) -> None:
        """Evidence went to the processor; it now decides."""
        self.evidence = evidence
        self.evidence_submitted_at = now

    @transition(field=status, source=list(DISPUTE_OPEN_STATUSES), target=DisputeStatus.WON)
    def win(self, *, now) -> None:
        """The processor decided for the merchant: the disputed amount comes back (the fee does not)."""
        self.closed_at = now

    @transition(field=status, source=list(DISPUTE_OPEN_STATUSES), target=DisputeStatus.LOST)
    def lose(self, *, now) -> None:
        """Decided for the customer, accepted by the merchant, or no evidence in time."""
        self.closed_at = now


class RoutingRule(models.Model):
    """Which acquirer takes a payment: the first enabled rule (lowest ``priority``) whose every set condition
    matches the payment's currency, method type and merchant. No rule matches: ``settings.PROCESSOR_DEFAULT``.

    Edited by operations in the admin (every change audited); ``payments.routing`` reads them."""

    priority = models.PositiveIntegerField(help_text="Lower runs first; the first matching rule decides.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, blank=True, default="")
    # A type of the payment-method registry (payments.methods; checked by payments.routing), or "" for any.
    payment_method_type = models.CharField(max_length=32, blank=True, default="")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    processor = models.CharField(max_length=40, help_text="The acquirer that takes the matching payments.")
    fallback_processor = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text="Where a payment goes instead when the acquirer provably did not process it (down, or refusing "
        "what it does not take). Never after a timeout.",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["priority"], name="routing_rule_priority_unique"),
            models.CheckConstraint(
                condition=~Q(fallback_processor=F("processor")), name="routing_rule_fallback_is_another_processor"
            ),
        ]

    def __str__(self) -> str:
        conditions = [
            f"{name}={value}"
            for name, value in (
                ("currency", self.currency),
                ("method", self.payment_method_type),
                ("merchant", self.merchant_id or ""),
            )
            if value
        ]
        target = self.processor + (f" (fallback {self.fallback_processor})" if self.fallback_processor else "")
        return f"#{self.priority} {' '.join(conditions) or 'any payment'} → {target}"
