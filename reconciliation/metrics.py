"""Open reconciliation exceptions for /metrics (``core.metrics``), computed from the database at each scrape."""

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core.metrics import seconds_since
from reconciliation.models import ExceptionType
from reconciliation.selectors import open_exceptions_by_type


def collect():
    now = timezone.now()
    found = open_exceptions_by_type()
    open_ = GaugeMetricFamily(
        "platform_reconciliation_exceptions_open",
        "Reconciliation exceptions open (waiting for staff), by type.",
        labels=["type"],
    )
    oldest = GaugeMetricFamily(
        "platform_reconciliation_exceptions_oldest_seconds",
        "Age of the oldest open reconciliation exception of each type (0: none open).",
        labels=["type"],
    )
    for type_ in ExceptionType.values:
        count, since = found.get(type_, (0, None))
        open_.add_metric([type_], count)
        oldest.add_metric([type_], seconds_since(since, now))
    yield open_
    yield oldest
