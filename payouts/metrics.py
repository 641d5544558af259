"""Payouts' state for /metrics (``core.metrics``), computed from the database at each scrape."""

from prometheus_client.core import GaugeMetricFamily

from payouts.models import PayoutStatus
from payouts.selectors import payout_counts_by_status


def collect():
    counts = payout_counts_by_status()
    payouts = GaugeMetricFamily("platform_payouts", "Payouts in each status (every payout ever).", labels=["status"])
    for status in PayoutStatus.values:
        payouts.add_metric([status], counts.get(status, 0))
    yield payouts
