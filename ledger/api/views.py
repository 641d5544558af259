"""The balance and the ledger view of the merchant API: thin, read-only views over ``ledger.selectors``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidRequestError, ResourceMissingError
from edge.filters import CREATED_FILTERS, filter_choice, filter_created
from edge.pagination import CursorListPagination
from edge.schema import READ_ERROR_RESPONSES as ERROR_RESPONSES
from ledger import selectors
from ledger.api.serializers import (
    BalanceSerializer,
    BalanceTransactionListSerializer,
    BalanceTransactionSerializer,
)
from ledger.models import JournalEntry

# Maturing entries are not balance transactions (they move nothing in total), so not a type to filter by.
TYPES = [value for value in JournalEntry.Type.values if value != JournalEntry.Type.FUNDS_MATURED]
LIST_PARAMETERS = [
    OpenApiParameter("type", OpenApiTypes.STR, enum=TYPES, description="Only balance transactions of this type."),
    OpenApiParameter("source", OpenApiTypes.STR, description="Only those of this payment, refund or dispute id."),
    OpenApiParameter(
        "payout",
        OpenApiTypes.STR,
        description="Only those this automatic payout (po_…) paid out: their nets sum to its amount. 400 "
        "(parameter_invalid) for a manual payout, which pays out no particular transactions; 400 "
        "(resource_missing) for an unknown id.",
    ),
    *(
        OpenApiParameter(
            f"created[{op}]",
            OpenApiTypes.STR,
            description="Unix seconds or ISO 8601: created "
            + {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}[op]
            + " this time.",
        )
        for op in ("gt", "gte", "lt", "lte")
    ),
]
TRANSACTION_ID = OpenApiParameter(
    "transaction_id", OpenApiTypes.STR, location=OpenApiParameter.PATH, description="txn_…"
)


class BalanceView(APIView):
    @extend_schema(
        operation_id="balance_retrieve",
        responses={200: BalanceSerializer, **ERROR_RESPONSES},
        tags=["balance"],
        description="The merchant's available and pending funds per currency, computed from the ledger.",
    )
    def get(self, request):
        return Response(BalanceSerializer(selectors.balance_get(merchant=request.user)).data)


class BalanceTransactionListView(APIView):
    @extend_schema(
        operation_id="balance_transactions_list",
        parameters=LIST_PARAMETERS,
        responses={200: BalanceTransactionListSerializer, **ERROR_RESPONSES},
        tags=["balance"],
        description="The ledger entries that moved the merchant's balance, newest first.",
    )
    def get(self, request):
        params = request.query_params
        queryset = selectors.balance_transactions_of(merchant=request.user)
        queryset = filter_choice(queryset, params, "type", TYPES)
        source = params.get("source")
        if source:
            queryset = queryset.filter(source=source)
        payout_id = params.get("payout")
        if payout_id:
            queryset = _paid_out_by(queryset, request.user, payout_id)
        queryset = filter_created(queryset, params)
        paginator = CursorListPagination(filters=("type", "source", "payout", *CREATED_FILTERS))
        page = paginator.paginate_queryset(queryset, request, self)
        return paginator.get_paginated_response(BalanceTransactionSerializer(page, many=True).data)


def _paid_out_by(queryset, merchant, payout_id: str):
    payout_entry = selectors.payout_entry_of(merchant=merchant, payout_id=payout_id)
    if payout_entry is None:
        # 400 like an unknown cursor: the list exists, the filter names nothing of the merchant's.
        raise InvalidRequestError(f"No such payout: '{payout_id}'.", code="resource_missing", param="payout")
    paid_out = selectors.balance_transactions_paid_out_by(queryset, payout_entry=payout_entry)
    if paid_out is None:
        raise InvalidRequestError(
            f"Payout '{payout_id}' was made by hand: only automatic payouts pay out particular balance transactions.",
            code="parameter_invalid",
            param="payout",
        )
    return paid_out


class BalanceTransactionDetailView(APIView):
    @extend_schema(
        operation_id="balance_transactions_retrieve",
        parameters=[TRANSACTION_ID],
        responses={200: BalanceTransactionSerializer, **ERROR_RESPONSES},
        tags=["balance"],
    )
    def get(self, request, transaction_id: str):
        entry = selectors.balance_transaction_get(merchant=request.user, transaction_id=transaction_id)
        if entry is None:
            raise ResourceMissingError(f"No such balance transaction: '{transaction_id}'.", param="id")
        return Response(BalanceTransactionSerializer(entry).data)
