"""Checkout sessions: a merchant's request that a customer pay an amount on the platform's hosted page.

A session is ``open`` until it is ``complete`` (paid: its ``payment`` succeeded, or was authorised for manual
capture) or ``expired`` (not paid by ``expires_at``, or expired by the merchant). Only one payment attempt runs
at a time (``attempt_*``, claimed under the session's row lock by ``checkout.services``): the attempt's payment
is made, confirmed and read outside any transaction, and a failed one frees the session for another try.
"""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from core.ids import new_id
from core.money import CURRENCY_CHOICES
from merchants.models import Merchant
from payments.models import Payment


def new_checkout_session_id() -> str:
    return new_id("cs")


class CheckoutSessionStatus(models.TextChoices):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class CheckoutSession(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_checkout_session_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="checkout_sessions")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    success_url = models.CharField(max_length=2048)
    cancel_url = models.CharField(max_length=2048)
    # The payment method types the page offers ("card", "bank_transfer", "wallet"), in the merchant's order.
    payment_method_types = models.JSONField(default=list)
    capture_method = models.CharField(max_length=16, default="automatic")
    # Shown on the page, and copied to each payment of the session (``Payment.customer_email``).
    customer_email = models.CharField(max_length=254, null=True, blank=True)
    description = models.CharField(max_length=1000, null=True, blank=True)
    metadata = models.JSONField(default=dict)
    status = FSMField(
        default=CheckoutSessionStatus.OPEN, choices=CheckoutSessionStatus.choices, protected=True, max_length=16
    )
    expires_at = models.DateTimeField()
    # The payment that completed the session: exactly one, only once complete (the constraints below).
    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="checkout_session"
    )
    # The payment attempt in flight, if any: claimed under the row lock (``attempt_started_at`` set, a new
    # ``attempt_number``), its payment recorded in the transaction that creates it, released when it fails.
    attempt_number = models.PositiveIntegerField(default=0)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    attempt_payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="checkout_attempts"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    creation_idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="checkout_merchant_newest"),
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="checkout_open_expiry"),
            models.Index(
                fields=["attempt_started_at"],
                condition=Q(status="open", attempt_started_at__isnull=False),
                name="checkout_open_attempt",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "creation_idempotency_key"],
                condition=Q(creation_idempotency_key__isnull=False),
                name="checkout_unique_creation_key",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="checkout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=CheckoutSessionStatus.values), name="checkout_status_valid"),
            # Complete with exactly one payment; open or expired with none.
            models.CheckConstraint(
                condition=Q(status="complete", payment__isnull=False)
                | (~Q(status="complete") & Q(payment__isnull=True)),
                name="checkout_complete_has_payment",
            ),
            # No attempt runs on a session that is no longer open.
            models.CheckConstraint(
                condition=Q(status="open") | Q(attempt_started_at__isnull=True), name="checkout_attempt_only_open"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def attempt_in_flight(self) -> bool:
        return self.attempt_started_at is not None

    def start_attempt(self, *, now) -> None:
        self.attempt_number += 1
        self.attempt_started_at = now
        self.attempt_payment = None

    def release_attempt(self) -> None:
        self.attempt_started_at = None
        self.attempt_payment = None

    @transition(field=status, source=CheckoutSessionStatus.OPEN, target=CheckoutSessionStatus.COMPLETE)
    def complete(self, *, payment: Payment, now) -> None:
        """Paid by ``payment`` (succeeded, or authorised for manual capture)."""
        self.payment = payment
        self.completed_at = now
        self.release_attempt()

    @transition(field=status, source=CheckoutSessionStatus.OPEN, target=CheckoutSessionStatus.EXPIRED)
    def expire(self, *, now) -> None:
        """Not paid in time, or expired by the merchant; the caller checks no attempt is in flight."""
        self.expired_at = now
        self.release_attempt()
