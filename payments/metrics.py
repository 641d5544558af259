"""Payments' state for /metrics (``core.metrics``), computed from the database at each scrape."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core.metrics import seconds_since
from payments.models import PaymentStatus
from payments.selectors import payment_counts_by_status, resolver_backlog


def collect():
    counts = payment_counts_by_status()
    payments = GaugeMetricFamily(
        "platform_payments", "Payments in each status (every payment ever).", labels=["status"]
    )
    for status in PaymentStatus.values:
        payments.add_metric([status], counts.get(status, 0))
    yield payments

    # The resolver looks at a payment once its outcome has been unknown for PAYMENT_RESOLVE_AFTER_SECONDS; a
    # younger one is still in its processor call, not backlog.
    now = timezone.now()
    backlog = resolver_backlog(cutoff=now - timedelta(seconds=settings.PAYMENT_RESOLVE_AFTER_SECONDS))
    waiting = GaugeMetricFamily(
        "platform_resolver_backlog",
        "Payments whose outcome at the processor is unknown and waiting for the resolver (unknown for longer "
        "than PAYMENT_RESOLVE_AFTER_SECONDS), by kind: charge (processing), capture_or_void (sent, no answer).",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        "platform_resolver_backlog_oldest_seconds",
        "How long the oldest payment of the resolver's backlog has had an unknown outcome (0: none).",
        labels=["kind"],
    )
    for kind, (count, since) in backlog.items():
        waiting.add_metric([kind], count)
        oldest.add_metric([kind], seconds_since(since, now))
    yield waiting
    yield oldest
