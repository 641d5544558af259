"""``POST /webhooks/processor/<name>/``: each processor's webhooks, verified with that processor's secret."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ResourceMissingError
from edge.errors import PayloadTooLargeError
from edge.parsers import size_text
from edge.responses import error_response
from gateways.base import WebhookSignatureInvalid
from gateways.registry import processor, processor_exists
from payments.processor_events import processor_event_receive


@csrf_exempt
@require_POST
def processor_webhook(request, name: str):
    """Verify the signature and timestamp with processor ``name``'s secret, store the event once, apply it.

    An unknown ``name`` is 404; an unverifiable event (a wrong secret: another processor's included) is 400 and
    stores nothing. A failure to apply answers 500 so that the processor delivers the event again. A body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (1 MB) is ``413 body_too_large``, before the signature is checked.
    """
    if not processor_exists(name):
        return error_response(ResourceMissingError(f"No processor is configured under the name '{name}'."))
    try:
        body = request.body
    except RequestDataTooBig:
        limit = size_text(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return error_response(PayloadTooLargeError(f"The request body is larger than {limit}."))
    try:
        event = processor(name).parse_webhook(
            body=body, headers=request.headers, tolerance_seconds=settings.PROCESSOR_WEBHOOK_TOLERANCE_SECONDS
        )
    except WebhookSignatureInvalid as exc:
        return JsonResponse(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "signature_invalid",
                    "message": str(exc) or "Invalid signature.",
                    "param": None,
                }
            },
            status=400,
        )
    try:
        stored = processor_event_receive(processor=name, event=event)
    except Exception:  # noqa: BLE001 - logged where it happened; the processor will retry
        return JsonResponse({"received": False}, status=500)
    return JsonResponse({"received": True, "status": stored.status, "deliveries": stored.deliveries})
