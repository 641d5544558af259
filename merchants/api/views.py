from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from edge.api import parse_input
from edge.idempotency import run_idempotent
from edge.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_HEADER
from merchants.api.serializers import AccountSerializer, AccountUpdateInput
from merchants.services import merchant_payout_schedule_update


class AccountView(APIView):
    """The merchant that the API key belongs to."""

    @extend_schema(operation_id="account_retrieve", responses=AccountSerializer, tags=["account"])
    def get(self, request):
        return Response(AccountSerializer(request.user).data)

    @extend_schema(
        operation_id="account_update",
        request=AccountUpdateInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={200: AccountSerializer, **ERROR_RESPONSES},
        tags=["account"],
        description="Change the payout schedule: `interval` (`manual`, `daily`, `weekly`), `delay_days` and "
        "`weekly_anchor`.",
    )
    def post(self, request):
        schedule = parse_input(AccountUpdateInput, request)["payout_schedule"]
        return run_idempotent(
            request,
            lambda _progress: (
                200,
                AccountSerializer(
                    merchant_payout_schedule_update(
                        merchant=request.user,
                        interval=schedule.get("interval"),
                        delay_days=schedule.get("delay_days"),
                        weekly_anchor=schedule.get("weekly_anchor"),
                        actor=f"api:{request.auth.pk}",
                    )
                ).data,
            ),
        )
