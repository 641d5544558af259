"""Maturing funds for /metrics (``core.metrics``), computed from the database at each scrape."""

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core.metrics import seconds_since
from ledger.selectors import maturing_funds_due


def collect():
    now = timezone.now()
    due, earliest = maturing_funds_due(now=now)
    yield GaugeMetricFamily(
        "platform_maturing_funds_due",
        "Captures whose pending funds were due to become available by now and have not (mature_funds runs every "
        "minute, so a few are normal; a growing number is not).",
        value=due,
    )
    yield GaugeMetricFamily(
        "platform_maturing_funds_overdue_seconds",
        "How long the most overdue funds have been due to mature (0: none). Alert well above a minute.",
        value=seconds_since(earliest, now),
    )
