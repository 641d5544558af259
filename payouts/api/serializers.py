"""The inputs of each external-accounts and payouts operation, and the description of its answers for the OpenAPI
document."""

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from edge.api import AmountField, CurrencyField, StrictBooleanField, StrictCharField, StrictInputSerializer
from payments.bank_accounts import ACH_COUNTRIES
from payments.methods.bank_transfer import BankAccountInput
from payouts.representations import (
    external_account_deleted_representation,
    external_account_representation,
    payout_representation,
)

# The currency each kind of bank account is paid out in: a US account (ACH) in USD, a SEPA account (IBAN) in EUR.
PAYOUT_CURRENCIES = ("USD", "EUR")


class ExternalAccountCreateInput(StrictInputSerializer):
    currency = CurrencyField(help_text="`USD` for a US account, `EUR` for a SEPA account (IBAN).")
    bank_account = BankAccountInput(
        help_text="A US account (`routing_number` + `account_number`) or a SEPA one (`iban`). Sent to the "
        "processor to be tokenised; only its last four characters and a fingerprint are kept."
    )
    default_for_currency = StrictBooleanField(
        required=False,
        default=False,
        help_text="Make it the currency's default (the previous default stops being it). The currency's first "
        "account is its default whatever this says.",
    )

    def validate(self, attrs):
        currency, country = attrs["currency"], attrs["bank_account"]["country"]
        if currency not in PAYOUT_CURRENCIES:
            raise serializers.ValidationError(
                {
                    "currency": [
                        ErrorDetail(
                            "Payouts are made in USD (to a US bank account) and EUR (to a SEPA bank account).",
                            code="currency_not_supported",
                        )
                    ]
                }
            )
        if (currency == "USD") != (country in ACH_COUNTRIES):
            wanted = "a US bank account" if currency == "USD" else "a SEPA bank account (iban)"
            raise serializers.ValidationError(
                {
                    "bank_account": {
                        "country": [ErrorDetail(f"{currency} payouts go to {wanted}.", code="bank_account_invalid")]
                    }
                }
            )
        return attrs


class ExternalAccountUpdateInput(StrictInputSerializer):
    default_for_currency = StrictBooleanField(
        help_text="`true`: make this account its currency's default. (`false` is refused: make another account "
        "the default instead.)"
    )

    def validate_default_for_currency(self, value):
        if value is not True:
            raise serializers.ValidationError(
                ErrorDetail(
                    "default_for_currency can only be set to true: make another account the default instead.",
                    code="parameter_invalid",
                )
            )
        return value


class ExternalAccountSerializer(serializers.Serializer):
    """Describes ``payouts.representations.external_account_representation`` (what the API answers)."""

    id = serializers.CharField(help_text="`ea_…`")
    object = serializers.CharField(help_text="`external_account`")
    currency = serializers.CharField(help_text="The currency paid out to it.")
    country = serializers.CharField(help_text="ISO 3166 alpha-2.")
    last4 = serializers.CharField(help_text="The last four characters of the account number or IBAN.")
    fingerprint = serializers.CharField(help_text="The processor's: the same account always has the same one.")
    bank_name = serializers.CharField(allow_null=True)
    default_for_currency = serializers.BooleanField(help_text="Where the currency's payouts go by default.")
    created = serializers.DateTimeField()

    def to_representation(self, account) -> dict:
        return external_account_representation(account)


class ExternalAccountListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = ExternalAccountSerializer(many=True)


class ExternalAccountDeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text="`external_account`")
    deleted = serializers.BooleanField()

    def to_representation(self, account) -> dict:
        return external_account_deleted_representation(account)


# --- Payouts -------------------------------------------------------------------------------------


class PayoutCreateInput(StrictInputSerializer):
    amount = AmountField(help_text="In minor units; at most the available balance in `currency`.")
    currency = CurrencyField(help_text="A currency you have an external account in.")
    destination = StrictCharField(
        max_length=40,
        required=False,
        allow_null=True,
        default=None,
        help_text="`ea_…`: one of your external accounts in `currency`. Default: the currency's default account.",
    )
    description = StrictCharField(max_length=1000, required=False, allow_null=True, default=None)


class PayoutSerializer(serializers.Serializer):
    """Describes ``payouts.representations.payout_representation`` (what the API answers)."""

    id = serializers.CharField(help_text="`po_…`")
    object = serializers.CharField(help_text="`payout`")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField(help_text="`pending`, `in_transit`, `paid`, `failed` or `canceled`.")
    arrival_date = serializers.DateTimeField(
        allow_null=True,
        help_text="When the bank is expected to have it: estimated at creation from the destination's country, "
        "then the processor's date once it has the payout (paid: when the bank had it).",
    )
    destination = serializers.CharField(help_text="The external account (`ea_…`).")
    automatic = serializers.BooleanField()
    description = serializers.CharField(allow_null=True)
    failure_code = serializers.CharField(allow_null=True, help_text="A failed payout: why (`account_closed`, …).")
    failure_message = serializers.CharField(allow_null=True)
    balance_transaction = serializers.CharField(help_text="The balance transaction (`txn_…`) that took the amount.")
    created = serializers.DateTimeField()

    def to_representation(self, payout) -> dict:
        return payout_representation(payout)


class PayoutListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    url = serializers.CharField()
    has_more = serializers.BooleanField()
    data = PayoutSerializer(many=True)
