"""The events and webhook endpoints API: thin views that parse, call one service and render."""

from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidRequestError
from edge.api import parse_input
from edge.filters import CREATED_FILTERS, filter_created
from edge.idempotency import Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER, READ_ERROR_RESPONSES
from events import selectors, services
from events.api.serializers import (
    EventListSerializer,
    EventSerializer,
    WebhookDeliveryListSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateInput,
    WebhookEndpointDeletedSerializer,
    WebhookEndpointListSerializer,
    WebhookEndpointResendInput,
    WebhookEndpointRotatedSerializer,
    WebhookEndpointRotateInput,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateInput,
)
from events.models import EventType

EVENT_ID = OpenApiParameter("event_id", OpenApiTypes.STR, location=OpenApiParameter.PATH)
ENDPOINT_ID = OpenApiParameter("endpoint_id", OpenApiTypes.STR, location=OpenApiParameter.PATH)
_PREFIXES = sorted({value.split(".", 1)[0] for value in EventType.values})
TYPE_FILTER = OpenApiParameter(
    "type",
    str,
    enum=[*EventType.values, *(f"{prefix}.*" for prefix in _PREFIXES)],
    description=f"Only events of this type; `<prefix>.*` for a family ({', '.join(_PREFIXES)}).",
)


READ_ERRORS = READ_ERROR_RESPONSES
# A webhook endpoint cannot be declined (no 402).
WRITE_ERRORS = {status: response for status, response in ERROR_RESPONSES.items() if status != 402}


def _filter_type(queryset, query_params, field: str = "type"):
    raw = query_params.get("type")
    if raw is None:
        return queryset
    if raw in EventType.values:
        return queryset.filter(**{field: raw})
    if raw.endswith(".*") and raw[:-2] in _PREFIXES:
        return queryset.filter(**{f"{field}__startswith": raw[:-1]})
    raise InvalidRequestError(
        f"type must be one of: {', '.join(EventType.values)}, or a family such as payment.*.",
        code="parameter_invalid",
        param="type",
    )


class EventListView(APIView):
    @extend_schema(
        operation_id="events_list",
        parameters=[TYPE_FILTER, OpenApiParameter("created[gte]", str), OpenApiParameter("created[lte]", str)],
        responses={200: EventListSerializer, **READ_ERRORS},
        tags=["events"],
        description="The merchant's event log, newest first.",
    )
    def get(self, request):
        queryset = selectors.events_of(merchant=request.user)
        queryset = _filter_type(queryset, request.query_params)
        queryset = filter_created(queryset, request.query_params)
        paginator = CursorListPagination(filters=("type", *CREATED_FILTERS))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(EventSerializer(page, many=True).data)


class EventDetailView(APIView):
    @extend_schema(
        operation_id="events_retrieve",
        parameters=[EVENT_ID],
        responses={200: EventSerializer, **READ_ERRORS},
        tags=["events"],
    )
    def get(self, request, event_id: str):
        return Response(EventSerializer(selectors.event_get(merchant=request.user, event_id=event_id)).data)


