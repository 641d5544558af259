"""The event and webhook endpoint objects as the API shows them, and the inputs."""

import json

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from edge.api import StrictInputSerializer
from events.models import SUBSCRIPTION_CHOICES, EventType, WebhookEndpoint
from events.netguard import UrlRefused, parse_url
from events.services import normalize_event_types

# --- Output ----------------------------------------------------------------------------


class EventDataSerializer(serializers.Serializer):
    object = serializers.DictField(help_text="The object as the API showed it right after the change.")


class EventSerializer(serializers.Serializer):
    """The event exactly as recorded (and as its webhooks carry it)."""

    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["event"])
    type = serializers.ChoiceField(choices=EventType.choices)
    created = serializers.DateTimeField()
    data = EventDataSerializer()

    def to_representation(self, event):
        return json.loads(event.payload)


class EventListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = EventSerializer(many=True)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An endpoint. Its secret is never part of it (shown once, at creation and at each rotation)."""

    object = serializers.SerializerMethodField()
    events = serializers.ListField(child=serializers.CharField(), help_text='Event types, or ["*"] for all.')
    enabled_events = serializers.ListField(
        child=serializers.CharField(), source="events", help_text="The same list as `events` (Stripe's name)."
    )
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    disabled_reason = serializers.SerializerMethodField()
    rotation_overlap_ends_at = serializers.SerializerMethodField(
        help_text="Until when the secret replaced by the last rotation still signs too; null when it no longer does."
    )
    created = serializers.DateTimeField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "object",
            "url",
            "description",
            "events",
            "enabled_events",
            "status",
            "disabled_reason",
            "rotation_overlap_ends_at",
            "created",
        ]

    def get_object(self, endpoint) -> str:
        return "webhook_endpoint"

    def get_disabled_reason(self, endpoint) -> str | None:
        return endpoint.disabled_reason or None

    def get_rotation_overlap_ends_at(self, endpoint) -> str | None:
        expires = endpoint.previous_secret_expires_at
        if not endpoint.previous_secret or expires is None or expires <= timezone.now():
            return None
        return serializers.DateTimeField().to_representation(expires)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """A new endpoint with its signing secret: the only answer that ever carries the secret."""

    # A plain string here, so the status enum belongs to one component (WebhookEndpointStatusEnum).
    status = serializers.CharField(help_text="`enabled`.")
    secret = serializers.CharField(help_text="The signing secret, `whsec_…`. Shown only in this answer.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = WebhookEndpointSerializer(many=True)


class WebhookEndpointDeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["webhook_endpoint"])
    deleted = serializers.BooleanField()


# --- Input -------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 2048, "example": "https://example.com/hooks"})
class WebhookUrlField(serializers.Field):
    """An absolute http(s) URL; any problem with it is ``url_invalid``."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise ValidationError(ErrorDetail("url must be a string.", code="url_invalid"))
        try:
            parse_url(data)
        except UrlRefused as exc:
            raise ValidationError(ErrorDetail(str(exc), code="url_invalid")) from exc
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "array", "minItems": 1, "items": {"type": "string", "enum": SUBSCRIPTION_CHOICES}})
class EventTypesField(serializers.Field):
    """A non-empty list of known event types, or ``["*"]`` for all of them."""

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise ValidationError(ErrorDetail("events must be a list of event types.", code="events_invalid"))
        try:
            return normalize_event_types(data)
        except ValueError as exc:
            known = ", ".join(EventType.values)
            raise ValidationError(
                ErrorDetail(f'{exc}. Known types: {known}, or "*" for all.', code="events_invalid")
            ) from exc

    def to_representation(self, value):
        return value


class WebhookEndpointCreateInput(StrictInputSerializer):
    """A URL to send webhooks to, and the event types it wants (default: all, ``["*"]``)."""

    url = WebhookUrlField()
    events = EventTypesField(required=False, default=None)
    enabled_events = EventTypesField(required=False, help_text="The same as `events` (Stripe's name); not both.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, data):
        return _one_of_events(data)


def _one_of_events(data: dict) -> dict:
    """``events`` and ``enabled_events`` (Stripe's name) are one field: either, not both."""
    if "enabled_events" in data:
        if data.get("events") is not None:
            raise ValidationError(
                {"enabled_events": [ErrorDetail("Give events or enabled_events, not both.", code="parameter_invalid")]}
            )
        data["events"] = data.pop("enabled_events")
    return data


class WebhookEndpointUpdateInput(StrictInputSerializer):
    """What a merchant may change of an endpoint; every field optional, an absent one is left as it is."""

    url = WebhookUrlField(required=False)
    events = EventTypesField(required=False)
    enabled_events = EventTypesField(required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    disabled = serializers.BooleanField(
        required=False, help_text="true: send nothing more to it; false: enable it again."
    )

    def validate(self, data):
        return _one_of_events(data)


class WebhookEndpointRotateInput(StrictInputSerializer):
    """How long the secret being replaced keeps signing: 0 (a leaked secret: at once) to 604 800 (7 days)."""

    expires_in = serializers.IntegerField(
        required=False, default=86_400, min_value=0, max_value=604_800, help_text="Seconds; default 86 400 (24 h)."
    )


class WebhookEndpointRotatedSerializer(WebhookEndpointSerializer):
    """The endpoint after a rotation with its new secret: the only answer that carries it."""

    status = serializers.CharField()
    secret = serializers.CharField(help_text="The new signing secret, `whsec_…`. Shown only in this answer.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointResendInput(StrictInputSerializer):
    event = serializers.CharField(max_length=40, help_text="The id of one of your events, `evt_…`.")


class WebhookAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    succeeded = serializers.BooleanField()
    error = serializers.SerializerMethodField()

    def get_error(self, attempt) -> str | None:
        return attempt.error or None


class WebhookDeliverySerializer(serializers.Serializer):
    """One event for one endpoint and every attempt to send it, oldest attempt first."""

    id = serializers.CharField()
    object = serializers.SerializerMethodField()
    event = serializers.CharField(source="event_id")
    event_type = serializers.CharField(source="event.type")
    endpoint = serializers.CharField(source="endpoint_id")
    status = serializers.CharField()
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField()
    created = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    attempts = WebhookAttemptSerializer(many=True)

    def get_object(self, delivery) -> str:
        return "webhook_delivery"

    def get_next_attempt_at(self, delivery) -> str | None:
        if delivery.status != "pending":
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class WebhookDeliveryListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = WebhookDeliverySerializer(many=True)
