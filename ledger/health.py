"""The ledger's section of ``/healthz``: whether captured funds mature on time (``ledger.tasks.mature_funds``)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from ledger.models import MaturingFunds

logger = logging.getLogger(__name__)

# Counted up to this many: enough to say how bad it is, and one index range scan bounded whatever the backlog.
COUNT_UP_TO = 1000


def funds_maturing_health() -> dict:
    """``{"status": "ok"}``, or ``{"status": "overdue", "overdue": n, "oldest_available_on": …}`` when captured
    funds are still pending more than ``LEDGER_MATURING_OVERDUE_SECONDS`` past their ``available_on`` (the
    mature_funds beat is not running or not keeping up; ``n`` is counted up to 1000), or ``"unknown"`` when the
    database cannot be asked. Two index look-ups on the maturing work list; never raises."""
    cutoff = timezone.now() - timedelta(seconds=settings.LEDGER_MATURING_OVERDUE_SECONDS)
    try:
        late = MaturingFunds.objects.filter(available_on__lt=cutoff)
        oldest = late.order_by("available_on").values_list("available_on", flat=True).first()
        if oldest is None:
            return {"status": "ok"}
        count = late.order_by().values("pk")[:COUNT_UP_TO].count()
    except DatabaseError as error:
        logger.warning("health: the maturing work list could not be read: %s", type(error).__name__)
        return {"status": "unknown"}
    return {"status": "overdue", "overdue": count, "oldest_available_on": oldest.isoformat()}


def ledger_health() -> dict:
    return {"funds_maturing": funds_maturing_health()}
