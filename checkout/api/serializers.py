"""The inputs of the checkout sessions API, and the description of its answers for the OpenAPI document."""

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from checkout.models import CheckoutSession, CheckoutSessionStatus
from checkout.representations import checkout_session_representation
from edge.api import AmountField, CurrencyField, MetadataField, StrictCharField, StrictInputSerializer
from events.netguard import UrlRefused, parse_url
from payments.methods import PAYMENT_METHOD_TYPES
from payments.models import CaptureMethod


class CheckoutSessionSerializer(serializers.ModelSerializer):
    """The ``checkout_session`` object (``checkout.representations``: the events carry the same)."""

    object = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=CheckoutSessionStatus.choices)
    url = serializers.CharField(
        allow_null=True,
        help_text="The hosted payment page: send the customer here. Its last segment is a secret derived from the "
        "id: keep the URL out of logs. Null once the session is no longer open.",
    )
    payment_method_types = serializers.ListField(child=serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES))
    payment = serializers.CharField(allow_null=True, help_text="The payment that completed the session (`pay_…`).")
    payment_in_progress = serializers.CharField(
        allow_null=True,
        help_text="While open: the payment of the attempt under way (a wallet awaiting approval, a bank transfer "
        "until it settles), else null.",
    )
    expires_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    expired_at = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()

    class Meta:
        model = CheckoutSession
        fields = [
            "id",
            "object",
            "status",
            "url",
            "amount",
            "currency",
            "success_url",
            "cancel_url",
            "payment_method_types",
            "capture_method",
            "customer_email",
            "description",
            "metadata",
            "payment",
            "payment_in_progress",
            "expires_at",
            "completed_at",
            "expired_at",
            "created",
        ]

    def to_representation(self, session) -> dict:
        return checkout_session_representation(session)


class CheckoutSessionListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = CheckoutSessionSerializer(many=True)


class RedirectUrlField(StrictCharField):
    """An absolute http(s) URL with a host and no credentials (``events.netguard.parse_url``); ``url_invalid``."""

    def __init__(self, **kwargs):
        super().__init__(max_length=2048, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            parse_url(value)
        except UrlRefused as exc:
            raise serializers.ValidationError(ErrorDetail(str(exc), code="url_invalid")) from exc
        if any(char in value for char in "<>\"'`"):
            raise serializers.ValidationError(ErrorDetail("url contains a character URLs may not.", code="url_invalid"))
        return value


class CheckoutSessionCreateInput(StrictInputSerializer):
    amount = AmountField()
    currency = CurrencyField()
    success_url = RedirectUrlField(help_text="Where the customer goes once paid; `?session_id=cs_…` is added.")
    cancel_url = RedirectUrlField(help_text="Where the customer goes who gives up.")
    payment_method_types = serializers.ListField(
        child=serializers.ChoiceField(choices=PAYMENT_METHOD_TYPES),
        min_length=1,
        max_length=len(PAYMENT_METHOD_TYPES),
        required=False,
        default=lambda: ["card"],
        help_text='What the page offers, in this order. Default `["card"]`.',
    )
    capture_method = serializers.ChoiceField(choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    customer_email = serializers.EmailField(max_length=254, required=False, allow_null=True, default=None)
    description = StrictCharField(max_length=1000, allow_null=True, required=False, default=None)
    metadata = MetadataField(required=False, default=dict)

    def validate_payment_method_types(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError(ErrorDetail("Each type may be listed once.", code="parameter_invalid"))
        return value

    def validate_customer_email(self, value):
        if value is not None and not isinstance(self.initial_data.get("customer_email"), str):
            raise serializers.ValidationError(ErrorDetail("Must be a string.", code="parameter_invalid"))
        return value


class CheckoutSessionExpireInput(StrictInputSerializer):
    pass
