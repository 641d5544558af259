"""Merchants and their secret API keys."""

from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.money import CURRENCY_CHOICES

# Python's weekday order (Monday is 0).
WEEKDAYS = [
    (day, day.capitalize()) for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
]

# The longest payout delay a merchant may choose (Stripe allows up to a month or so): the API and the admin refuse more.
MAX_PAYOUT_DELAY_DAYS = 30


def new_merchant_id() -> str:
    return new_id("mch")


def new_api_key_id() -> str:
    return new_id("key")


class Merchant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    class PayoutInterval(models.TextChoices):
        # Paid out only on request (POST /api/v1/payouts).
        MANUAL = "manual"
        # The whole available balance, once per UTC day / once per ISO week (payouts.pay_out_automatically).
        DAILY = "daily"
        WEEKLY = "weekly"

    id = models.CharField(primary_key=True, max_length=40, default=new_merchant_id, editable=False)
    name = models.CharField(max_length=200)
    settlement_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The payout settings' delay (Stripe's ``payout_schedule.delay_days``): a capture's funds become available
    # this many days after it. ``BALANCE_SETTLEMENT_DELAY_SECONDS``, when set, overrides it for every merchant.
    payout_delay_days = models.PositiveSmallIntegerField(default=2)
    # The payout settings' interval (Stripe's ``payout_schedule.interval``).
    payout_interval = models.CharField(max_length=8, choices=PayoutInterval.choices, default=PayoutInterval.MANUAL)
    # A weekly schedule's day (Stripe's ``weekly_anchor``): the week paid out begins on it (UTC).
    payout_weekly_anchor = models.CharField(max_length=9, choices=WEEKDAYS, default="monday")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "suspended"]), name="merchant_status_valid"),
            models.CheckConstraint(
                condition=Q(payout_interval__in=["manual", "daily", "weekly"]), name="merchant_payout_interval_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class ApiKey(models.Model):
    """A secret key, stored only as HMAC-SHA256(pepper, key) and found by its non-secret prefix."""

    id = models.CharField(primary_key=True, max_length=40, default=new_api_key_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    # The first characters of the key: safe to show, unique, the look-up index.
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.merchant.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
