"""What every payment method provides, and what its tokenisation hands to ``payment_create``."""

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rest_framework import serializers

from payments.models import Payment


@dataclass(frozen=True)
class ResolvedPaymentMethod:
    """A payment method as the processor tokenised it: everything ``payment_create`` stores about it.

    ``token`` is what the processor charges (kept in ``Payment.card_token``, whatever the method);
    ``columns`` are the method's own columns of ``Payment`` with their values.
    """

    type: str
    token: str
    columns: dict[str, Any] = field(default_factory=dict)


class PaymentMethod:
    """One way to pay. Each method is one module of ``payments.methods``, registered in its ``__init__``.

    In the API, a payment's ``payment_method`` is ``{"type": <type>, <input_name>: <its data>}`` on the
    way in and ``{"type": <type>, <type>: <details>}`` on the way out.
    """

    type: ClassVar[str]  # "card": ``payment_method.type`` and ``Payment.payment_method_type``
    input_name: ClassVar[str]  # the member of ``payment_method`` that carries the method's data ("token")
    columns: ClassVar[tuple[str, ...]]  # the columns of ``Payment`` the method fills (and only it)
    manual_capture: ClassVar[bool] = True  # False: refused with ``capture_method: manual``
    label: ClassVar[str]  # for messages: "Bank transfers"

    def input_field(self) -> serializers.Field:
        """A new field validating ``payment_method[<input_name>]`` (optional: the type decides)."""
        raise NotImplementedError

    def details_serializer(self) -> serializers.Serializer:
        """A new serializer describing ``details`` for the OpenAPI document (optional: the type decides)."""
        raise NotImplementedError

    def resolve(self, data: Any) -> ResolvedPaymentMethod:
        """Tokenise (or look up) the validated input with the processor. Runs outside any transaction,
        before the payment exists; raises the API's errors for a token or account the processor refuses."""
        raise NotImplementedError

    def details(self, payment: Payment) -> dict:
        """What the API shows of the method on a payment (``payment_method[<type>]``), from its columns."""
        raise NotImplementedError
