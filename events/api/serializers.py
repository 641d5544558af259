"""The event and webhook endpoint objects as the API shows them, and the inputs."""

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from edge.api import StrictInputSerializer
from events.models import ALL_EVENTS, EventType, WebhookEndpoint
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
    """An endpoint. Its secret is never part of it (shown once, at creation)."""

    object = serializers.SerializerMethodField()
    events = serializers.ListField(child=serializers.CharField(), help_text='Event types, or ["*"] for all.')
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    created = serializers.DateTimeField()

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "object", "url", "events", "status", "created"]

    def get_object(self, endpoint) -> str:
        return "webhook_endpoint"


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


@extend_schema_field(
    {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [ALL_EVENTS, *EventType.values]}}
)
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
