"""The payment methods, one module each. Adding one: a module with a ``PaymentMethod`` subclass (its input,
tokenisation, columns and details), registered below, plus a migration only if it needs new columns."""

from payments.methods.bank_transfer import BankTransfer
from payments.methods.base import PaymentMethod, ResolvedPaymentMethod
from payments.methods.card import Card
from payments.methods.wallet import Wallet
from payments.models import Payment

# In the order the API documents them.
PAYMENT_METHODS: dict[str, PaymentMethod] = {method.type: method for method in (Card(), BankTransfer(), Wallet())}

# ``payment_method.type``'s choices, and its enum in the OpenAPI document (config.settings' ENUM_NAME_OVERRIDES),
# labelled as Django labels TextChoices ("bank_transfer": "Bank Transfer").
PAYMENT_METHOD_TYPES = [(method_type, method_type.replace("_", " ").title()) for method_type in PAYMENT_METHODS]


def payment_method(method_type: str) -> PaymentMethod:
    """The method registered as ``method_type`` (KeyError for an unknown one: the API's input refuses it first)."""
    return PAYMENT_METHODS[method_type]


def payment_method_of(payment: Payment) -> PaymentMethod:
    return PAYMENT_METHODS[payment.payment_method_type]


__all__ = [
    "PAYMENT_METHODS",
    "PAYMENT_METHOD_TYPES",
    "PaymentMethod",
    "ResolvedPaymentMethod",
    "payment_method",
    "payment_method_of",
]
