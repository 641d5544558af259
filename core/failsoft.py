"""Calls to Redis (the cache and the Celery broker) that degrade instead of failing a request.

Redis is never in the payment path (issue 11): the rate limit, the card-token cache and
the outbox kick all have a way to do without it. ``CACHE.call`` and ``BROKER.call`` run
one operation and, when it fails because the server cannot be reached, return the
caller's ``otherwise`` value instead of raising:

    count = CACHE.call(lambda: cache.incr(key), otherwise=None, degraded="the rate limit is counted per process")

Only connection-type errors are absorbed (refused, reset, timed out); anything else,
a bug or a refused command, still raises. After a failure the dependency is taken as
down for ``RETRY_AFTER_SECONDS``: calls return ``otherwise`` at once without trying,
so an unreachable host (a connect timeout, not a quick refusal) costs one timeout per
process every few seconds, not one per request. Each way of degrading is logged as a
warning at most once per ``WARN_EVERY_SECONDS`` per process, and recovery once.
``/healthz`` probes Redis itself and does not read this state.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import kombu.exceptions
import redis.exceptions

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0

# OSError covers the socket errors a client lets through unwrapped (and the filesystem broker's).
REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
# kombu re-raises a transport's connection (and channel) errors as OperationalError ("Error 111 connecting to …");
# a publish is only a hint, so a broker refusing it for any such reason is treated as unavailable.
BROKER_UNAVAILABLE = (*REDIS_UNAVAILABLE, kombu.exceptions.OperationalError)


class FailSoft:
    """One optional dependency: its calls fall back to a value while it cannot be reached."""

    def __init__(self, name: str, errors: tuple[type[BaseException], ...]):
        self.name = name
        self.errors = errors
        self._lock = threading.Lock()
        self._down_until = 0.0  # time.monotonic() before which calls are not even tried
        self._failing = False
        self._warned_at: dict[str, float] = {}  # degraded → when it was last logged

    @property
    def down(self) -> bool:
        """Whether the last call failed less than ``RETRY_AFTER_SECONDS`` ago."""
        return time.monotonic() < self._down_until

    def call(self, operation: Callable[[], T], *, otherwise: T, degraded: str) -> T:
        """``operation()``, or ``otherwise`` when the dependency cannot be reached.

        ``degraded`` says, for the log, what the caller does without it.
        """
        if self.down:
            self._warn(degraded, None)
            return otherwise
        try:
            result = operation()
        except self.errors as exc:
            with self._lock:
                self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
                self._failing = True
            self._warn(degraded, exc)
            return otherwise
        if self._failing:
            with self._lock:
                recovered, self._failing = self._failing, False
                self._warned_at.clear()
            if recovered:
                logger.warning("%s: available again", self.name)
        return result

    def _warn(self, degraded: str, exc: BaseException | None) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._warned_at.get(degraded)
            if last is not None and now - last < WARN_EVERY_SECONDS:
                return
            self._warned_at[degraded] = now
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "it failed moments ago"
        logger.warning(
            "%s unavailable (%s); %s (logged at most every %d s)", self.name, reason, degraded, WARN_EVERY_SECONDS
        )

    def reset(self) -> None:
        """Forget past failures and warnings (tests)."""
        with self._lock:
            self._down_until = 0.0
            self._failing = False
            self._warned_at.clear()


CACHE = FailSoft("cache (Redis)", REDIS_UNAVAILABLE)
BROKER = FailSoft("broker", BROKER_UNAVAILABLE)


def reset() -> None:
    """Forget past failures and warnings of every dependency (tests)."""
    CACHE.reset()
    BROKER.reset()
