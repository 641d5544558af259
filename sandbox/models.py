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


def new_refund_id() -> str:
    return new_id("rf")


def new_dispute_id() -> str:
    return new_id("dsp")


def new_bank_account_id() -> str:
    return new_id("ba")


def new_payout_id() -> str:
    return new_id("po")


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


class BankAccount(models.Model):
    """A tokenised bank account: country, last four characters, keyed fingerprint, bank and behaviour.
    Never the account number, the routing number or the IBAN."""

    id = models.CharField(primary_key=True, max_length=40, default=new_bank_account_id, editable=False)
    country = models.CharField(max_length=2)
    last4 = models.CharField(max_length=4)
    fingerprint = models.CharField(max_length=16)
    bank_name = models.CharField(max_length=100, null=True, blank=True)
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
        # Bank transfers: submitted, not settled yet; settled then returned; refused by the bank at once.
        PENDING = "pending"
        RETURNED = "returned"
        FAILED = "failed"
        # Wallets: waiting for the customer's approval; not approved in time.
        REQUIRES_ACTION = "requires_action"
        EXPIRED = "expired"

    class SourceType(models.TextChoices):
        CARD = "card"
        BANK_ACCOUNT = "bank_account"
        WALLET = "wallet"

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
    source_type = models.CharField(max_length=16, choices=SourceType.choices, default=SourceType.CARD)
    # Only for card charges.
    card_brand = models.CharField(max_length=20, null=True, blank=True)
    card_last4 = models.CharField(max_length=4, null=True, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # Only for bank transfers: the account, and the bank's return code once it failed or was returned.
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    return_code = models.CharField(max_length=8, null=True, blank=True)
    # Only for wallets: where the customer approves, the secret the approval page posts back (so that only
    # someone who loaded the page can decide), whether approval captures, and when the request lapses.
    next_action_url = models.CharField(max_length=2048, null=True, blank=True)
    action_token = models.CharField(max_length=64, null=True, blank=True)
    capture_on_approval = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the card's token asked for (e.g. create_dispute), kept so later work can act on it.
    behaviour = models.CharField(max_length=32)
    # Set while a dispute of it is open or after it was lost; a won dispute clears it (the money came back).
    disputed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # When a bank transfer was returned, or a wallet charge was approved, declined or expired.
    returned_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

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
    # > 0: refunds are answered pending and settle (succeeded/failed, with a webhook) after this many seconds.
    refund_delay_seconds = models.FloatField(default=0.0)
    # How long after its capture a tok_createDispute charge is disputed.
    dispute_delay_seconds = models.FloatField(default=2.0)
    # How long after the evidence is submitted the dispute is decided.
    dispute_decision_seconds = models.FloatField(default=3.0)
    # How long a bank transfer stays pending before it settles, and how long after settling a returned
    # account's transfer comes back.
    bank_settlement_seconds = models.FloatField(default=5.0)
    bank_return_seconds = models.FloatField(default=3.0)
    # How long a wallet charge waits for the customer's approval before it expires.
    wallet_expiry_seconds = models.FloatField(default=900.0)
    # Every exchange rate is moved by this many basis points (negative: down), so tests can see rates change.
    fx_drift_bps = models.IntegerField(default=0)
    # How long a payout stays in transit before it is paid (or fails).
    payout_seconds = models.FloatField(default=5.0)
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


class Refund(models.Model):
    """Money given back on a captured charge. ``pending`` holds its amount; ``failed`` releases it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_refund_id, editable=False)
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="refunds")
    reference = models.CharField(max_length=255, null=True, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    failure_reason = models.CharField(max_length=64, null=True, blank=True)
    # As for charges: no path can create two refunds for one key.
    idempotency_key = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="sandbox_refund_unique_key")]
        indexes = [models.Index(fields=["reference", "-created"], name="sandbox_refund_reference")]

    def __str__(self) -> str:
        return self.id


class Dispute(models.Model):
    """A cardholder's chargeback of a captured charge; at most one per charge (a unique constraint)."""

    class Status(models.TextChoices):
        NEEDS_RESPONSE = "needs_response"
        UNDER_REVIEW = "under_review"
        WON = "won"
        LOST = "lost"

    id = models.CharField(primary_key=True, max_length=40, default=new_dispute_id, editable=False)
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="disputes")
    # The disputed charge's reference (the platform's payment id), copied so lists can filter on it.
    reference = models.CharField(max_length=255, null=True, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    evidence = models.JSONField(default=dict)
    evidence_due_by = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["charge"], name="sandbox_dispute_one_per_charge")]
        indexes = [models.Index(fields=["reference", "-created"], name="sandbox_dispute_reference")]

    def __str__(self) -> str:
        return self.id


class Payout(models.Model):
    """Money sent to a tokenised bank account: ``in_transit`` at once, then ``paid`` or ``failed`` (run by a
    ScheduledAction ``payout_settle``, so a restart loses no due payout)."""

    class Status(models.TextChoices):
        IN_TRANSIT = "in_transit"
        PAID = "paid"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_payout_id, editable=False)
    # Our client's id of the payout (the platform's "po_…"), so lists can filter on it.
    reference = models.CharField(max_length=255, null=True, blank=True)
    description = models.CharField(max_length=255, null=True, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    destination = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices)
    failure_code = models.CharField(max_length=64, null=True, blank=True)
    failure_message = models.CharField(max_length=255, null=True, blank=True)
    # As for charges and refunds: no path can create two payouts for one key.
    idempotency_key = models.CharField(max_length=255)
    # When it is due to be paid (or to fail): the answer's arrival_date.
    arrival_at = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="sandbox_payout_unique_key")]
        indexes = [models.Index(fields=["reference", "-created"], name="sandbox_payout_reference")]

    def __str__(self) -> str:
        return self.id


class SettlementLine(models.Model):
    """One fact of a day's settlement report, written in the transaction of the change it settles.

    Insert-only. The partial unique constraint makes each capture, refund, dispute,
    reversal and bank return settle once; lines injected by tests (to craft differences) are
    exempt, so a duplicate can be injected on purpose.
    """

    class Type(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"
        DISPUTE = "dispute"
        DISPUTE_REVERSAL = "dispute_reversal"
        # A settled bank transfer sent back by the customer's bank.
        RETURN = "return"
        # Money sent to a merchant's bank account (a paid payout).
        PAYOUT = "payout"

    settlement_date = models.DateField()
    type = models.CharField(max_length=32)
    processor_id = models.CharField(max_length=64)
    reference = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()  # signed: money to the merchant positive, money back out negative
    fee = models.BigIntegerField()  # the processor's fee, deducted from amount
    injected = models.BooleanField(default=False)
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["type", "processor_id"],
                condition=models.Q(injected=False),
                name="sandbox_settlement_once_per_fact",
            )
        ]
        indexes = [models.Index(fields=["settlement_date", "occurred_at", "id"], name="sandbox_settlement_day")]

    def __str__(self) -> str:
        return f"{self.settlement_date} {self.type} {self.processor_id}"

    @property
    def net(self) -> int:
        return self.amount - self.fee
