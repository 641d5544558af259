"""The payment object as the API shows it, and the inputs of each payment operation."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from edge.api import (
    AmountField,
    CurrencyField,
    MetadataField,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
)
from payments.bank_accounts import bank_account_error, normalize_iban
from payments.models import (
    CancellationReason,
    CaptureMethod,
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethodType,
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


class BankTransferSerializer(serializers.Serializer):
    country = serializers.CharField()
    last4 = serializers.CharField()
    fingerprint = serializers.CharField()
    bank_name = serializers.CharField(allow_null=True)


class WalletSerializer(serializers.Serializer):
    provider = serializers.CharField()


class NextActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["redirect"])
    url = serializers.CharField(help_text="Send the customer here to approve or decline the payment.")


class PaymentMethodSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = CardSerializer(required=False, help_text="Present when `type` is `card`.")
    bank_transfer = BankTransferSerializer(
        required=False,
        help_text="Present when `type` is `bank_transfer`: the account as the processor described "
        "it, never its number or IBAN.",
    )
    wallet = WalletSerializer(required=False, help_text="Present when `type` is `wallet`.")


class PaymentSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    payment_method = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()
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
    created = serializers.DateTimeField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "object",
            "amount",
            "currency",
            "status",
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
            "created",
        ]

    def get_object(self, payment) -> str:
        return "payment"

    @extend_schema_field(PaymentMethodSerializer)
    def get_payment_method(self, payment) -> dict:
        if payment.payment_method_type == "wallet":
            return {"type": "wallet", "wallet": {"provider": payment.wallet_provider}}
        if payment.payment_method_type == "bank_transfer":
            return {
                "type": "bank_transfer",
                "bank_transfer": {
                    "country": payment.bank_country,
                    "last4": payment.bank_last4,
                    "fingerprint": payment.bank_fingerprint,
                    "bank_name": payment.bank_name,
                },
            }
        return {
            "type": payment.payment_method_type,
            "card": {
                "brand": payment.card_brand,
                "last4": payment.card_last4,
                "exp_month": payment.card_exp_month,
                "exp_year": payment.card_exp_year,
            },
        }

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, payment) -> dict | None:
        """Where to send the customer while the payment is ``requires_action``; null otherwise."""
        if payment.status == PaymentStatus.REQUIRES_ACTION and payment.next_action_url:
            return {"type": "redirect", "url": payment.next_action_url}
        return None


class PaymentListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = PaymentSerializer(many=True)


# --- Input -------------------------------------------------------------------------------

# The wallets the processor offers (its source is "wallet_<provider>").
WALLET_PROVIDERS = ["sandboxpay"]


class BankAccountInput(StrictInputSerializer):
    """A US account (``routing_number`` + ``account_number``) or a SEPA one (``iban``), checked here too."""

    country = StrictCharField(min_length=2, max_length=2)
    holder_name = StrictCharField(max_length=255)
    routing_number = StrictCharField(max_length=9, required=False)
    account_number = StrictCharField(max_length=17, required=False)
    iban = StrictCharField(max_length=64, required=False)

    def validate(self, attrs):
        problem = bank_account_error(attrs)
        if problem is not None:
            param, message = problem
            raise serializers.ValidationError({param: [ErrorDetail(message, code="bank_account_invalid")]})
        if attrs.get("iban"):
            attrs["iban"] = normalize_iban(attrs["iban"])
        return attrs


class WalletInput(StrictInputSerializer):
    provider = serializers.ChoiceField(choices=WALLET_PROVIDERS)


class PaymentMethodInput(StrictInputSerializer):
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    token = StrictCharField(max_length=255, required=False, help_text="A card token (`tok_…`), for `type: card`.")
    bank_account = BankAccountInput(required=False, help_text="For `type: bank_transfer`.")
    wallet = WalletInput(required=False, help_text="For `type: wallet`.")

    def validate(self, attrs):
        needed = {"card": "token", "bank_transfer": "bank_account", "wallet": "wallet"}[attrs["type"]]
        other = {"token", "bank_account", "wallet"} - {needed}
        if needed not in attrs:
            raise serializers.ValidationError({needed: [ErrorDetail("This field is required.", code="required")]})
        for name in other & set(attrs):
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

    def validate(self, attrs):
        if attrs["payment_method"]["type"] == "bank_transfer" and attrs["capture_method"] != CaptureMethod.AUTOMATIC:
            raise serializers.ValidationError(
                {"capture_method": [ErrorDetail("Bank transfers are captured automatically.", code="invalid")]}
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
