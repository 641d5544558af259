"""``core.cache.RedisCache``: Django's Redis cache, answering the same, with one client per pool."""

import os
import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from core.cache import RedisCache
from tests.conftest import requires_redis


def backend() -> RedisCache:
    return RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": "test-core-cache"})


@requires_redis
def test_it_answers_as_djangos_cache_does_and_builds_one_client_per_pool():
    cache = backend()
    cache.delete_many(["counted", "kept"])
    assert cache.add("counted", 0, timeout=5) and not cache.add("counted", 5, timeout=5)
    assert cache.incr("counted") == 1 and cache.incr("counted", 2) == 3
    cache.set("kept", {"card": "visa"}, 5)
    assert cache.get("kept") == {"card": "visa"}
    assert DjangoRedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": "test-core-cache"}).get("kept") == {"card": "visa"}
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    cache.delete_many(["counted", "kept"])


@requires_redis
def test_threads_sharing_the_client_each_get_their_own_answers():
    cache = backend()
    keys = [f"thread-{n}" for n in range(8)]
    cache.delete_many(keys)
    errors = []

    def count(key):
        try:
            for expected in range(1, 201):
                cache.add(key, 0, timeout=10)
                assert cache.incr(key) == expected
        except AssertionError as error:  # pragma: no cover - the failure this test exists to catch
            errors.append(error)

    threads = [threading.Thread(target=count, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and cache.get_many(keys) == dict.fromkeys(keys, 200)
    cache.delete_many(keys)
