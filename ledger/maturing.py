"""Funds that mature: a capture's pending funds become available at its ``available_on``.

``funds_mature_due`` is what ``ledger.tasks.mature_funds`` runs every minute (config/schedules.py), so funds
are available within about a minute of their ``available_on``.
"""

import logging

from django.db import transaction
from django.utils import timezone

from ledger import posting_rules
from ledger.models import JournalEntry, MaturingFunds

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


def funds_mature_due(*, now=None, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Post ``funds.matured`` for every entry on the work list whose ``available_on`` ≤ ``now``; returns how
    many this call posted.

    Guarantees: each entry matures exactly once, whatever runs concurrently (the unique event key; a second
    worker also skips the rows the first has locked, so they do not do the same work twice); never before its
    ``available_on``. Each batch is its own short transaction (its work-list rows are locked only until it
    commits; the maturing entries lock no account: ``ledger.services.entry_mature``); nothing slow happens
    inside one. ``max_batches``
    bounds one call (None: until nothing is due).
    """
    now = now or timezone.now()
    posted = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic():
            due = list(
                MaturingFunds.objects.select_for_update(skip_locked=True)
                .filter(available_on__lte=now)
                .order_by("available_on", "entry_id")
                .values_list("entry_id", flat=True)[:batch_size]
            )
            if not due:
                break
            for entry in JournalEntry.objects.filter(pk__in=due).order_by("pk"):
                posting_rules.funds_matured(entry=entry, now=now)
                posted += 1
        if len(due) < batch_size:
            break
    if posted:
        logger.info("funds matured: %s entries", posted)
    return posted
