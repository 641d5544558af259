"""Wallets: the customer approves the payment on the wallet's page (``next_action``). Nothing is tokenised
beforehand: the processor's source for a wallet is ``wallet_<provider>``."""

from rest_framework import serializers

from edge.api import StrictInputSerializer
from payments.methods.base import PaymentMethod, ResolvedPaymentMethod
from payments.models import Payment
from payments.routing import Route

# The wallets the processor offers.
WALLET_PROVIDERS = ["sandboxpay"]


class WalletInput(StrictInputSerializer):
    provider = serializers.ChoiceField(choices=WALLET_PROVIDERS)


class WalletSerializer(serializers.Serializer):
    provider = serializers.CharField()


class Wallet(PaymentMethod):
    type = "wallet"
    input_name = "wallet"
    columns = ("wallet_provider",)
    label = "Wallets"

    def input_field(self):
        return WalletInput(required=False, help_text="For `type: wallet`.")

    def details_serializer(self):
        return WalletSerializer(required=False, help_text="Present when `type` is `wallet`.")

    def resolve(self, data: dict, *, route: Route) -> ResolvedPaymentMethod:
        provider = data["provider"]
        return ResolvedPaymentMethod(
            type=self.type, token=f"wallet_{provider}", route=route, columns={"wallet_provider": provider}
        )

    def details(self, payment: Payment) -> dict:
        return {"provider": payment.wallet_provider}
