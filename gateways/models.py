"""What the platform stores about the processor: the webhooks it received."""

from django.db import models


class ProcessorWebhookEvent(models.Model):
    """A verified webhook from a processor, stored under the processor's own event id.

    The unique constraint makes a duplicate delivery a no-op: it finds the row
    instead of applying the event again.
    """

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    processor = models.CharField(max_length=32)
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    deliveries = models.PositiveIntegerField(default=1)
    last_error = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["processor", "event_id"], name="processor_event_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.processor}:{self.event_id} ({self.type})"
