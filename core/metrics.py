"""The platform's Prometheus metrics: the in-process ones (defined here, one catalogue) and the gauges apps
compute from the database at scrape time (registered here by each app: core imports no app).

Two kinds, because they answer different questions:

- **In-process events** (``Counter``/``Histogram`` below): HTTP requests, processor calls, webhook attempts.
  Each process counts its own. Under ``PROMETHEUS_MULTIPROC_DIR`` (``scripts/run`` and the Procfile set it)
  every process of the host (each web worker and each Celery child) writes its values to a file there, and a
  scrape adds up all of them: one scrape of any web worker sees the whole host. Without it, a scrape sees only
  the process that answered it (tests, and servers started otherwise).
- **State** (``metrics_collector_register``): payments by status, the outbox's lag, the resolver's backlog…
  computed from the database at scrape time by cheap aggregates, so they are right whichever process answers
  and survive restarts. Each collector is timed and isolated: one that fails is reported as
  ``platform_metrics_collector_up{collector} 0`` and the rest of the scrape is still served.
"""

import logging
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Latency buckets for web requests and processor calls: 5 ms to 30 s (the processor's read timeout is seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- In-process events ------------------------------------------------------------------------------------------

http_requests = Counter(
    "platform_http_requests",
    "HTTP requests answered, by route (the URL pattern, not the path), method and status class (2xx…5xx).",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "platform_http_request_duration_seconds",
    "Time to answer an HTTP request (the whole middleware stack), by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
processor_request_duration = Histogram(
    "platform_processor_request_duration_seconds",
    "Time a call to an acquirer took (answered or not), by acquirer and operation (authorize, capture…).",
    ["acquirer", "operation"],
    buckets=LATENCY_BUCKETS,
)
processor_errors = Counter(
    "platform_processor_errors",
    "Calls to an acquirer that did not succeed, by acquirer, operation and kind: declined (a definite decline), "
    "rejected (a definite 4xx), unavailable (outcome unknown), not_reached (never sent), error (anything else).",
    ["acquirer", "operation", "kind"],
)
webhook_delivery_attempts = Counter(
    "platform_webhook_delivery_attempts",
    "Webhook delivery attempts to merchants' endpoints by outcome: succeeded, retry (failed, another attempt is "
    "scheduled), failed (failed for good: retries exhausted or 410 Gone), canceled (endpoint disabled first).",
    ["outcome"],
)


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when set. prometheus_client reads it when it is first imported, so it must
    be in the environment before the process starts (``scripts/run``, the Procfile), never set later."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_dir_ensure() -> None:
    """Create the multi-process directory if the process was started without ``scripts/run`` (which empties
    it at each start): prometheus_client writes there on the first increment and fails if it is missing."""
    directory = multiprocess_dir()
    if directory:
        os.makedirs(directory, exist_ok=True)


# Here, before any metric is incremented: whatever imports a metric can increment it.
multiprocess_dir_ensure()


# --- State computed from the database at scrape time ------------------------------------------------------------

_collectors: dict[str, Callable[[], Iterable[Metric]]] = {}


def metrics_collector_register(name: str, collect: Callable[[], Iterable[Metric]]) -> None:
    """Add ``collect()``'s metric families to every scrape. ``collect`` runs at scrape time, in the request that
    scrapes: it must be a few cheap aggregate queries (index scans or a small table), never a walk of history."""
    _collectors[name] = collect


class _DatabaseCollector:
    """Every registered collector, each timed and isolated from the others' failures."""

    def describe(self):
        # Nothing up front: collecting would query the database when the registry is built.
        return []

    def collect(self):
        up = GaugeMetricFamily(
            "platform_metrics_collector_up",
            "1 when the collector's queries answered in this scrape, 0 when they failed (see the logs).",
            labels=["collector"],
        )
        seconds = GaugeMetricFamily(
            "platform_metrics_collector_duration_seconds",
            "Time the collector's queries took in this scrape.",
            labels=["collector"],
        )
        for name, collect in _collectors.items():
            started = time.perf_counter()
            try:
                families = _bounded(collect)
            except Exception:  # noqa: BLE001 - one broken collector must not hide every other metric
                logger.exception("metrics collector %s failed", name)
                up.add_metric([name], 0)
            else:
                yield from families
                up.add_metric([name], 1)
            seconds.add_metric([name], time.perf_counter() - started)
        yield up
        yield seconds


def _bounded(collect) -> list[Metric]:
    """``collect()``'s families, its queries cut off after ``METRICS_QUERY_TIMEOUT_MS`` on PostgreSQL (a scrape
    must never become the database's slowest client: a collector cut off is reported down, not waited for)."""
    if connection.vendor != "postgresql":
        return list(collect())
    with transaction.atomic():
        previous = _statement_timeout(str(int(settings.METRICS_QUERY_TIMEOUT_MS)))
        families = list(collect())
        # Within an enclosing transaction (a test's) the setting would outlive this block: put it back.
        _statement_timeout(previous)
        return families


def _statement_timeout(value: str) -> str:
    """Set this transaction's statement_timeout (``SET LOCAL``, which takes no parameter under server-side
    binding, hence set_config); returns the one it replaces."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)", [value]
        )
        return cursor.fetchone()[0]


class _InProcessCollector:
    """This process's own registry (single-process mode): its counters, histograms and process metrics."""

    def describe(self):
        return []

    def collect(self):
        yield from REGISTRY.collect()


def metrics_exposition() -> bytes:
    """The whole scrape in Prometheus' text format: the in-process events (of every process of the host in
    multi-process mode, else of this one) and the database-derived state."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_InProcessCollector())
    registry.register(_DatabaseCollector())
    return generate_latest(registry)


def seconds_since(moment, now) -> float:
    """How long ago ``moment`` was, 0 when it is None or not yet past (a gauge of age reads 0 when all is well)."""
    if moment is None:
        return 0.0
    return max(0.0, (now - moment).total_seconds())
