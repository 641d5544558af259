"""The Redis cache backend the settings name: Django's, with one client per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` for every cache call, which copies its table of
about 170 response callbacks each time: three times per create-and-confirm (the rate limit's count, a card
token's look-up, the outbox kick), 5% of the web tier's CPU. A ``redis.Redis`` holds no connection of its own
(each command borrows one from the pool) and may be shared, so one per pool serves every call. Django
keeps a cache backend per thread, and with it these clients.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ClientPerPool(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._pools.get(index)
            if pool is None:
                pool = self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ClientPerPool
