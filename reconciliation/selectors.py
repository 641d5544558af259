"""Reads of reconciliation, shared by the admin, the command and the tests."""

import datetime

from django.db.models import Count, Min, Q, QuerySet

from reconciliation.models import ExceptionType, ReconciliationException, ReconciliationRun


def runs_with_figures() -> QuerySet[ReconciliationRun]:
    """Runs, newest day first, each with ``open_exceptions``: its exceptions still waiting for staff."""
    return ReconciliationRun.objects.annotate(
        open_exceptions=Count("exceptions", filter=Q(exceptions__status=ReconciliationException.Status.OPEN))
    )


def exception_queue() -> QuerySet[ReconciliationException]:
    """Exceptions with what their list shows, oldest open first is the admin's default order."""
    return ReconciliationException.objects.select_related("merchant", "resolved_by")


def exceptions_by_type(*, settlement_date: datetime.date) -> dict[str, dict[str, int]]:
    """{type: {"open": n, "resolved": n}} for one day, every type included."""
    figures = {kind: {"open": 0, "resolved": 0} for kind in ExceptionType.values}
    rows = (
        ReconciliationException.objects.filter(settlement_date=settlement_date)
        .values_list("type", "status")
        .annotate(n=Count("id"))
    )
    for kind, status, n in rows:
        figures.setdefault(kind, {"open": 0, "resolved": 0})[status] = n
    return figures


def open_exceptions_by_type() -> dict[str, tuple[int, datetime.datetime]]:
    """``{type: (open exceptions, when the oldest was found)}`` (/metrics): the open ones only, through the
    index recon_exc_queue (status, created)."""
    rows = (
        ReconciliationException.objects.filter(status=ReconciliationException.Status.OPEN)
        .order_by()
        .values_list("type")
        .annotate(count=Count("pk"), oldest=Min("created"))
    )
    return {type_: (count, oldest) for type_, count, oldest in rows}
