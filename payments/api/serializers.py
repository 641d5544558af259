"""The payment object as the API shows it, and the inputs of each payment operation."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from core.api import (
    AmountField,
    CurrencyField,
    MetadataField,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
)
from payments.models import (
    CancellationReason,
    CaptureMethod,
    Dispute,
    DisputeStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)

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


# --- Refunds --------------------------------------------------------------------------------


class RefundSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment_id")
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    created = serializers.DateTimeField()

    class Meta:
        model = Refund
        fields = ["id", "object", "payment", "amount", "currency", "status", "reason", "failure_reason", "created"]

    def get_object(self, refund) -> str:
        return "refund"


class RefundListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = RefundSerializer(many=True)


class RefundCreateInput(StrictInputSerializer):
    payment = StrictCharField(max_length=40)
    amount = AmountField(required=False)
    reason = serializers.ChoiceField(choices=RefundReason.choices, required=False, allow_null=True, default=None)


# --- Disputes -------------------------------------------------------------------------------


class DisputeEvidenceSerializer(StrictInputSerializer):
    customer_communication = StrictCharField(max_length=20000, required=False, allow_blank=True)
    shipping_documentation = StrictCharField(max_length=20000, required=False, allow_blank=True)
    refund_policy = StrictCharField(max_length=20000, required=False, allow_blank=True)
    uncategorized_text = StrictCharField(max_length=20000, required=False, allow_blank=True)

    def validate(self, attrs):
        if not any(value.strip() for value in attrs.values()):
            raise serializers.ValidationError(
                ErrorDetail("Submit at least one evidence field with text.", code="evidence_missing")
            )
        return attrs


class DisputeSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment_id")
    status = serializers.ChoiceField(choices=DisputeStatus.choices)
    evidence = serializers.SerializerMethodField()
    created = serializers.DateTimeField()

    class Meta:
        model = Dispute
        fields = ["id", "object", "payment", "amount", "currency", "status", "reason", "fee", "evidence",
                  "evidence_due_by", "created"]  # fmt: skip

    def get_object(self, dispute) -> str:
        return "dispute"

    @extend_schema_field(DisputeEvidenceSerializer)
    def get_evidence(self, dispute) -> dict:
        return {field: dispute.evidence.get(field, "") for field in DisputeEvidenceSerializer().fields}


class DisputeListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = DisputeSerializer(many=True)
