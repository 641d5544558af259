from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.api.serializers import AccountSerializer


class AccountView(APIView):
    """The merchant that the API key belongs to."""

    @extend_schema(operation_id="account_retrieve", responses=AccountSerializer, tags=["account"])
    def get(self, request):
        return Response(AccountSerializer(request.user).data)
