"""The sandbox processor's own records. Data only: every write is in ``services.py``."""

import os
import time

from django.db import models

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """A prefixed, time-ordered id (``ch_01JD2W7Q3X…``): 48 bits of milliseconds, then 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"


def new_token_id() -> str:
    return new_id("tok")


def new_charge_id() -> str:
    return new_id("ch")


def new_event_id() -> str:
    return new_id("evt_sbx")


class Token(models.Model):
    """A tokenised card: brand, last four digits, expiry and behaviour. Never the number."""

    id = models.CharField(primary_key=True, max_length=40, default=new_token_id, editable=False)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    behaviour = models.CharField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class Charge(models.Model):
    class Status(models.TextChoices):
        AUTHORIZED = "authorized"
        CAPTURED = "captured"
        DECLINED = "declined"
        VOIDED = "voided"

    id = models.CharField(primary_key=True, max_length=40, default=new_charge_id, editable=False)
    reference = models.CharField(max_length=255, null=True, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    decline_code = models.CharField(max_length=64, null=True, blank=True)
    failure_message = models.CharField(max_length=255, null=True, blank=True)
    # The key of the request that created it; unique so that no path can create two charges for one key.
    idempotency_key = models.CharField(max_length=255)
    token = models.CharField(max_length=40)
    card_brand = models.CharField(max_length=20)
    card_last4 = models.CharField(max_length=4)
    card_exp_month = models.PositiveSmallIntegerField()
    card_exp_year = models.PositiveSmallIntegerField()
    # What the card's token asked for (e.g. create_dispute), kept so later work can act on it.
    behaviour = models.CharField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="sandbox_charge_unique_key")]
        indexes = [models.Index(fields=["reference", "-created"], name="sandbox_charge_reference")]

    def __str__(self) -> str:
        return self.id


class IdempotencyKey(models.Model):
    """One row per (API key, Idempotency-Key): the unique constraint is what makes a duplicate fail.

    ``response_status`` is NULL while the first request executes. ``replay_after``
    lets a completed answer stay hidden (409) until the moment it is really sent,
    for answers that the sandbox delays on purpose (``tok_timeout``).
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    # Who is executing it: a completion must match, so a request whose claim was
    # taken over (it looked abandoned) can never complete it.
    lock_id = models.CharField(max_length=32)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    replay_after = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="sandbox_idempotency_unique_key")]

    def __str__(self) -> str:
        return self.key


class FaultSettings(models.Model):
    """The faults of the run, one row (pk=1) so that every worker process sees the same ones."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    latency_ms = models.PositiveIntegerField(default=0)
    error_rate = models.FloatField(default=0.0)
    seed = models.BigIntegerField(default=0)
    duplicate_webhooks = models.BooleanField(default=False)
    shuffle_webhooks = models.BooleanField(default=False)
    timeout_delay_seconds = models.FloatField(default=10.0)
    # How many error-rate draws have been taken from random.Random(seed) since the seed was set.
    draws = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "faults"


class WebhookEvent(models.Model):
    """A webhook to the platform, queued in the transaction of the change that caused it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Also the claim: a dispatcher pushes it forward before sending, so no other one sends it meanwhile.
    next_attempt_at = models.DateTimeField()
    deliveries = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="sandbox_webhook_due")]

    def __str__(self) -> str:
        return self.id


class ScheduledAction(models.Model):
    """Delayed work (send a webhook after the timeout delay, later: open a dispute…), run by the dispatcher."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    action = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    run_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "run_at"], name="sandbox_action_due")]

    def __str__(self) -> str:
        return f"{self.action}@{self.run_at.isoformat()}"
