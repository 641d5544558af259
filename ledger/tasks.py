"""Celery tasks of the ledger: thin, idempotent, and enqueued with ``transaction.on_commit``."""

from celery import shared_task

from ledger.maturing import funds_mature_due
from ledger.services import ledger_check_run_record


@shared_task(name="ledger.tasks.ledger_check")
def ledger_check() -> dict:
    """Run the invariant checks and store a ``LedgerCheckRun`` (a failure is logged at ERROR)."""
    run = ledger_check_run_record()
    return {"run": run.pk, "ok": run.ok}


@shared_task(name="ledger.tasks.mature_funds")
def mature_funds() -> dict:
    """Make due pending funds available (``ledger.maturing.funds_mature_due``); safe to run twice at once."""
    return {"matured": funds_mature_due()}
