"""Celery tasks of the events app: thin, idempotent, enqueued after commit. Each is safe to run twice."""

from celery import shared_task

from events import services


@shared_task(name="events.drain_outbox")
def drain_outbox() -> dict:
    """Publish the outbox: create deliveries for unpublished events (beat: every 5 s; also queued after commits)."""
    result = services.outbox_drain()
    return {"events": result.events, "deliveries": result.deliveries, "more": result.more}


@shared_task(name="events.deliver")
def deliver(delivery_ids: list[str]) -> dict:
    """Send these deliveries if they are still pending, due and not being sent elsewhere."""
    summary = services.deliveries_send(delivery_ids=delivery_ids)
    return {
        "claimed": summary.claimed,
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "canceled": summary.canceled,
    }


@shared_task(name="events.deliver_due")
def deliver_due() -> int:
    """Re-queue due retries and deliveries whose worker died (beat: every 10 s)."""
    return services.deliveries_sweep()
