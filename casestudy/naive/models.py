"""The naive design's two tables: a payment per charge call, and a balance kept as a mutable column."""

from django.db import models


class NaiveBalance(models.Model):
    """One row per merchant: the balance, updated in place by every charge (``balance = balance + net``).

    No entries, no history: when it disagrees with the processor, nothing says why.
    """

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, default="USD")
    balance = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.merchant_id}: {self.balance} {self.currency}"


class NaivePayment(models.Model):
    """A payment as the naive design records it: after the processor answered, if the process lives that long.

    ``order_id`` is the client's order and is deliberately not unique: a retried call is another payment.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    order_id = models.CharField(max_length=100, db_index=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    token = models.CharField(max_length=40)
    status = models.CharField(max_length=16)  # succeeded, failed (last writer wins: the processor's webhooks too)
    processor_charge_id = models.CharField(max_length=64, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.order_id}: {self.amount} {self.currency} {self.status}"
