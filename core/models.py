"""Cross-cutting records: the audit trail."""

from django.db import models


class AuditEntry(models.Model):
    """Append-only trail of every staff action and every state transition of refunds and disputes.

    Who (``actor``), what (``action`` on ``object_type``/``object_id``), when,
    the state before and after, and why. Never updated or deleted: the admin
    offers no change or delete, and corrections are new entries.
    """

    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit trail"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_id}"
