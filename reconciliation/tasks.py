"""Reconciliation's Celery task: thin and idempotent (a re-run of a day replaces its run)."""

import datetime
import logging

from celery import shared_task
from django.utils import timezone

from gateways.registry import processor_names
from reconciliation.errors import ReconciliationFailed
from reconciliation.services import reconciliation_run

logger = logging.getLogger(__name__)

# The processor may be briefly unreachable at 02:00: try again every 15 minutes for two hours.
RETRY_SECONDS = 15 * 60
MAX_RETRIES = 8


@shared_task(name="reconciliation.reconcile_previous_day")
def reconcile_previous_day(day: str | None = None) -> list[dict]:
    """Reconcile the previous UTC day (or ``day``, YYYY-MM-DD) of every processor (beat: 02:00 UTC): one task
    per processor, so that one acquirer's missing report neither blocks nor retries the others."""
    for name in processor_names():
        reconcile_processor_day.delay(name, day)
    return [{"processor": name, "status": "queued"} for name in processor_names()]


@shared_task(name="reconciliation.reconcile_processor_day", bind=True, max_retries=MAX_RETRIES)
def reconcile_processor_day(self, processor: str, day: str | None = None) -> dict:
    """Reconcile one processor's previous UTC day (or ``day``) against its report.

    A report that cannot be fetched is retried later; a bad report fails the run
    (recorded on it, logged at ERROR) and is not retried: staff look at it.
    """
    settlement_date = (
        datetime.date.fromisoformat(day)
        if day
        else timezone.now().astimezone(datetime.UTC).date() - datetime.timedelta(days=1)
    )
    try:
        outcome = reconciliation_run(processor=processor, settlement_date=settlement_date)
    except ReconciliationFailed as error:
        if error.retryable and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=RETRY_SECONDS, exc=error) from error
        return {"processor": processor, "day": settlement_date.isoformat(), "status": "failed", "error": error.message}
    return {
        "processor": processor,
        "day": settlement_date.isoformat(),
        "status": "succeeded",
        **outcome.as_json(),
        "auto_resolved": outcome.auto_resolved,
    }
