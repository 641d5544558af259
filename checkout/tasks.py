"""Scheduled checkout work. Thin: each task calls one service, and each is safe to run twice."""

from celery import shared_task

from checkout import services


@shared_task(name="checkout.sync_attempts")
def sync_attempts() -> int:
    """Settle payment attempts still under way (wallet approvals, bank transfers) of open sessions."""
    return services.checkout_sessions_sync_attempts()


@shared_task(name="checkout.expire_sessions")
def expire_sessions() -> int:
    """Expire open sessions past ``expires_at``."""
    return services.checkout_sessions_expire_due()
