"""The merchant API's idempotency keys (``edge.idempotency``)."""

from django.db import models


class IdempotencyKey(models.Model):
    """One merchant request identified by its ``Idempotency-Key``.

    The unique constraint on (merchant, key) is the lock: the first request
    inserts the row and executes; every other request with that key finds it.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    class RecoveryPoint(models.TextChoices):
        """How far the request got, recorded in the same transaction as the work it names."""

        # Nothing but this row was written: a retry executes the request from the start.
        STARTED = "started"
        # The request's first write committed (a payment created and/or moved to ``processing``, a
        # capture or cancel claimed, a refund reserved): a retry never repeats it, it resumes.
        INTENT_RECORDED = "intent_recorded"
        # The processor's answer is recorded on the object: a retry only renders the object.
        PROCESSOR_CALLED = "processor_called"
        # The answer is stored and replayed byte for byte.
        FINISHED = "finished"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    recovery_point = models.CharField(max_length=24, choices=RecoveryPoint.choices, default=RecoveryPoint.STARTED)
    # The object the request created or operates on (``pay_…``, ``re_…``), set with the intent.
    resource_id = models.CharField(max_length=64, null=True, blank=True)
    # When the executing request took the key; NULL once it let go of it without a final answer
    # (a lost connection, a processor that did not answer), so a retry may resume at once.
    locked_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when the model lived in core (migrations: edge 0001, core 0006).
        db_table = "core_idempotencykey"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_key_unique_per_merchant"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.key}"
