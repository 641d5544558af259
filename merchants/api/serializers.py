from rest_framework import serializers

from merchants.models import Merchant


class AccountSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()

    class Meta:
        model = Merchant
        fields = ["id", "object", "name", "settlement_currency", "status", "created"]

    def get_object(self, merchant) -> str:
        return "account"
