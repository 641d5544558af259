"""The checkout sessions API: thin views that parse, call one service and render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from checkout import selectors, services
from checkout.api.serializers import (
    CheckoutSessionCreateInput,
    CheckoutSessionExpireInput,
    CheckoutSessionListSerializer,
    CheckoutSessionSerializer,
)
from checkout.models import CheckoutSession, CheckoutSessionStatus
from core.errors import ResourceMissingError
from edge.api import parse_input
from edge.filters import CREATED_FILTERS, filter_choice, filter_created
from edge.idempotency import Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER

SESSION_ID = OpenApiParameter("session_id", OpenApiTypes.STR, location=OpenApiParameter.PATH)
STATUS_FILTER = OpenApiParameter(
    "status", str, enum=CheckoutSessionStatus.values, description="Only sessions in this status."
)


class CheckoutSessionListCreateView(APIView):
    @extend_schema(
        operation_id="checkout_sessions_list",
        parameters=[STATUS_FILTER, OpenApiParameter("created[gte]", str), OpenApiParameter("created[lte]", str)],
        responses={200: CheckoutSessionListSerializer, **ERROR_RESPONSES},
        tags=["checkout_sessions"],
    )
    def get(self, request):
        queryset = selectors.checkout_sessions_of(merchant=request.user)
        queryset = filter_choice(queryset, request.query_params, "status", CheckoutSessionStatus.values)
        queryset = filter_created(queryset, request.query_params)
        paginator = CursorListPagination(filters=("status", *CREATED_FILTERS))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(CheckoutSessionSerializer(page, many=True).data)

    @extend_schema(
        operation_id="checkout_sessions_create",
        request=CheckoutSessionCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: CheckoutSessionSerializer, **ERROR_RESPONSES},
        tags=["checkout_sessions"],
        description="A hosted payment page for one amount: send the customer to the answer's `url`. The card is "
        "typed into the processor's field on that page, so no card number reaches the platform or the merchant.",
    )
    def post(self, request):
        data = parse_input(CheckoutSessionCreateInput, request)

        def execute(progress: Progress):
            if progress.resumed:
                # An earlier execution of this request created the session: answer with it, never make a second.
                session = selectors.checkout_session_get(merchant=request.user, session_id=progress.resource_id)
                return 201, CheckoutSessionSerializer(session).data
            session = services.checkout_session_create(
                merchant=request.user,
                amount=data["amount"],
                currency=data["currency"],
                success_url=data["success_url"],
                cancel_url=data["cancel_url"],
                payment_method_types=data["payment_method_types"],
                capture_method=data["capture_method"],
                customer_email=data["customer_email"],
                description=data["description"],
                metadata=data["metadata"],
                idempotency_key=request.headers.get("Idempotency-Key"),
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            return 201, CheckoutSessionSerializer(session).data

        return run_idempotent(request, execute)


class CheckoutSessionDetailView(APIView):
    @extend_schema(
        operation_id="checkout_sessions_retrieve",
        parameters=[SESSION_ID],
        responses={200: CheckoutSessionSerializer, **ERROR_RESPONSES},
        tags=["checkout_sessions"],
    )
    def get(self, request, session_id: str):
        return Response(
            CheckoutSessionSerializer(selectors.checkout_session_get(merchant=request.user, session_id=session_id)).data
        )


class CheckoutSessionExpireView(APIView):
    @extend_schema(
        operation_id="checkout_sessions_expire",
        request=CheckoutSessionExpireInput,
        parameters=[SESSION_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: CheckoutSessionSerializer, **ERROR_RESPONSES},
        tags=["checkout_sessions"],
        description="Expire an open session now: its page no longer takes a payment (`checkout.session.expired`). "
        "Refused while a payment of it is under way (a wallet approval, a bank transfer), and once complete.",
    )
    def post(self, request, session_id: str):
        parse_input(CheckoutSessionExpireInput, request)
        selectors.checkout_session_get(merchant=request.user, session_id=session_id)

        def execute(_progress: Progress):
            try:
                session = services.checkout_session_expire(merchant=request.user, session_id=session_id)
            except CheckoutSession.DoesNotExist:
                raise ResourceMissingError(f"No such checkout session: '{session_id}'.", param="id") from None
            return 200, CheckoutSessionSerializer(session).data

        return run_idempotent(request, execute)
