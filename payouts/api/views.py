"""The external accounts and payouts API: thin views that parse, call one service and render."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidRequestError
from core.money import is_known_currency
from edge.api import parse_input
from edge.errors import IdempotencyKeyReusedError
from edge.filters import CREATED_FILTERS, filter_choice, filter_created
from edge.idempotency import Answer, Progress, RecoveryPoint, run_idempotent
from edge.pagination import CursorListPagination
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER, READ_ERROR_RESPONSES
from payouts import payout_services, selectors, services
from payouts.api.serializers import (
    ExternalAccountCreateInput,
    ExternalAccountDeletedSerializer,
    ExternalAccountListSerializer,
    ExternalAccountSerializer,
    ExternalAccountUpdateInput,
    PayoutCreateInput,
    PayoutListSerializer,
    PayoutSerializer,
)
from payouts.models import ExternalAccount, Payout, PayoutStatus

EXTERNAL_ACCOUNT_ID = OpenApiParameter("external_account_id", str, location=OpenApiParameter.PATH)
CURRENCY_FILTER = OpenApiParameter(
    "currency", str, pattern="^[A-Z]{3}$", description="Only the accounts paid out to in this currency."
)
TAGS = ["external_accounts"]
PAYOUT_ID = OpenApiParameter("payout_id", str, location=OpenApiParameter.PATH)
PAYOUT_STATUS_FILTER = OpenApiParameter(
    "status", str, enum=PayoutStatus.values, description="Only payouts in this status."
)
PAYOUT_TAGS = ["payouts"]


def _actor(request) -> str:
    return f"api:{request.auth.pk}"


def _created(account: ExternalAccount) -> Answer:
    return Answer(201, ExternalAccountSerializer(account).data)


class ExternalAccountListCreateView(APIView):
    @extend_schema(
        operation_id="external_accounts_list",
        parameters=[CURRENCY_FILTER],
        responses={200: ExternalAccountListSerializer, **READ_ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request):
        currency = request.query_params.get("currency")
        if currency is not None and not is_known_currency(currency):
            raise InvalidRequestError(
                "currency must be a three-letter ISO 4217 code in upper case, such as USD.",
                code="parameter_invalid",
                param="currency",
            )
        queryset = selectors.external_accounts_of(merchant=request.user, currency=currency)
        paginator = CursorListPagination(filters=("currency",))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(ExternalAccountSerializer(page, many=True).data)

    @extend_schema(
        operation_id="external_accounts_create",
        request=ExternalAccountCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: ExternalAccountSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        description="Add a bank account for payouts in `currency`: tokenised with the processor, only its last "
        "four characters and a fingerprint kept. The currency's first account is its default.",
    )
    def post(self, request):
        data = parse_input(ExternalAccountCreateInput, request)
        idempotency_key = request.headers.get("Idempotency-Key")

        def prepare():
            # Outside any transaction, once the idempotency key is ours, and only on a first execution.
            return services.external_account_tokenize(
                merchant=request.user, currency=data["currency"], bank_account=data["bank_account"]
            )

        def execute(progress: Progress, tokenized):
            if progress.resumed:
                # An earlier execution of this request stored the account, then could not answer: answer now.
                return _created(ExternalAccount.objects.get(merchant=request.user, pk=progress.resource_id))
            created = services.external_account_create(
                merchant=request.user,
                currency=data["currency"],
                tokenized=tokenized,
                default_for_currency=data["default_for_currency"],
                actor=_actor(request),
                idempotency_key=idempotency_key,
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            if not created.created and progress.resource_of_this_key() != created.account.id:
                # The key's record was pruned (after 24 hours) and the key sent again: the account it finds
                # belongs to that earlier request.
                raise IdempotencyKeyReusedError(
                    "This Idempotency-Key was used by an earlier request whose record has expired "
                    "(keys are kept for 24 hours). Use a new key for a new request."
                )
            return _created(created.account)

        return run_idempotent(request, execute, prepare=prepare)


class ExternalAccountDetailView(APIView):
    @extend_schema(
        operation_id="external_accounts_retrieve",
        parameters=[EXTERNAL_ACCOUNT_ID],
        responses={200: ExternalAccountSerializer, **READ_ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request, external_account_id: str):
        account = selectors.external_account_get(merchant=request.user, external_account_id=external_account_id)
        return Response(ExternalAccountSerializer(account).data)

    @extend_schema(
        operation_id="external_accounts_update",
        request=ExternalAccountUpdateInput,
        parameters=[EXTERNAL_ACCOUNT_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: ExternalAccountSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        description="Make the account its currency's default (`default_for_currency: true`); the previous "
        "default stops being it.",
    )
    def post(self, request, external_account_id: str):
        parse_input(ExternalAccountUpdateInput, request)
        selectors.external_account_get(merchant=request.user, external_account_id=external_account_id)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                ExternalAccountSerializer(
                    services.external_account_make_default(
                        merchant=request.user, external_account_id=external_account_id, actor=_actor(request)
                    )
                ).data,
            ),
        )

    @extend_schema(
        operation_id="external_accounts_delete",
        parameters=[EXTERNAL_ACCOUNT_ID],
        responses={200: ExternalAccountDeletedSerializer, **READ_ERROR_RESPONSES},
        tags=TAGS,
        description="Delete the account: it is no longer listed, fetched or paid to (payouts that went to it keep "
        "naming it). The default of a currency that has other accounts cannot be deleted "
        "(`400 external_account_is_default`): make another one the default first.",
    )
    def delete(self, request, external_account_id: str):
        account = services.external_account_delete(
            merchant=request.user, external_account_id=external_account_id, actor=_actor(request)
        )
        return Response(ExternalAccountDeletedSerializer(account).data)


# --- Payouts -------------------------------------------------------------------------------------


class PayoutListCreateView(APIView):
    @extend_schema(
        operation_id="payouts_list",
        parameters=[PAYOUT_STATUS_FILTER],
        responses={200: PayoutListSerializer, **READ_ERROR_RESPONSES},
        tags=PAYOUT_TAGS,
    )
    def get(self, request):
        queryset = selectors.payouts_of(merchant=request.user)
        queryset = filter_choice(queryset, request.query_params, "status", PayoutStatus.values)
        queryset = filter_created(queryset, request.query_params)
        paginator = CursorListPagination(filters=("status", *CREATED_FILTERS))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(PayoutSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payouts_create",
        request=PayoutCreateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: PayoutSerializer, **ERROR_RESPONSES},
        tags=PAYOUT_TAGS,
        description="Pay `amount` of your available balance out to an external account. The payout is created "
        "`pending` (the amount leaves `available` at once) and sent to the bank by a worker shortly after; it "
        "can be canceled until then. More than is available: `400 balance_insufficient`.",
    )
    def post(self, request):
        data = parse_input(PayoutCreateInput, request)
        idempotency_key = request.headers.get("Idempotency-Key")

        def execute(progress: Progress):
            if progress.resumed:
                # An earlier execution of this request made the payout, then could not answer: answer now.
                return Answer(201, PayoutSerializer(Payout.objects.get(pk=progress.resource_id)).data)
            payout = payout_services.payout_create(
                merchant=request.user,
                amount=data["amount"],
                currency=data["currency"],
                destination_id=data["destination"],
                description=data["description"],
                actor=_actor(request),
                idempotency_key=idempotency_key,
                checkpoint=progress.recorder(RecoveryPoint.INTENT_RECORDED),
            )
            if payout.id != progress.resource_id and payout.id != progress.resource_of_this_key():
                # The key's record was pruned (after 24 hours) and the key sent again.
                raise IdempotencyKeyReusedError(
                    "This Idempotency-Key was used by an earlier request whose record has expired "
                    "(keys are kept for 24 hours). Use a new key for a new request."
                )
            return Answer(201, PayoutSerializer(payout).data)

        return run_idempotent(request, execute)


class PayoutDetailView(APIView):
    @extend_schema(
        operation_id="payouts_retrieve",
        parameters=[PAYOUT_ID],
        responses={200: PayoutSerializer, **READ_ERROR_RESPONSES},
        tags=PAYOUT_TAGS,
    )
    def get(self, request, payout_id: str):
        return Response(PayoutSerializer(selectors.payout_get(merchant=request.user, payout_id=payout_id)).data)


class PayoutCancelView(APIView):
    @extend_schema(
        operation_id="payouts_cancel",
        request=None,
        parameters=[PAYOUT_ID, IDEMPOTENCY_KEY_HEADER],
        responses={200: PayoutSerializer, **ERROR_RESPONSES},
        tags=PAYOUT_TAGS,
        description="Cancel a payout that is still `pending` and not yet being sent: the amount returns to "
        "`available`. Otherwise `400 payout_not_cancelable`.",
    )
    def post(self, request, payout_id: str):
        selectors.payout_get(merchant=request.user, payout_id=payout_id)
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                PayoutSerializer(
                    payout_services.payout_cancel(merchant=request.user, payout_id=payout_id, actor=_actor(request))
                ).data,
            ),
        )
