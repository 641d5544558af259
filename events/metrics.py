"""The outbox's and webhook deliveries' state for /metrics (``core.metrics``), computed at each scrape."""

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core.metrics import seconds_since
from events.selectors import outbox_backlog, webhook_deliveries_pending


def collect():
    now = timezone.now()
    unpublished, oldest = outbox_backlog()
    yield GaugeMetricFamily(
        "platform_outbox_unpublished_events", "Events recorded and not yet published to deliveries.", value=unpublished
    )
    yield GaugeMetricFamily(
        "platform_outbox_lag_seconds",
        "Age of the oldest unpublished event (0: the outbox is empty). Published within seconds when healthy.",
        value=seconds_since(oldest, now),
    )
    pending, earliest = webhook_deliveries_pending()
    yield GaugeMetricFamily(
        "platform_webhook_deliveries_pending",
        "Webhook deliveries not yet succeeded, failed for good or canceled (first attempts and retries).",
        value=pending,
    )
    yield GaugeMetricFamily(
        "platform_webhook_deliveries_overdue_seconds",
        "How long the most overdue pending delivery's next attempt has been due (0: none is due).",
        value=seconds_since(earliest, now),
    )
