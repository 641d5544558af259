"""A checkout session as the API shows it and as its events carry it, built once by a plain function."""

from django.conf import settings

from checkout.models import CheckoutSession
from payments.representations import timestamp


def checkout_session_url(session: CheckoutSession) -> str:
    """The hosted page: the platform's public address, the id and the URL's secret (``services.checkout_url_token``)."""
    from checkout.services import checkout_url_token

    return f"{settings.CHECKOUT_PUBLIC_URL.rstrip('/')}/checkout/{session.id}/{checkout_url_token(session.id)}"


def checkout_session_representation(session: CheckoutSession) -> dict:
    """The API's ``checkout_session`` object. ``url`` is null once the session is no longer open."""
    return {
        "id": session.id,
        "object": "checkout_session",
        "status": str(session.status),
        "url": checkout_session_url(session) if session.status == "open" else None,
        "amount": session.amount,
        "currency": session.currency,
        "success_url": session.success_url,
        "cancel_url": session.cancel_url,
        "payment_method_types": list(session.payment_method_types),
        "capture_method": session.capture_method,
        "customer_email": session.customer_email,
        "description": session.description,
        "metadata": session.metadata,
        "payment": session.payment_id,
        "payment_in_progress": session.attempt_payment_id if session.status == "open" else None,
        "expires_at": timestamp(session.expires_at),
        "completed_at": timestamp(session.completed_at),
        "expired_at": timestamp(session.expired_at),
        "created": timestamp(session.created),
    }
