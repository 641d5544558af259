"""External accounts (the bank accounts a merchant's payouts go to, as the processor tokenised them) and payouts.

Only the processor's token, the last four characters, the processor's fingerprint, the bank's name, the
country and the currency are kept: never the account number, the routing number with it, or the IBAN.
"""

from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core.db import SavesChangedFields
from core.ids import new_id
from core.money import CURRENCY_CHOICES
from merchants.models import Merchant


def new_external_account_id() -> str:
    return new_id("ea")


class ExternalAccount(models.Model):
    """A merchant's bank account for payouts in one currency. Deleted softly (``deleted_at``): a payout that
    went to it keeps naming it, and history is never rewritten.

    One default per merchant and currency, among the accounts not deleted: a partial unique constraint, so two
    concurrent switches cannot both leave theirs the default."""

    id = models.CharField(primary_key=True, max_length=40, default=new_external_account_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="external_accounts")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    country = models.CharField(max_length=2)
    last4 = models.CharField(max_length=4)
    # The processor's, stable per account: the same account added twice has the same fingerprint.
    fingerprint = models.CharField(max_length=64)
    bank_name = models.CharField(max_length=200, null=True, blank=True)
    # The acquirer that tokenised the account (``settings.PROCESSORS``), and its token (``ba_…``): payouts to
    # the account are sent there, with that token.
    processor = models.CharField(max_length=40)
    processor_token = models.CharField(max_length=255)
    default_for_currency = models.BooleanField(default=False)
    # The Idempotency-Key of the request that created it: a second execution of that request finds it.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "currency"],
                condition=Q(default_for_currency=True),
                name="external_account_one_default_per_currency",
            ),
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="external_account_idempotency_key_unique",
            ),
            # A deleted account is nobody's default.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(default_for_currency=False),
                name="external_account_deleted_not_default",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "currency", "id"], name="external_account_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.currency} ····{self.last4} ({self.id})"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


# --- Payouts -------------------------------------------------------------------------------------


def new_payout_id() -> str:
    return new_id("po")


class PayoutStatus(models.TextChoices):
    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


