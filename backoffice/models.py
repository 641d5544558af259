"""What staff do in the back office that the merchant API has no record for.

- ``StaffPermission`` carries no data: it is the home of the back office's custom
  permissions (``backoffice.<codename>``, listed in ``core.staff``), which the roles of
  ``backoffice.roles`` grant.
- ``RefundRequest``: maker-checker for refunds above the approval threshold. A
  request is decided once (a conditional ``UPDATE … WHERE status = 'pending'``),
  and never by the user who made it (a database check constraint).
- ``LedgerAdjustment``: a Finance correction of a merchant's available balance,
  always posted to the ledger in the same transaction (``ledger.posting_rules.manual_adjustment``).
- ``NegativeBalance``: no table of its own, the ledger's accounts seen as the list of merchants whose
  available balance is below zero (``backoffice.selectors.negative_balances``); its own view permission
  lets Finance see it without the ledger's other screens.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.ids import new_id
from core.money import CURRENCY_CHOICES, MAX_AMOUNT
from core.staff import STAFF_PERMISSIONS
from ledger.models import Account
from payments.models import RefundReason


class StaffPermission(models.Model):
    """No table: only the owner of the back office's custom permissions."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(STAFF_PERMISSIONS.items())
        verbose_name = "back-office permission"

    def __str__(self) -> str:
        return "back-office permissions"


def new_refund_request_id() -> str:
    return new_id("rr")


def new_ledger_adjustment_id() -> str:
    return new_id("adj")


class RefundRequest(models.Model):
    """A refund above the threshold, waiting for a different Finance user to approve or reject it.

    ``status`` moves once, from ``pending``, by a conditional update (approving
    twice is impossible). ``failed`` means it was approved but the refund itself
    was refused (for instance, other refunds used up the payment in the meantime).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=new_refund_request_id, editable=False)
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="refund_requests")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reason = models.CharField(max_length=32, choices=RefundReason.choices)
    note = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The token of the form that made it: a double-submitted form finds its request instead of making a second.
    creation_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    refund = models.OneToOneField(
        "payments.Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )
    failure_message = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["created"], condition=Q(status="pending"), name="refund_request_pending")]
        constraints = [
            # Four eyes: the database itself refuses a decision by the requester.
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="refund_request_four_eyes"),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=MAX_AMOUNT), name="refund_request_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected", "failed"]),
                name="refund_request_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_by__isnull=True)
                | (~Q(status="pending") & Q(decided_by__isnull=False)),
                name="refund_request_decided_once",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class LedgerAdjustment(models.Model):
    """A staff correction of a merchant's available balance: ``amount`` is signed (positive credits the merchant)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_ledger_adjustment_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    memo = models.CharField(max_length=500)
    journal_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    creation_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0) & Q(amount__gte=-MAX_AMOUNT) & Q(amount__lte=MAX_AMOUNT),
                name="ledger_adjustment_amount_range",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class NegativeBalance(Account):
    """A merchant's available account in one currency, in the list of balances below zero. A proxy: the rows are
    the ledger's accounts, and the balances are derived from their postings (``ledger.selectors``)."""

    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = "merchant in the negative"
        verbose_name_plural = "merchants in the negative"


class AuditTrail(models.Model):
    """One list of everything that happened: the audit entries (staff actions, refund and dispute transitions,
    payouts, merchants…) and the payments' state transitions, read from a database view over
    ``core_auditentry`` and ``payments_paymenttransition`` (``UNION ALL``, migration 0006).

    No table and no copy: each transition stays written once, by ``payments.transitions``, in the statement that
    already writes it, so the payment path gains nothing; the view only reads. Append-only like its two tables:
    nothing here is ever written. ``key`` is ``a<id>`` for an audit entry and ``t<id>`` for a transition
    (``source`` and ``source_id`` say the same, for reads through the tables' primary keys); a transition reads
    as an entry on its payment: ``payment.<transition>``, before and after ``{"status": …}``.
    """

    class Source(models.TextChoices):
        AUDIT = "audit"
        TRANSITION = "transition"

    key = models.CharField(primary_key=True, max_length=24)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_id = models.BigIntegerField()
    created = models.DateTimeField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    reason = models.TextField()

    class Meta:
        managed = False
        db_table = "backoffice_audittrail"
        # Seen by whoever may see the audit trail (``core.view_auditentry``: the admin checks it).
        default_permissions = ()
        verbose_name = "audit trail entry"
        verbose_name_plural = "audit trail"

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_id}"
