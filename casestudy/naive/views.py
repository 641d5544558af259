"""The naive design's HTTP edge: thin, as the platform's. Authenticated with the merchant's API key (DRF's
defaults); errors in the contract's shape (edge.exception_handler)."""

import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.decorators import api_view
from rest_framework.response import Response

from casestudy.naive.services import NaiveWebhookFailed, naive_charge, naive_processor_event
from core.errors import CardError, InvalidRequestError, UnavailableError
from edge.api import AmountField, CurrencyField, StrictCharField, StrictInputSerializer, parse_input
from gateways.base import CardDeclined, ProcessorError, WebhookSignatureInvalid
from gateways.registry import processor

logger = logging.getLogger(__name__)


class NaiveChargeInput(StrictInputSerializer):
    order_id = StrictCharField(max_length=100)
    amount = AmountField()
    currency = CurrencyField()
    # A token only (``tok_…``): a card number is refused here, as on the platform.
    token = StrictCharField(max_length=40)

    def validate_token(self, value: str) -> str:
        if not value.startswith("tok_"):
            raise InvalidRequestError("token must be a card token (tok_…).", code="token_invalid", param="token")
        return value


@api_view(["POST"])
def naive_payments(request):
    """``POST /casestudy/naive/payments``: charge now, then record (201 with the payment)."""
    data = parse_input(NaiveChargeInput, request)
    try:
        payment = naive_charge(merchant=request.user, **data)
    except CardDeclined as declined:
        raise CardError(declined.message or "The card was declined.", decline_code=declined.decline_code) from None
    except ProcessorError as error:
        raise UnavailableError(f"The processor failed: {error}", code="processor_unavailable") from None
    except NaiveWebhookFailed as error:
        raise UnavailableError(f"The merchant's webhook failed: {error}", code="webhook_failed") from None
    return Response(
        {
            "id": payment.pk,
            "object": "naive_payment",
            "order_id": payment.order_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": payment.status,
        },
        status=201,
    )


@csrf_exempt
@require_POST
def naive_processor_webhook(request):
    """``POST /casestudy/naive/webhooks/processor``: the default processor's webhooks, verified, applied at once
    (no store, no de-duplication by event id)."""
    try:
        event = processor(settings.PROCESSOR_DEFAULT).parse_webhook(
            body=request.body, headers=request.headers, tolerance_seconds=settings.PROCESSOR_WEBHOOK_TOLERANCE_SECONDS
        )
    except WebhookSignatureInvalid:
        return JsonResponse({"error": {"type": "invalid_request_error", "code": "signature_invalid"}}, status=400)
    try:
        changed = naive_processor_event(event=event)
    except NaiveWebhookFailed:
        logger.warning("naive: the merchant's webhook failed while applying %s", event.event_id)
        return JsonResponse({"received": False}, status=500)
    return JsonResponse({"received": True, "changed": changed})
