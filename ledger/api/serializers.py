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
    created = serializers.DateTimeField()

    def get_object(self, entry) -> str:
        return "balance_transaction"

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "available"]))
    def get_status(self, entry) -> str:
        return "available" if entry.available_delta else "pending"


class BalanceTransactionListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = BalanceTransactionSerializer(many=True)
