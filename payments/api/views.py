"""The payments API: thin views that parse, call one service and render."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import CardError
from edge.api import parse_input
from edge.errors import IdempotencyKeyReusedError
from edge.filters import CREATED_FILTERS, filter_choice, filter_created
from edge.idempotency import Answer, Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.prefer import RESPOND_ASYNC, preference_applied, prefers_respond_async
from edge.schema import (
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY_HEADER,
    PAYMENT_ID,
    PREFER_HEADER,
    PREFERENCE_APPLIED_HEADER,
)
from payments import async_confirmation, selectors, services
from payments.api.serializers import (
    PaymentCancelInput,
    PaymentCaptureInput,
    PaymentConfirmInput,
    PaymentCreateInput,
    PaymentListSerializer,
    PaymentSerializer,
)
from payments.methods import ResolvedPaymentMethod, payment_method
from payments.models import PaymentStatus
from payments.routing import route_choose

ACCEPTED_RESPONSE = OpenApiResponse(
    PaymentSerializer,
    description="With `Prefer: respond-async` (and `confirm: true` on creation): the intent to charge is recorded "
    "and the payment is `processing`; a worker calls the processor. The outcome arrives as a webhook "
    "(`payment.succeeded`, `payment.failed`, …) or from a GET. Not stored against the Idempotency-Key: a retry "
    "with the key answers `202` while the payment is `processing`, then the final answer (stored from then on).",
)
STATUS_FILTER = OpenApiParameter("status", str, enum=PaymentStatus.values, description="Only payments in this status.")


def _actor(request) -> str:
    return f"api:{request.auth.pk}"


def _render(payment, status: int = 200) -> tuple[int, dict]:
    """The answer for a payment after an operation: a definite failure is an error that carries the payment."""
    body = PaymentSerializer(payment).data
    if payment.status == PaymentStatus.FAILED:
        if payment.failure_code == "card_declined":
            raise CardError(
                payment.failure_message or "Your card was declined.",
                code="card_declined",
                decline_code=payment.decline_code,
                payment=body,
            )
        raise CardError(payment.failure_message or "The payment failed.", code=payment.failure_code, payment=body)
    return status, body


def _answer(payment, status: int = 200) -> Answer:
    """The answer for a payment; stored as the key's final answer only once the outcome is known."""
    status, body = _render(payment, status)
    return Answer(status, body, final=services.payment_outcome_known(payment))


def _accepted(payment, status: int) -> Answer:
    """The answer to a confirmation asked for asynchronously (``Prefer: respond-async``): 202 with the payment
    while its outcome is unknown, never stored (a retry with the key answers what is true then); once the outcome
    is known, the answer a synchronous confirmation gives (``status``, or a 402), stored as the key's answer."""
    if services.payment_outcome_known(payment):
        return _answer(payment, status=status)
    accepted, body = _render(payment, 202)
    return Answer(accepted, body, final=False)


def _respond_async(response):
    """A 202 says that ``respond-async`` was honoured (RFC 7240); a definite answer needs no such header."""
    return preference_applied(response, RESPOND_ASYNC) if response.status_code == 202 else response


def _intent(progress: Progress):
    return progress.recorder(RecoveryPoint.INTENT_RECORDED)


def _answered(progress: Progress, status: int = 200):
    """The checkpoint of the transaction that records the processor's answer: the request's final answer is
    stored with it (``Progress.finisher``); while the outcome is unknown, only that the processor was called."""
    return progress.finisher(lambda payment: _answer(payment, status), otherwise=RecoveryPoint.PROCESSOR_CALLED)


class PaymentListCreateView(APIView):
    @extend_schema(
        operation_id="payments_list",
        parameters=[STATUS_FILTER, OpenApiParameter("created[gte]", str), OpenApiParameter("created[lte]", str)],
        responses={200: PaymentListSerializer, **ERROR_RESPONSES},
        tags=["payments"],
    )
    def get(self, request):
        queryset = selectors.payments_of(merchant=request.user)
        queryset = filter_choice(queryset, request.query_params, "status", PaymentStatus.values)
        queryset = filter_created(queryset, request.query_params)
        paginator = CursorListPagination(filters=("status", *CREATED_FILTERS))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payments_create",
        request=PaymentCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER, PREFER_HEADER, PREFERENCE_APPLIED_HEADER],
        responses={201: PaymentSerializer, 200: PaymentSerializer, 202: ACCEPTED_RESPONSE, **ERROR_RESPONSES},
        tags=["payments"],
        description="Create a payment; with `confirm: true` it is confirmed in the same call. With `confirm: true` "
        "and `Prefer: respond-async`, the answer is `202` with the payment `processing` as soon as the intent "
        "is recorded, and a worker charges the card (see the 202 answer).",
    )
    def post(self, request):
        data = parse_input(PaymentCreateInput, request)
        method = payment_method(data["payment_method"]["type"])
        idempotency_key = request.headers.get("Idempotency-Key")
        respond_async = data["confirm"] and prefers_respond_async(request)

        def prepare() -> ResolvedPaymentMethod:
            # Outside any transaction, once the idempotency key is ours: route the payment, then ask its
            # processor about the method (the route's fallback takes it when that processor is not reached).
            route = route_choose(merchant=request.user, currency=data["currency"], payment_method_type=method.type)
            return method.resolve(data["payment_method"][method.input_name], route=route)

        def execute(progress: Progress, resolved: ResolvedPaymentMethod):
            if progress.resumed:
                # An earlier execution of this request created the payment: carry on, never create again.
                return _resume_creation(progress.resource_id)
            created = services.payment_create(
                merchant=request.user,
                amount=data["amount"],
                currency=data["currency"],
                payment_method=resolved,
                capture_method=data["capture_method"],
                description=data["description"],
                metadata=data["metadata"],
                customer_email=data["customer_email"],
                customer_name=data["customer_name"],
                idempotency_key=idempotency_key,
                confirm=data["confirm"],
                actor=_actor(request),
                checkpoint=_intent(progress),
            )
            if not created.created:
                if progress.resource_of_this_key() != created.payment.id:
                    # The key's record was pruned (after 24 hours) and the key sent again: the
                    # payment it finds belongs to that earlier request, not to this one.
                    raise IdempotencyKeyReusedError(
                        "This Idempotency-Key was used by an earlier request whose record has expired "
                        "(keys are kept for 24 hours). Use a new key for a new request."
                    )
                # An execution of this same request whose lock had expired made it moments ago.
                return _resume_creation(created.payment.id)
            payment = created.payment
            if respond_async:
                async_confirmation.payment_confirm_later(payment_id=payment.id)
                return _accepted(payment, status=201)
            if data["confirm"]:
                payment = services.payment_confirm_execute(
                    payment=payment, actor=_actor(request), answered=_answered(progress, 201)
                )
            return _answer(payment, status=201)

        def _resume_creation(payment_id: str) -> Answer:
            payment = selectors.payment_get(merchant=request.user, payment_id=payment_id)
            if respond_async:
                # Asked asynchronously: the state now; the worker or the resolver calls the processor, never this.
                return _accepted(payment, status=201)
            if data["confirm"]:
                payment = services.payment_confirm_resume(payment_id=payment.id, actor=_actor(request))
            return _answer(payment, status=201)

        return _respond_async(run_idempotent(request, execute, prepare=prepare))


