"""The payment object as the API shows it, and the inputs of each payment operation."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import (
    AmountField,
    CurrencyField,
    MetadataField,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
)
from payments.models import CancellationReason, CaptureMethod, Payment, PaymentStatus

# --- Output -----------------------------------------------------------------------------


class CardSerializer(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class PaymentMethodSerializer(serializers.Serializer):
    type = serializers.CharField()
    card = CardSerializer()


class PaymentSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    payment_method = serializers.SerializerMethodField()
    created = serializers.DateTimeField()

    class Meta:
        model = Payment
        fields = [
            "id", "object", "amount", "currency", "status", "capture_method", "amount_capturable",
            "amount_captured", "amount_refunded", "payment_method", "failure_code", "failure_message",
            "decline_code", "cancellation_reason", "disputed", "description", "metadata", "created",
        ]  # fmt: skip

    def get_object(self, payment) -> str:
        return "payment"

    @extend_schema_field(PaymentMethodSerializer)
    def get_payment_method(self, payment) -> dict:
        return {
            "type": payment.payment_method_type,
            "card": {
                "brand": payment.card_brand,
                "last4": payment.card_last4,
                "exp_month": payment.card_exp_month,
                "exp_year": payment.card_exp_year,
            },
        }


class PaymentListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = PaymentSerializer(many=True)


# --- Input -------------------------------------------------------------------------------


class PaymentMethodInput(StrictInputSerializer):
    type = serializers.ChoiceField(choices=["card"])
    token = StrictCharField(max_length=255)


class PaymentCreateInput(StrictInputSerializer):
    amount = AmountField()
    currency = CurrencyField()
    payment_method = PaymentMethodInput()
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    confirm = StrictBooleanField(default=False)
    description = StrictCharField(max_length=1000, allow_null=True, required=False, default=None)
    metadata = MetadataField(required=False, default=dict)


class PaymentConfirmInput(StrictInputSerializer):
    pass


class PaymentCaptureInput(StrictInputSerializer):
    amount = AmountField(required=False)


class PaymentCancelInput(StrictInputSerializer):
    reason = serializers.ChoiceField(
        choices=[c for c in CancellationReason.values if c != CancellationReason.EXPIRED], required=False, default=None,
        allow_null=True,
    )  # fmt: skip
