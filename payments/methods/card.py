"""Cards: the customer's card is tokenised with the processor beforehand; the API takes its token (``tok_…``)."""

import dataclasses
import hashlib

from django.core.cache import cache
from rest_framework import serializers

from core.errors import InvalidRequestError
from core.failsoft import CACHE
from edge.api import StrictCharField
from gateways.base import CardDetails, ProcessorUnavailable, TokenInvalid
from payments.errors import ProcessorUnavailableError
from payments.methods.base import PaymentMethod, ResolvedPaymentMethod
from payments.models import Payment
from payments.routing import Route, Tokenized, tokenize_at_route

TOKEN_CACHE_SECONDS = 300


def card_token_resolve(*, token: str, route: Route) -> Tokenized[CardDetails]:
    """The card behind a processor token, asked of the route's processor, or of its fallback when that one cannot
    be reached (``payments.routing.tokenize_at_route``; no transaction is open).

    A token's card never changes, so a known token is cached for a few minutes
    (an unknown one is not: it may be created a moment later). Raises
    InvalidRequestError ``token_invalid`` for an unknown token and
    ProcessorUnavailableError when the processor cannot be asked. With the cache
    (Redis) down, every token is asked of the processor (``core.failsoft``).
    """
    # A token belongs to one processor: cached per processor and token.
    cache_key = f"card-token:{route.processor}:{hashlib.sha256(token.encode()).hexdigest()}"
    without_cache = "card tokens are asked of the processor on every request"
    cached = CACHE.call(lambda: cache.get(cache_key), otherwise=None, degraded=without_cache)
    if cached is not None:
        return Tokenized(details=CardDetails(**cached), route=route)

    def retrieve(adapter) -> CardDetails:
        try:
            return adapter.retrieve_token(token)
        except TokenInvalid:
            if adapter.name == route.processor:
                raise
            # A token belongs to the acquirer that issued it. The fallback not knowing it says nothing about the
            # route's own acquirer, which could not be asked: the truth is "unknown, retry" (503), not a 400 that
            # a client would trust while the same request succeeds once that acquirer is back.
            raise ProcessorUnavailable(
                f"{route.processor} could not be asked about the card token, and {adapter.name} does not know it"
            ) from None

    try:
        tokenized = tokenize_at_route(route, retrieve)
        if tokenized.route == route:
            CACHE.call(
                lambda: cache.set(cache_key, dataclasses.asdict(tokenized.details), TOKEN_CACHE_SECONDS),
                otherwise=None,
                degraded=without_cache,
            )
        return tokenized
    except TokenInvalid as exc:
        raise InvalidRequestError(
            f"No such card token: '{token}'. Tokenise the card with the processor first.",
            code="token_invalid",
            param="payment_method[token]",
        ) from exc
    except ProcessorUnavailable as exc:
        raise ProcessorUnavailableError("The processor could not be reached. Retry the request.") from exc


class CardSerializer(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class Card(PaymentMethod):
    type = "card"
    input_name = "token"
    columns = ("card_brand", "card_last4", "card_exp_month", "card_exp_year")
    label = "Cards"

    def input_field(self):
        return StrictCharField(max_length=255, required=False, help_text="A card token (`tok_…`), for `type: card`.")

    def details_serializer(self):
        return CardSerializer(required=False, help_text="Present when `type` is `card`.")

    def resolve(self, data: str, *, route: Route) -> ResolvedPaymentMethod:
        tokenized = card_token_resolve(token=data, route=route)
        card = tokenized.details
        return ResolvedPaymentMethod(
            type=self.type,
            token=data,
            route=tokenized.route,
            columns={
                "card_brand": card.brand,
                "card_last4": card.last4,
                "card_exp_month": card.exp_month,
                "card_exp_year": card.exp_year,
            },
        )

    def details(self, payment: Payment) -> dict:
        return {
            "brand": payment.card_brand,
            "last4": payment.card_last4,
            "exp_month": payment.card_exp_month,
            "exp_year": payment.card_exp_year,
        }
