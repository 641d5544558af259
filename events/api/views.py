"""The events and webhook endpoints API: thin views that parse, call one service and render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidRequestError
from edge.api import parse_input
from edge.filters import filter_created
from edge.idempotency import Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER, READ_ERROR_RESPONSES
from events import selectors, services
from events.api.serializers import (
    EventListSerializer,
    EventSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateInput,
    WebhookEndpointDeletedSerializer,
    WebhookEndpointListSerializer,
    WebhookEndpointSerializer,
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


def _filter_type(queryset, query_params):
    raw = query_params.get("type")
    if raw is None:
        return queryset
    if raw in EventType.values:
        return queryset.filter(type=raw)
    if raw.endswith(".*") and raw[:-2] in _PREFIXES:
        return queryset.filter(type__startswith=raw[:-1])
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
        paginator = CursorListPagination()
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
        paginator = CursorListPagination()
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
