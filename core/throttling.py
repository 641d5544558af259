"""Per-merchant rate limiting: a fixed one-second window counted in the cache.

One cache round trip per request (``incr``), so with Redis the limit holds across
every web process; with the local-memory cache it holds per process.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def _requests_per_second() -> int:
    raw = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["merchant"]
    count, _, period = raw.partition("/")
    seconds = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[period]
    return max(1, int(count) // seconds)


class MerchantRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        api_key = getattr(request, "auth", None)
        if api_key is None:
            return True
        window = int(time.time())
        key = f"ratelimit:{api_key.merchant_id}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:
            cache.add(key, 0, timeout=2)
            count = cache.incr(key)
        self.wait_seconds = 1.0 - (time.time() - window)
        return count <= _requests_per_second()

    def wait(self):
        return getattr(self, "wait_seconds", 1.0)
