"""Per-merchant rate limiting: a fixed one-second window counted in the cache.

One cache round trip per request (INCR and EXPIRE, pipelined), so with Redis the limit holds across
every web process; with the local-memory cache it holds per process.

Redis is never in the payment path: when the cache cannot be reached, the window is
counted in this process instead, at the same rate (so the platform-wide limit is
loosened by the number of web processes until Redis answers again), and that is
logged at most once a minute per process (``core.failsoft``).
"""

import threading
import time
from functools import partial

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from core.failsoft import CACHE


def _requests_per_second() -> int:
    raw = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["merchant"]
    count, _, period = raw.partition("/")
    seconds = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[period]
    return max(1, int(count) // seconds)


def _count_in_cache(key: str) -> int:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # One round trip: INCR creates the window's counter at 1, EXPIRE lets it go once the window is over.
        # (The cache API would take two to four: EXISTS then INCR, and ADD on the window's first request.)
        full_key = backend.make_and_validate_key(key)
        counted, _ = (
            backend._cache.get_client(full_key, write=True)
            .pipeline(transaction=False)
            .incr(full_key)
            .expire(full_key, 2)
            .execute()
        )
        return counted
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        cache.add(key, 0, timeout=2)
        return cache.incr(key)


class _ProcessWindow:
    """The fallback: the current one-second window's request count per merchant, in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._window: int | None = None
        self._counts: dict[object, int] = {}

    def count(self, merchant_id, window: int) -> int:
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            self._counts[merchant_id] = self._counts.get(merchant_id, 0) + 1
            return self._counts[merchant_id]

    def reset(self) -> None:
        with self._lock:
            self._window, self._counts = None, {}


process_window = _ProcessWindow()


class MerchantRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        api_key = getattr(request, "auth", None)
        if api_key is None:
            return True
        window = int(time.time())
        key = f"ratelimit:{api_key.merchant_id}:{window}"
        count = CACHE.call(
            partial(_count_in_cache, key),
            otherwise=None,
            degraded="the rate limit is counted per process, at the same rate",
        )
        if count is None:
            count = process_window.count(api_key.merchant_id, window)
        self.wait_seconds = 1.0 - (time.time() - window)
        return count <= _requests_per_second()

    def wait(self):
        return getattr(self, "wait_seconds", 1.0)
