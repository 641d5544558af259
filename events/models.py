"""The merchant event log (the transactional outbox), webhook endpoints, deliveries and their attempts.

An ``Event`` is written in the same transaction as the state change it reports;
``published_at`` stays empty until the outbox drain has created its deliveries.
A ``WebhookDelivery`` is one event for one endpoint (unique together, so a
re-drain cannot duplicate it); it is sent under a lease (``locked_until``) that
only one worker holds at a time, and every send is a ``WebhookAttempt`` row.
"""

from django.db import models
from django.db.models import Q

from core.ids import new_id
from merchants.models import Merchant


def new_event_id() -> str:
    return new_id("evt")


def new_webhook_endpoint_id() -> str:
    return new_id("we")


def new_webhook_delivery_id() -> str:
    return new_id("whd")


class EventType(models.TextChoices):
    PAYMENT_PROCESSING = "payment.processing"
    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_REQUIRES_CAPTURE = "payment.requires_capture"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    PAYMENT_RETURNED = "payment.returned"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_UPDATED = "dispute.updated"
    DISPUTE_CLOSED = "dispute.closed"
    PAYOUT_CREATED = "payout.created"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    PAYOUT_CANCELED = "payout.canceled"
    CHECKOUT_SESSION_COMPLETED = "checkout.session.completed"
    CHECKOUT_SESSION_EXPIRED = "checkout.session.expired"


# An endpoint that subscribes to "*" receives every type, including types added later.
ALL_EVENTS = "*"
# What an endpoint's ``events`` may name (the API schema's one enum for it).
SUBSCRIPTION_CHOICES = [ALL_EVENTS, *EventType.values]


class Event(models.Model):
    """Something that happened to one of a merchant's objects. Append-only.

    ``payload`` is the event exactly as the API shows it and as webhooks carry it
    (rendered once, at record time), so every delivery and retry sends the same bytes.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="events")
    # One of EventType (checked by ``event_record``); no ``choices`` here, so a new type needs no migration.
    type = models.CharField(max_length=64)
    payload = models.TextField(editable=False)
    created = models.DateTimeField(editable=False)
    # Set by the outbox drain once the event's deliveries exist.
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="event_merchant_newest"),
            models.Index(fields=["merchant", "type", "-id"], name="event_merchant_type"),
            models.Index(fields=["id"], condition=Q(published_at__isnull=True), name="event_unpublished"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives the events it subscribes to.

    ``secret`` is the Standard Webhooks signing secret (``whsec_<base64>``). Signing
    needs the secret itself (HMAC is symmetric), so it cannot be stored as a hash; it
    is stored as-is in a column that no serializer, admin page, ``str()`` or log line
    ever renders, and is wiped when the endpoint is deleted. (Encryption at rest would
    need a key-management dependency that the platform does not have yet.)
    """

    class Status(models.TextChoices):
        ENABLED = "enabled"
        DISABLED = "disabled"

    id = models.CharField(primary_key=True, max_length=40, default=new_webhook_endpoint_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.CharField(max_length=2048)
    # Event types, or ["*"] for all of them.
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=128, editable=False)
    # After a rotation, the secret it replaced keeps signing too (a second signature in the same header) until
    # ``previous_secret_expires_at``, so the merchant can switch its verifier without losing a webhook. Kept
    # like ``secret``, never rendered; emptied by the next rotation and on deletion.
    # db_default too: rows written by SQL that predates these columns (scripts, benchmarks) stay valid.
    previous_secret = models.CharField(max_length=128, blank=True, default="", db_default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    description = models.CharField(max_length=500, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "status"], name="endpoint_merchant_status")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["enabled", "disabled"]), name="endpoint_status_valid"),
        ]
        permissions = [("enable_webhookendpoint", "Can re-enable a disabled webhook endpoint")]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url} {self.status}>"

    def subscribes_to(self, event_type: str) -> bool:
        return ALL_EVENTS in self.events or event_type in self.events

    def signing_secrets(self, now) -> list[str]:
        """The secrets that sign a message sent at ``now``: the current one, and the one it replaced while its
        overlap lasts."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until it succeeds, fails for good, or is canceled."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # every retry failed, or the endpoint answered 410 Gone
        CANCELED = "canceled"  # the endpoint was disabled or deleted before it was sent

    id = models.CharField(primary_key=True, max_length=40, default=new_webhook_delivery_id, editable=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Every attempt ever made (numbers the attempts), and the position in the retry
    # schedule (reset when staff re-send the delivery).
    attempt_count = models.PositiveIntegerField(default=0)
    retry_step = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # The lease of the worker sending it right now, renewed while it sends; an expired lease means that worker died.
    locked_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due"),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint_newest"),
            # The back office's dashboard counts the deliveries that failed for good lately (a few rows).
            models.Index(fields=["completed_at"], condition=Q(status="failed"), name="delivery_failed"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_unique_event_endpoint"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed", "canceled"]), name="delivery_status_valid"
            ),
        ]
        permissions = [("resend_webhookdelivery", "Can re-send a webhook delivery")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: when, what came back, how long it took. Append-only."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # At most 1 KB of what the endpoint answered.
    response_body = models.TextField(blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        # On PostgreSQL a BRIN index on ``started_at`` (events 0006) serves the dashboard's attempts of the last 24
        # hours: rows are appended in time order, so a few kilobytes index millions of them, at no cost per insert.

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
