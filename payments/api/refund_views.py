"""The refunds and disputes API: thin views that parse, call one service and render."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from edge.api import parse_input
from edge.errors import IdempotencyKeyReusedError
from edge.filters import CREATED_FILTERS, filter_choice, filter_created
from edge.idempotency import Answer, Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER, READ_ERROR_RESPONSES
from payments import dispute_services, refund_services, selectors
from payments.api.serializers import (
    DisputeEvidenceSerializer,
    DisputeListSerializer,
    DisputeSerializer,
    RefundCreateInput,
    RefundListSerializer,
    RefundSerializer,
)
from payments.models import DisputeStatus, RefundStatus

PAYMENT_FILTER = OpenApiParameter("payment", str, description="Only those of this payment (pay_…).")
REFUND_STATUS_FILTER = OpenApiParameter(
    "status", str, enum=RefundStatus.values, description="Only refunds in this status."
)
DISPUTE_STATUS_FILTER = OpenApiParameter(
    "status", str, enum=DisputeStatus.values, description="Only disputes in this status."
)
REFUND_ID = OpenApiParameter("refund_id", str, location=OpenApiParameter.PATH)
DISPUTE_ID = OpenApiParameter("dispute_id", str, location=OpenApiParameter.PATH)


def _actor(request) -> str:
    return f"api:{request.auth.pk}"


def _refund_answer(refund) -> Answer:
    """201 with the refund; stored as final once the outcome is known (a refund pending with no
    word from the processor is answered, not stored, and a retry with the key asks again)."""
    known = refund.status != RefundStatus.PENDING or bool(refund.processor_refund_id)
    return Answer(201, RefundSerializer(refund).data, final=known)


def _list(request, view, queryset, serializer_class, statuses):
    params = request.query_params
    if params.get("payment"):
        queryset = queryset.filter(payment_id=params["payment"])
    queryset = filter_choice(queryset, params, "status", statuses)
    queryset = filter_created(queryset, params)
    paginator = CursorListPagination(filters=("payment", "status", *CREATED_FILTERS))
    page = paginator.paginate_queryset(queryset, request, view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class RefundListCreateView(APIView):
    @extend_schema(
        operation_id="refunds_list",
        parameters=[PAYMENT_FILTER, REFUND_STATUS_FILTER],
        responses={200: RefundListSerializer, **READ_ERROR_RESPONSES},
        tags=["refunds"],
    )
    def get(self, request):
        return _list(request, self, selectors.refunds_of(merchant=request.user), RefundSerializer, RefundStatus.values)

    @extend_schema(
        operation_id="refunds_create",
        request=RefundCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: RefundSerializer, **ERROR_RESPONSES},
        tags=["refunds"],
        description="Refund all that is left of a succeeded payment, or `amount` of it.",
    )
    def post(self, request):
        data = parse_input(RefundCreateInput, request)
        payment = selectors.payment_get(merchant=request.user, payment_id=data["payment"], param="payment")
        idempotency_key = request.headers.get("Idempotency-Key")

        def execute(progress: Progress):
            if progress.resumed:
                # An earlier execution of this request reserved the refund: learn its outcome, never refund twice.
                refund = refund_services.refund_resolve(refund_id=progress.resource_id, actor=_actor(request))
                return _refund_answer(refund)
            refund = refund_services.refund_reserve(
                merchant=request.user,
                payment=payment,
                amount=data.get("amount"),
                reason=data["reason"],
                actor=_actor(request),
                idempotency_key=idempotency_key,
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            if refund.id != progress.resource_id and refund.id != progress.resource_of_this_key():
                # The key's record was pruned (after 24 hours) and the key sent again: the refund it
                # finds belongs to that earlier request.
                raise IdempotencyKeyReusedError(
                    "This Idempotency-Key was used by an earlier request whose record has expired "
                    "(keys are kept for 24 hours). Use a new key for a new request."
                )
            return _refund_answer(refund_services.refund_send(refund, actor=_actor(request)))

        return run_idempotent(request, execute)


class RefundDetailView(APIView):
    @extend_schema(
        operation_id="refunds_retrieve",
        parameters=[REFUND_ID],
        responses={200: RefundSerializer, **READ_ERROR_RESPONSES},
        tags=["refunds"],
    )
    def get(self, request, refund_id: str):
        return Response(RefundSerializer(selectors.refund_get(merchant=request.user, refund_id=refund_id)).data)


class DisputeListView(APIView):
    @extend_schema(
        operation_id="disputes_list",
        parameters=[PAYMENT_FILTER, DISPUTE_STATUS_FILTER],
        responses={200: DisputeListSerializer, **READ_ERROR_RESPONSES},
        tags=["disputes"],
    )
    def get(self, request):
        queryset = selectors.disputes_of(merchant=request.user)
        return _list(request, self, queryset, DisputeSerializer, DisputeStatus.values)


class DisputeDetailView(APIView):
    @extend_schema(
        operation_id="disputes_retrieve",
        parameters=[DISPUTE_ID],
        responses={200: DisputeSerializer, **READ_ERROR_RESPONSES},
        tags=["disputes"],
    )
    def get(self, request, dispute_id: str):
        return Response(DisputeSerializer(selectors.dispute_get(merchant=request.user, dispute_id=dispute_id)).data)


class DisputeEvidenceView(APIView):
    @extend_schema(
        operation_id="disputes_submit_evidence",
        request=DisputeEvidenceSerializer,
        parameters=[DISPUTE_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: DisputeSerializer, **ERROR_RESPONSES},
        tags=["disputes"],
        description="Submit evidence; the dispute moves to `under_review`.",
    )
    def post(self, request, dispute_id: str):
        evidence = parse_input(DisputeEvidenceSerializer, request)
        dispute = selectors.dispute_get(merchant=request.user, dispute_id=dispute_id)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                DisputeSerializer(
                    dispute_services.dispute_submit_evidence(
                        dispute=dispute, evidence=dict(evidence), actor=_actor(request)
                    )
                ).data,
            ),
        )


class DisputeAcceptView(APIView):
    @extend_schema(
        operation_id="disputes_accept",
        request=None,
        parameters=[DISPUTE_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: DisputeSerializer, **ERROR_RESPONSES},
        tags=["disputes"],
        description="Accept the dispute: it is lost, and the amount and the fee stay deducted.",
    )
    def post(self, request, dispute_id: str):
        dispute = selectors.dispute_get(merchant=request.user, dispute_id=dispute_id)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                DisputeSerializer(dispute_services.dispute_accept(dispute=dispute, actor=_actor(request))).data,
            ),
        )
