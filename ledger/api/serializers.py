"""The balance and balance-transaction objects as the API shows them."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger.models import JournalEntry


class BalanceAmountSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217, upper case.")
    amount = serializers.IntegerField(help_text="Minor units; may be negative (after refunds or disputes).")


class BalanceSerializer(serializers.Serializer):
    object = serializers.SerializerMethodField()
    available = BalanceAmountSerializer(many=True, help_text="Funds the merchant may be paid out, per currency.")
    pending = BalanceAmountSerializer(many=True, help_text="Funds not yet settled, per currency.")

    def get_object(self, balance) -> str:
        return "balance"


class BalanceTransactionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="txn_…")
    object = serializers.SerializerMethodField()
    type = serializers.ChoiceField(choices=JournalEntry.Type.choices)
    amount = serializers.IntegerField(help_text="Gross amount in minor units: positive in, negative out.")
    fee = serializers.IntegerField(help_text="The platform's fee in this transaction, minor units.")
    net = serializers.IntegerField(help_text="amount − fee: what the balance moved by.")
    currency = serializers.CharField(
        source="balance_currency",
        help_text="The currency the balance moved in (a converted payment's settlement currency).",
    )
    source = serializers.CharField(help_text="The payment, refund, dispute or adjustment id.")
    status = serializers.SerializerMethodField()
    available_on = serializers.DateTimeField(
        source="available_on_shown",
        help_text="When the funds are (or become) available: a capture's time plus the payout delay; "
        "the creation time for everything else.",
    )
    created = serializers.DateTimeField()

    def get_object(self, entry) -> str:
        return "balance_transaction"

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "available"]))
    def get_status(self, entry) -> str:
        # ``pending`` until the funds have matured (a ledger entry moved them), not merely until available_on.
        return "pending" if entry.pending_delta and not entry.matured else "available"


class BalanceTransactionListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = BalanceTransactionSerializer(many=True)
