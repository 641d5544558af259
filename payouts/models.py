"""External accounts: the bank accounts a merchant's payouts go to, as the processor tokenised them.

Only the processor's token, the last four characters, the processor's fingerprint, the bank's name, the
country and the currency are kept: never the account number, the routing number with it, or the IBAN.
"""

from django.db import models
from django.db.models import Q

from core.ids import new_id
from core.money import CURRENCY_CHOICES
from merchants.models import Merchant


def new_external_account_id() -> str:
    return new_id("ea")


class ExternalAccount(models.Model):
    """A merchant's bank account for payouts in one currency. Deleted softly (``deleted_at``): a payout that
    went to it keeps naming it, and history is never rewritten.

    One default per merchant and currency, among the accounts not deleted: a partial unique constraint, so two
    concurrent switches cannot both leave theirs the default."""

    id = models.CharField(primary_key=True, max_length=40, default=new_external_account_id, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="external_accounts")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    country = models.CharField(max_length=2)
    last4 = models.CharField(max_length=4)
    # The processor's, stable per account: the same account added twice has the same fingerprint.
    fingerprint = models.CharField(max_length=64)
    bank_name = models.CharField(max_length=200, null=True, blank=True)
    # The acquirer that tokenised the account (``settings.PROCESSORS``), and its token (``ba_…``): payouts to
    # the account are sent there, with that token.
    processor = models.CharField(max_length=40)
    processor_token = models.CharField(max_length=255)
    default_for_currency = models.BooleanField(default=False)
    # The Idempotency-Key of the request that created it: a second execution of that request finds it.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "currency"],
                condition=Q(default_for_currency=True),
                name="external_account_one_default_per_currency",
            ),
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="external_account_idempotency_key_unique",
            ),
            # A deleted account is nobody's default.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(default_for_currency=False),
                name="external_account_deleted_not_default",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "currency", "id"], name="external_account_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.currency} ····{self.last4} ({self.id})"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
