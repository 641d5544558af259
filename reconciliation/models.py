"""Reconciliation: the processor's settlement report of a day, compared with our ledger.

- ``ReconciliationRun``: one per settlement date (unique). Re-running a day
  replaces its run: the row is reused, its imported lines are replaced, and its
  figures describe the latest run.
- ``SettlementLine``: the report as imported (the external staging table),
  bulk-loaded by ``COPY`` on PostgreSQL. Lines belong to the run of their day.
- ``ReconciliationException``: one difference between the report and the
  ledger, typed, that staff work through (or that the platform resolved itself,
  ``auto_resolved``). Unique per (settlement date, type, line type, match key),
  so a re-run can never duplicate one; the line type is part of it because a
  match key is only unique within a line type (a charge and its return share the
  payment id, a dispute and its reversal the processor's dispute id).

How lines and ledger entries are matched is in ``docs/reconciliation.md``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money import CURRENCY_CHOICES


class LineType(models.TextChoices):
    """What a settlement line (and a ledger entry on processor_receivable) is about."""

    CHARGE = "charge"
    REFUND = "refund"
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"
    # A settled bank transfer that the customer's bank sent back.
    RETURN = "return"
    # Money the processor paid to a merchant's bank account (the platform's payout, ``payouts.Payout``).
    PAYOUT = "payout"


# Lines of these types are matched on the processor's dispute id; the others on our reference.
MATCHED_BY_PROCESSOR_ID = (LineType.DISPUTE, LineType.DISPUTE_REVERSAL)
# Lines of these types are about a payment (the others about a refund, a dispute or a payout).
ABOUT_A_PAYMENT = (LineType.CHARGE, LineType.RETURN)
# The journal entry type (``ledger.JournalEntry.type``) each line type is matched with.
LEDGER_ENTRY_TYPE = {
    LineType.CHARGE: "charge",
    LineType.REFUND: "refund",
    LineType.DISPUTE: "dispute",
    LineType.DISPUTE_REVERSAL: "dispute_reversal",
    LineType.RETURN: "payment_return",
    LineType.PAYOUT: "payout",
}


class ExceptionType(models.TextChoices):
    """From the most fundamental difference to the least: a line gets the first that applies."""

    DUPLICATE_EXTERNAL = "duplicate_external", "duplicate in the report"
    MISSING_INTERNAL = "missing_internal", "missing in our ledger"
    STATUS_MISMATCH = "status_mismatch", "status mismatch"
    MISSING_EXTERNAL = "missing_external", "missing in the report"
    CURRENCY_MISMATCH = "currency_mismatch", "currency mismatch"
    AMOUNT_MISMATCH = "amount_mismatch", "amount mismatch"
    FEE_MISMATCH = "fee_mismatch", "fee mismatch"


class ReconciliationRun(models.Model):
    """The reconciliation of one processor's settlement date: what was imported, how much matched, what did not."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    # The acquirer whose report this run reconciles (a name of settings.PROCESSORS): one run per processor and day.
    processor = models.CharField(max_length=40)
    settlement_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # "processor" or "file:<path>".
    source = models.CharField(max_length=500, blank=True, default="")
    started = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    lines = models.PositiveIntegerField(default=0, help_text="Lines in the report.")
    internal_items = models.PositiveIntegerField(default=0, help_text="Ledger events of the day on the receivable.")
    matched = models.PositiveIntegerField(default=0, help_text="Lines that agree with the ledger in every respect.")
    # exception type -> how many differences of that type this run found (resolved ones included).
    exception_counts = models.JSONField(default=dict, blank=True)
    auto_resolved = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    report_sha256 = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-settlement_date", "processor"]
        constraints = [
            models.UniqueConstraint(fields=["processor", "settlement_date"], name="recon_run_one_per_processor_day"),
            models.CheckConstraint(
                condition=Q(status__in=["running", "succeeded", "failed"]), name="recon_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.processor} {self.settlement_date:%Y-%m-%d} ({self.status})"

    @property
    def duration(self):
        return self.finished - self.started if self.finished and self.started else None

    @property
    def exceptions_found(self) -> int:
        return sum(self.exception_counts.values()) if self.exception_counts else 0


class SettlementLine(models.Model):
    """One line of the processor's report, validated and imported (the external staging table).

    Written only by the bulk loader, never by the ORM one row at a time. ``run``
    has no database foreign key: a per-row constraint trigger would cost more
    than the load itself at a million lines, and runs are never deleted.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    line_number = models.PositiveIntegerField(help_text="The line in the file (the header is line 1).")
    type = models.CharField(max_length=32, choices=LineType.choices)
    processor_id = models.CharField(max_length=255)
    reference = models.CharField(max_length=255)
    # reference for charges, refunds, returns and payouts, processor_id for disputes and their reversals.
    match_key = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField()
    net = models.BigIntegerField()
    # The fee the processor's configuration says it deducts (settings.PROCESSORS[name]: fee_bps, fee_fixed,
    # dispute_fee).
    expected_fee = models.BigIntegerField()

    class Meta:
        ordering = ["run", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "line_number"], name="recon_line_unique_per_run"),
        ]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.type} {self.match_key}"


class ReconciliationException(models.Model):
    """A difference between the processor's report and our ledger, as work for finance.

    ``status`` moves once, from ``open`` to ``resolved``, by a conditional UPDATE;
    a re-run of the day replaces the open exceptions of that day and leaves the
    resolved ones alone. ``ledger_entry`` is the entry that resolved it: the
    charge posted by an automatic resolution, or a staff adjustment.
    """

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    class Resolution(models.TextChoices):
        AUTO_RESOLVED = "auto_resolved", "resolved automatically"
        WRITTEN_OFF = "written_off", "written off"
        ADJUSTED = "adjusted", "adjusted in the ledger"
        EXPLAINED = "explained", "explained"

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="exceptions")
    processor = models.CharField(max_length=40)
    settlement_date = models.DateField()
    type = models.CharField(max_length=32, choices=ExceptionType.choices)
    line_type = models.CharField(max_length=32, choices=LineType.choices)
    match_key = models.CharField(max_length=255)
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=255, blank=True, default="")
    processor_id = models.CharField(max_length=255, blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="")
    internal_amount = models.BigIntegerField(null=True, blank=True, help_text="What our ledger moved (signed).")
    external_amount = models.BigIntegerField(null=True, blank=True, help_text="What the report says (signed).")
    expected_fee = models.BigIntegerField(null=True, blank=True)
    external_fee = models.BigIntegerField(null=True, blank=True)
    # lines (numbers in the file), ledger_entry, object_status (our payment/refund/dispute/payout), currencies…
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True, default="")
    note = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    ledger_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now, help_text="When a run first found it.")
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = "reconciliation exception"
        indexes = [
            models.Index(fields=["status", "created"], name="recon_exc_queue"),
            models.Index(fields=["reference"], name="recon_exc_reference"),
            models.Index(fields=["processor_id"], name="recon_exc_processor_id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["processor", "settlement_date", "type", "line_type", "match_key"],
                name="recon_exc_unique_finding_per_processor",
            ),
            models.CheckConstraint(condition=Q(type__in=ExceptionType.values), name="recon_exc_type_valid"),
            models.CheckConstraint(
                condition=Q(status="open", resolution="", resolved_at__isnull=True)
                | Q(
                    status="resolved",
                    resolution__in=["auto_resolved", "written_off", "adjusted", "explained"],
                    resolved_at__isnull=False,
                ),
                name="recon_exc_resolved_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.settlement_date:%Y-%m-%d} {self.type} {self.match_key}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