class PaymentDetailView(APIView):
    @extend_schema(
        operation_id="payments_retrieve",
        parameters=[PAYMENT_ID],
        responses={200: PaymentSerializer, **ERROR_RESPONSES},
        tags=["payments"],
    )
    def get(self, request, payment_id: str):
        payment = selectors.payment_get(merchant=request.user, payment_id=payment_id)
        return Response(PaymentSerializer(payment).data)


class PaymentConfirmView(APIView):
    @extend_schema(
        operation_id="payments_confirm",
        request=PaymentConfirmInput,
        parameters=[PAYMENT_ID, IDEMPOTENCY_KEY_HEADER, PREFER_HEADER, PREFERENCE_APPLIED_HEADER],
        responses={200: PaymentSerializer, 202: ACCEPTED_RESPONSE, **ERROR_RESPONSES},
        tags=["payments"],
        description="Charge the card (or authorise it, for manual capture). A decline is a 402 carrying the "
        "failed payment; a lost processor answer leaves the payment `processing` (200). With "
        "`Prefer: respond-async`, the answer is `202` with the payment `processing` as soon as the intent is "
        "recorded, and a worker charges the card.",
    )
    def post(self, request, payment_id: str):
        parse_input(PaymentConfirmInput, request)
        payment = selectors.payment_get(merchant=request.user, payment_id=payment_id)
        respond_async = prefers_respond_async(request)

        def execute(progress: Progress):
            if respond_async:
                return _confirm_async(progress)
            if progress.resumed:
                # This request's intent is recorded: learn its outcome, never confirm twice.
                return _answer(services.payment_confirm_resume(payment_id=payment.id, actor=_actor(request)))
            return _answer(
                services.payment_confirm(
                    payment=payment,
                    actor=_actor(request),
                    checkpoint=_intent(progress),
                    answered=_answered(progress),
                )
            )

        def _confirm_async(progress: Progress) -> Answer:
            if progress.resumed:
                # The intent is recorded: the state now, never a call to the processor.
                return _accepted(selectors.payment_get(merchant=request.user, payment_id=payment.id), status=200)
            accepted = services.payment_confirm(
                payment=payment, actor=_actor(request), checkpoint=_intent(progress), intent_only=True
            )
            async_confirmation.payment_confirm_later(payment_id=accepted.id)
            return _accepted(accepted, status=200)

        return _respond_async(run_idempotent(request, execute))


class PaymentCaptureView(APIView):
    @extend_schema(
        operation_id="payments_capture",
        request=PaymentCaptureInput,
        parameters=[PAYMENT_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: PaymentSerializer, **ERROR_RESPONSES},
        tags=["payments"],
    )
    def post(self, request, payment_id: str):
        data = parse_input(PaymentCaptureInput, request)
        payment = selectors.payment_get(merchant=request.user, payment_id=payment_id)
        # The claim is the key's: a retry carries on this capture, and a rival's is refused.
        return run_idempotent(
            request,
            lambda progress: _answer(
                services.payment_capture(
                    payment=payment,
                    amount=data.get("amount"),
                    actor=_actor(request),
                    claim=progress.claim,
                    checkpoint=_intent(progress),
                )
            ),
        )


class PaymentCancelView(APIView):
    @extend_schema(
        operation_id="payments_cancel",
        request=PaymentCancelInput,
        parameters=[PAYMENT_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: PaymentSerializer, **ERROR_RESPONSES},
        tags=["payments"],
    )
    def post(self, request, payment_id: str):
        data = parse_input(PaymentCancelInput, request)
        payment = selectors.payment_get(merchant=request.user, payment_id=payment_id)
        return run_idempotent(
            request,
            lambda progress: _answer(
                services.payment_cancel(
                    payment=payment,
                    reason=data.get("reason"),
                    actor=_actor(request),
                    claim=progress.claim,
                    checkpoint=_intent(progress),
                )
            ),
        )
