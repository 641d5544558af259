"""The inputs of each payments API operation, and the description of its answers for the OpenAPI document."""

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from edge.api import (
    AmountField,
    CurrencyField,
    MetadataField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictInputSerializer,
)
from payments.methods import PAYMENT_METHOD_TYPES, PAYMENT_METHODS, payment_method
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
from payments.representations import dispute_representation, payment_representation, refund_representation

# --- Output -----------------------------------------------------------------------------
#
# The output serializers describe the API's objects for the OpenAPI document; what they answer is the
# object built by ``payments.representations`` (the events carry the same), so their fields must name
# exactly its keys (tests/payments/test_representations.py holds them to it).


class NextActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["redirect"])
    url = serializers.CharField(help_text="Send the customer here to approve or decline the payment.")


# ``{"type": …, <type>: <details>}``: one member per registered payment method (``payments.methods``).
class PaymentMethodSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES)

    def get_fields(self):
        fields = super().get_fields()
        for method in PAYMENT_METHODS.values():
            fields[method.type] = method.details_serializer()
        return fields


class PaymentSerializer(serializers.ModelSerializer):
    object = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    payment_method = PaymentMethodSerializer(read_only=True)
    # Where to send the customer while the payment is ``requires_action``; null otherwise.
    next_action = NextActionSerializer(read_only=True, allow_null=True)
    settlement_currency = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The merchant's settlement currency, locked at confirmation (null before).",
    )
    settlement_amount = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="`amount` in `settlement_currency` (minor units) at `fx_rate`, before fees; null until confirmed.",
    )
    fx_rate = serializers.DecimalField(
        max_digits=30,
        decimal_places=12,
        read_only=True,
        allow_null=True,
        coerce_to_string=True,
        help_text="Units of `settlement_currency` per unit of `currency`, margin included, locked at confirmation; "
        "null when no conversion is needed.",
    )
    returned = serializers.BooleanField(
        read_only=True, help_text="A settled bank transfer that the bank returned afterwards (see amount_returned)."
    )
    processor = serializers.CharField(
        read_only=True,
        help_text="The acquirer that takes the payment, chosen by the platform's routing rules (it changes only when "
        "that acquirer provably did not process the payment and it failed over to another).",
    )
    created = serializers.DateTimeField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "object",
            "amount",
            "currency",
            "status",
            "processor",
            "capture_method",
            "amount_capturable",
            "amount_captured",
            "amount_refunded",
            "payment_method",
            "failure_code",
            "failure_message",
            "decline_code",
            "cancellation_reason",
            "next_action",
            "disputed",
            "amount_returned",
            "returned",
            "return_code",
            "settlement_currency",
            "settlement_amount",
            "fx_rate",
            "description",
            "metadata",
            "customer_email",
            "customer_name",
            "created",
        ]

    def to_representation(self, payment) -> dict:
        return payment_representation(payment)


class PaymentListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = PaymentSerializer(many=True)


# --- Input -------------------------------------------------------------------------------


# ``{"type": …, <input_name>: <its data>}``: one member per registered payment method (``payments.methods``),
# and only the one its type names.
class PaymentMethodInput(StrictInputSerializer):
    type = serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES)

    def get_fields(self):
        fields = super().get_fields()
        for method in PAYMENT_METHODS.values():
            fields[method.input_name] = method.input_field()
        return fields

    def validate(self, attrs):
        needed = payment_method(attrs["type"]).input_name
        if needed not in attrs:
            raise serializers.ValidationError({needed: [ErrorDetail("This field is required.", code="required")]})
        for name in attrs:
            if name not in ("type", needed):
                raise serializers.ValidationError(
                    {name: [ErrorDetail(f"Not allowed with type {attrs['type']}.", code="parameter_unknown")]}
                )
        return attrs


class PaymentCreateInput(StrictInputSerializer):
    amount = AmountField()
    currency = CurrencyField()
    payment_method = PaymentMethodInput()
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    confirm = StrictBooleanField(default=False)
    description = StrictCharField(max_length=1000, allow_null=True, required=False, default=None)
    metadata = MetadataField(required=False, default=dict)
    customer_email = StrictEmailField(
        allow_null=True, required=False, default=None, help_text="The customer's email; support can search by it."
    )
    customer_name = StrictCharField(
        max_length=Payment._meta.get_field("customer_name").max_length,
        allow_null=True,
        required=False,
        default=None,
        help_text="The customer's name, as the merchant knows it.",
    )

    def validate(self, attrs):
        method = payment_method(attrs["payment_method"]["type"])
        if not method.manual_capture and attrs["capture_method"] != CaptureMethod.AUTOMATIC:
            raise serializers.ValidationError(
                {"capture_method": [ErrorDetail(f"{method.label} are captured automatically.", code="invalid")]}
            )
        return attrs


class PaymentConfirmInput(StrictInputSerializer):
    pass


class PaymentCaptureInput(StrictInputSerializer):
    amount = AmountField(required=False)


class PaymentCancelInput(StrictInputSerializer):
    reason = serializers.ChoiceField(
        choices=[c for c in CancellationReason.values if c != CancellationReason.EXPIRED],
        required=False,
        default=None,
        allow_null=True,
    )


# --- Refunds --------------------------------------------------------------------------------


class RefundSerializer(serializers.ModelSerializer):
    object = serializers.CharField(read_only=True)
    payment = serializers.CharField(source="payment_id")
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    created = serializers.DateTimeField()

    class Meta:
        model = Refund
        fields = ["id", "object", "payment", "amount", "currency", "status", "reason", "failure_reason", "created"]

    def to_representation(self, refund) -> dict:
        return refund_representation(refund)


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
    object = serializers.CharField(read_only=True)
    payment = serializers.CharField(source="payment_id")
    status = serializers.ChoiceField(choices=DisputeStatus.choices)
    evidence = DisputeEvidenceSerializer(read_only=True)
    created = serializers.DateTimeField()

    class Meta:
        model = Dispute
        fields = [
            "id",
            "object",
            "payment",
            "amount",
            "currency",
            "status",
            "reason",
            "fee",
            "evidence",
            "evidence_due_by",
            "created",
        ]

    def to_representation(self, dispute) -> dict:
        return dispute_representation(dispute)


class DisputeListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = DisputeSerializer(many=True)
