from rest_framework import serializers

from edge.api import StrictInputSerializer
from merchants.models import MAX_PAYOUT_DELAY_DAYS, WEEKDAYS, Merchant


class PayoutScheduleSerializer(serializers.Serializer):
    interval = serializers.CharField(
        source="payout_interval", help_text="`manual`, `daily` (once per UTC day) or `weekly` (once per ISO week)."
    )
    delay_days = serializers.IntegerField(
        source="payout_delay_days", help_text="Days after a capture before its funds are available."
    )
    weekly_anchor = serializers.CharField(
        source="payout_weekly_anchor", help_text="`monday` … `sunday`: the day a weekly schedule's week begins."
    )


class AccountSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    payout_schedule = PayoutScheduleSerializer(source="*", read_only=True)

    class Meta:
        model = Merchant
        fields = ["id", "object", "name", "settlement_currency", "status", "payout_schedule", "created"]

    def get_object(self, merchant) -> str:
        return "account"


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: strings and booleans are refused, not converted."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be an integer.", code="parameter_invalid")
        return super().to_internal_value(data)


class PayoutScheduleInput(StrictInputSerializer):
    interval = serializers.ChoiceField(
        choices=Merchant.PayoutInterval.values, required=False, help_text="`manual`, `daily` or `weekly`."
    )
    delay_days = StrictIntegerField(
        min_value=0, max_value=MAX_PAYOUT_DELAY_DAYS, required=False, help_text="0 to 30 days."
    )

    weekly_anchor = serializers.ChoiceField(
        choices=[day for day, _ in WEEKDAYS], required=False, help_text="`monday` (default) … `sunday`."
    )


class AccountUpdateInput(StrictInputSerializer):
    payout_schedule = PayoutScheduleInput(help_text="The fields to change; the others are kept.")