class WebhookEndpointListCreateView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses={200: WebhookEndpointListSerializer, **READ_ERRORS},
        tags=["webhook_endpoints"],
    )
    def get(self, request):
        paginator = CursorListPagination(filters=())
        page = paginator.paginate_queryset(selectors.webhook_endpoints_of(merchant=request.user), request, self)
        return paginator.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: WebhookEndpointCreatedSerializer, **WRITE_ERRORS},
        tags=["webhook_endpoints"],
        description="Register a URL for webhooks. The answer carries the signing `secret`, shown only this once. "
        "A URL that resolves to a loopback, private or link-local address is refused (`url_invalid`).",
    )
    def post(self, request):
        data = parse_input(WebhookEndpointCreateInput, request)

        def execute(progress: Progress, _checked_url):
            if progress.resumed:
                # An earlier execution of this request created the endpoint: answer with it (and its
                # secret, to this same request only), never create a second one.
                endpoint = selectors.webhook_endpoint_get(merchant=request.user, endpoint_id=progress.resource_id)
                return 201, {**WebhookEndpointSerializer(endpoint).data, "secret": endpoint.secret}
            created = services.webhook_endpoint_create(
                merchant=request.user,
                url=data["url"],
                events=data["events"],
                description=data["description"],
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            body = WebhookEndpointSerializer(created.endpoint).data
            return 201, {**body, "secret": created.secret}

        return run_idempotent(request, execute, prepare=lambda: services.webhook_endpoint_url_check(url=data["url"]))


class WebhookEndpointDetailView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointSerializer, **READ_ERRORS},
        tags=["webhook_endpoints"],
    )
    def get(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(merchant=request.user, endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        parameters=[ENDPOINT_ID, IDEMPOTENCY_KEY_HEADER],
        request=WebhookEndpointUpdateInput,
        responses={200: WebhookEndpointSerializer, **WRITE_ERRORS},
        tags=["webhook_endpoints"],
        description="Change an endpoint's `url`, `events` (or `enabled_events`) and `description`; "
        "`disabled: true` stops sending to it, `disabled: false` enables it again. Absent fields stay as they are.",
    )
    def post(self, request, endpoint_id: str):
        data = parse_input(WebhookEndpointUpdateInput, request)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                WebhookEndpointSerializer(
                    services.webhook_endpoint_update(
                        merchant=request.user,
                        endpoint_id=endpoint_id,
                        actor=_actor(request),
                        url=data.get("url"),
                        events=data.get("events"),
                        description=data.get("description"),
                        disabled=data.get("disabled"),
                    )
                ).data,
            ),
        )

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointDeletedSerializer, **READ_ERRORS},
        tags=["webhook_endpoints"],
        description="Delete an endpoint: nothing more is sent to it, including retries already scheduled.",
    )
    def delete(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(merchant=request.user, endpoint_id=endpoint_id)
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response({"id": endpoint.pk, "object": "webhook_endpoint", "deleted": True})


def _actor(request) -> str:
    return f"api:{request.auth.pk}"


class WebhookEndpointRotateSecretView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        parameters=[ENDPOINT_ID, IDEMPOTENCY_KEY_HEADER],
        request=WebhookEndpointRotateInput,
        responses={200: WebhookEndpointRotatedSerializer, **WRITE_ERRORS},
        tags=["webhook_endpoints"],
        description="A new signing `secret`, shown only in this answer. The secret it replaces keeps signing for "
        "`expires_in` seconds (default 86 400; 0 stops it at once): meanwhile each webhook carries both signatures "
        "in `webhook-signature`, so either secret verifies it.",
    )
    def post(self, request, endpoint_id: str):
        data = parse_input(WebhookEndpointRotateInput, request)

        def execute(progress: Progress):
            if progress.resumed:
                # An earlier execution rotated it: answer with the secret it made, never rotate twice.
                endpoint = selectors.webhook_endpoint_get(merchant=request.user, endpoint_id=endpoint_id)
                return 200, {**WebhookEndpointSerializer(endpoint).data, "secret": endpoint.secret}
            rotated = services.webhook_endpoint_rotate_secret(
                merchant=request.user,
                endpoint_id=endpoint_id,
                actor=_actor(request),
                overlap=timedelta(seconds=data["expires_in"]),
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            return 200, {**WebhookEndpointSerializer(rotated.endpoint).data, "secret": rotated.secret}

        return run_idempotent(request, execute)


class WebhookEndpointDeliveryListView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries_list",
        parameters=[ENDPOINT_ID, TYPE_FILTER],
        responses={200: WebhookDeliveryListSerializer, **READ_ERRORS},
        tags=["webhook_endpoints"],
        description="What was sent to the endpoint, newest first: each event's delivery and every attempt "
        "(when, the HTTP status, how long, the error).",
    )
    def get(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(merchant=request.user, endpoint_id=endpoint_id)
        queryset = _filter_type(selectors.webhook_deliveries_of(endpoint=endpoint), request.query_params, "event__type")
        paginator = CursorListPagination(filters=("type",))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookEndpointResendView(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_resend",
        parameters=[ENDPOINT_ID, IDEMPOTENCY_KEY_HEADER],
        request=WebhookEndpointResendInput,
        responses={200: WebhookDeliverySerializer, **WRITE_ERRORS},
        tags=["webhook_endpoints"],
        description="Send one of your events to the endpoint again, now (also one recorded before the endpoint "
        "existed or subscribed to its type). The same `webhook-id` as every earlier send: receivers deduplicate "
        "by it. 400 `webhook_endpoint_disabled` for a disabled endpoint.",
    )
    def post(self, request, endpoint_id: str):
        data = parse_input(WebhookEndpointResendInput, request)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                WebhookDeliverySerializer(
                    services.webhook_endpoint_resend(
                        merchant=request.user, endpoint_id=endpoint_id, event_id=data["event"], actor=_actor(request)
                    )
                ).data,
            ),
        )