class Payout(ConcurrentTransitionMixin, SavesChangedFields):
    """Money sent from a merchant's available balance to one of its external accounts.

    Created ``pending`` with its amount already out of the merchant's available balance (the ledger's
    ``payout_created``, in the same transaction), then sent to the processor by a worker (``payouts.services``):
    ``in_transit`` once the processor has it, then ``paid`` or ``failed`` (the amount goes back to available).
    ``canceled`` (the amount goes back too) only while ``pending`` and not claimed for sending.

    ``sending_since`` is the claim: set, under the row lock and committed, before the processor is first called,
    and never cleared. A claimed payout may have reached the processor, so it is never canceled, and every later
    attempt sends it with the same idempotency key (``payout_key``)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_payout_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payouts")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    destination = models.ForeignKey(ExternalAccount, on_delete=models.PROTECT, related_name="payouts")
    description = models.CharField(max_length=1000, null=True, blank=True)
    automatic = models.BooleanField(default=False)
    # An automatic payout's period (``2026-11-30`` for a daily schedule, ``2026-W48`` for a weekly one): one
    # automatic payout per merchant, currency and period, held by a unique constraint. None for the others.
    period = models.CharField(max_length=10, null=True, blank=True, editable=False)
    status = FSMField(default=PayoutStatus.PENDING, choices=PayoutStatus.choices, protected=True, max_length=16)
    failure_code = models.CharField(max_length=64, null=True, blank=True)
    failure_message = models.CharField(max_length=500, null=True, blank=True)
    # Our estimate from its creation (``payout_arrival_estimate``: the destination country's usual transit time),
    # replaced by the processor's (its answer's ``arrival_date``) when it takes the payout, then the day it was paid.
    # None only for payouts made before estimates existed.
    arrival_date = models.DateTimeField(null=True, blank=True)
    # The acquirer it is sent through (the destination's): fixed at creation.
    processor = models.CharField(max_length=40)
    processor_payout_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    processor_attempts = models.PositiveIntegerField(default=0)
    # Set (and never cleared) when the sweep stopped sending it again: ``PAYOUT_MAX_PROCESSOR_ATTEMPTS`` sends and
    # the processor still has no record of its key. Still pending, its amount still out of available: Finance
    # finds out (the back office queue's "needs attention" filter); the sweep keeps asking the processor about it.
    needs_attention_since = models.DateTimeField(null=True, blank=True)
    # The ledger entry of its creation (``txn_…``): the payout's balance transaction.
    balance_transaction = models.CharField(max_length=40)
    requested_by = models.CharField(max_length=128)
    creation_idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="payout_merchant_newest"),
            models.Index(fields=["created"], condition=Q(status="pending"), name="payout_pending"),
            models.Index(fields=["arrival_date"], condition=Q(status="in_transit"), name="payout_in_transit"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "creation_idempotency_key"],
                condition=Q(creation_idempotency_key__isnull=False),
                name="payout_unique_creation_key",
            ),
            models.UniqueConstraint(
                fields=["merchant", "currency", "period"],
                condition=Q(period__isnull=False),
                name="payout_one_automatic_per_period",
            ),
            models.CheckConstraint(
                condition=Q(period__isnull=True) | Q(automatic=True), name="payout_period_automatic"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=PayoutStatus.values), name="payout_status_valid"),
            # Only a claimed payout can have reached the processor, and a claimed one is never canceled.
            models.CheckConstraint(
                condition=Q(status__in=["pending", "canceled"]) | Q(sending_since__isnull=False),
                name="payout_sent_was_claimed",
            ),
            models.CheckConstraint(
                condition=~Q(status="canceled") | Q(sending_since__isnull=True),
                name="payout_canceled_never_claimed",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_claimed(self) -> bool:
        return self.sending_since is not None

    @property
    def needs_attention(self) -> bool:
        """Pending, and no longer sent again by the sweep (the processor never recorded any of its sends)."""
        return self.status == PayoutStatus.PENDING and self.needs_attention_since is not None

    @transition(field=status, source=PayoutStatus.PENDING, target=PayoutStatus.IN_TRANSIT)
    def send(self, *, processor_payout_id: str, arrival_date) -> None:
        """The processor has the payout and is sending it to the bank."""
        self.processor_payout_id = processor_payout_id
        self.arrival_date = arrival_date

    @transition(field=status, source=PayoutStatus.IN_TRANSIT, target=PayoutStatus.PAID)
    def pay(self, *, arrival_date=None) -> None:
        """The bank received it."""
        self.arrival_date = arrival_date or self.arrival_date

    @transition(field=status, source=[PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT], target=PayoutStatus.FAILED)
    def fail(self, *, failure_code: str, failure_message: str | None = None, processor_payout_id=None) -> None:
        """The processor refused it, or the bank did not take it."""
        self.failure_code = failure_code
        self.failure_message = failure_message
        self.processor_payout_id = processor_payout_id or self.processor_payout_id

    @transition(field=status, source=PayoutStatus.PENDING, target=PayoutStatus.CANCELED)
    def cancel(self) -> None:
        """The merchant took it back before it was sent (the caller checks it was never claimed)."""


# --- Holds ---------------------------------------------------------------------------------------


class PayoutHold(models.Model):
    """A merchant's payouts held by Finance (the back office): while the row exists no payout of the merchant is
    created (400 ``payouts_held``) or sent (its pending payouts stay pending, and cancelable), whether made by
    hand or automatically. One row per merchant; releasing deletes it. Who held and released, when and why, is
    in the audit trail (``payouts.hold``, ``payouts.release`` on the merchant)."""

    merchant = models.OneToOneField(Merchant, on_delete=models.PROTECT, primary_key=True, related_name="payout_hold")
    reason = models.CharField(max_length=500)
    # The staff member's actor name (``staff:<username>``).
    held_by = models.CharField(max_length=128)
    held_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-held_at"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="payout_hold_reason_required")]

    def __str__(self) -> str:
        return f"payouts of {self.merchant_id} held"
