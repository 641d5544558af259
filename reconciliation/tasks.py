"""Reconciliation's Celery task: thin and idempotent (a re-run of a day replaces its run)."""

import datetime
import logging

from celery import shared_task
from django.utils import timezone

from reconciliation.errors import ReconciliationFailed
from reconciliation.services import reconciliation_run

logger = logging.getLogger(__name__)

# The processor may be briefly unreachable at 02:00: try again every 15 minutes for two hours.
RETRY_SECONDS = 15 * 60
MAX_RETRIES = 8


@shared_task(name="reconciliation.reconcile_previous_day", bind=True, max_retries=MAX_RETRIES)
def reconcile_previous_day(self, day: str | None = None) -> dict:
    """Reconcile the previous UTC day (or ``day``, YYYY-MM-DD) against the processor's report (beat: 02:00 UTC).

    A report that cannot be fetched is retried later; a bad report fails the run
    (recorded on it, logged at ERROR) and is not retried: staff look at it.
    """
    settlement_date = (
        datetime.date.fromisoformat(day)
        if day
        else timezone.now().astimezone(datetime.UTC).date() - datetime.timedelta(days=1)
    )
    try:
        outcome = reconciliation_run(settlement_date=settlement_date)
    except ReconciliationFailed as error:
        if error.retryable and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=RETRY_SECONDS, exc=error) from error
        return {"day": settlement_date.isoformat(), "status": "failed", "error": error.message}
    return {
        "day": settlement_date.isoformat(),
        "status": "succeeded",
        **outcome.as_json(),
        "auto_resolved": outcome.auto_resolved,
    }
