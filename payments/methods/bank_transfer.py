"""Bank transfers (US ACH, SEPA): the API takes the account, which the processor tokenises at once; only its
token and the processor's description of it are kept, never the number or the IBAN. Captured automatically:
the transfer settles (or is returned) days later, by webhook."""

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from core.errors import InvalidRequestError
from edge.api import StrictCharField, StrictInputSerializer
from gateways.base import BankAccountDetails, ProcessorRequestRejected, ProcessorUnavailable
from payments.bank_accounts import bank_account_error, normalize_iban
from payments.errors import ProcessorUnavailableError
from payments.methods.base import PaymentMethod, ResolvedPaymentMethod
from payments.models import Payment
from payments.routing import Route, Tokenized, tokenize_at_route


def bank_account_tokenize(
    *, account: dict, route: Route, param: str = "payment_method[bank_account]"
) -> Tokenized[BankAccountDetails]:
    """Tokenise a bank account with the route's processor, or its fallback when that one cannot be reached
    (``payments.routing.tokenize_at_route``; no transaction is open).

    ``account`` has ``country``, ``holder_name`` and ``routing_number`` + ``account_number`` (US) or ``iban``
    (already checked by ``BankAccountInput``). Raises InvalidRequestError ``bank_account_invalid`` (with the
    ``param`` at fault, under ``param``: the account's place in the request) when the processor refuses it,
    ProcessorUnavailableError when it cannot be asked.
    """
    try:
        return tokenize_at_route(
            route,
            lambda adapter: adapter.tokenize_bank_account(
                country=account["country"],
                holder_name=account["holder_name"],
                account_number=account.get("account_number"),
                routing_number=account.get("routing_number"),
                iban=account.get("iban"),
            ),
        )
    except ProcessorRequestRejected as exc:
        raise InvalidRequestError(
            "The bank account was refused by the processor.",
            code="bank_account_invalid",
            param=f"{param}[{exc.param}]" if exc.param else param,
        ) from exc
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor could not be reached. Retry the request.") from exc


class BankAccountInput(StrictInputSerializer):
    """A US account (``routing_number`` + ``account_number``) or a SEPA one (``iban``), checked here too."""

    country = StrictCharField(min_length=2, max_length=2)
    holder_name = StrictCharField(max_length=255)
    routing_number = StrictCharField(max_length=9, required=False)
    account_number = StrictCharField(max_length=17, required=False)
    iban = StrictCharField(max_length=64, required=False)

    def validate(self, attrs):
        problem = bank_account_error(attrs)
        if problem is not None:
            param, message = problem
            raise serializers.ValidationError({param: [ErrorDetail(message, code="bank_account_invalid")]})
        if attrs.get("iban"):
            attrs["iban"] = normalize_iban(attrs["iban"])
        return attrs


class BankTransferSerializer(serializers.Serializer):
    country = serializers.CharField()
    last4 = serializers.CharField()
    fingerprint = serializers.CharField()
    bank_name = serializers.CharField(allow_null=True)


class BankTransfer(PaymentMethod):
    type = "bank_transfer"
    input_name = "bank_account"
    columns = ("bank_country", "bank_last4", "bank_fingerprint", "bank_name")
    manual_capture = False
    label = "Bank transfers"

    def input_field(self):
        return BankAccountInput(required=False, help_text="For `type: bank_transfer`.")

    def details_serializer(self):
        return BankTransferSerializer(
            required=False,
            help_text="Present when `type` is `bank_transfer`: the account as the processor described "
            "it, never its number or IBAN.",
        )

    def resolve(self, data: dict, *, route: Route) -> ResolvedPaymentMethod:
        tokenized = bank_account_tokenize(account=data, route=route)
        account = tokenized.details
        return ResolvedPaymentMethod(
            type=self.type,
            token=account.processor_id,
            route=tokenized.route,
            columns={
                "bank_country": account.country,
                "bank_last4": account.last4,
                "bank_fingerprint": account.fingerprint,
                "bank_name": account.bank_name,
            },
        )

    def details(self, payment: Payment) -> dict:
        return {
            "country": payment.bank_country,
            "last4": payment.bank_last4,
            "fingerprint": payment.bank_fingerprint,
            "bank_name": payment.bank_name,
        }
