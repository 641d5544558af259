"""Settings for the web process that the Redis-down test starts: the test settings, kicking the outbox on commit.

With the kick on, every committed payment publishes a drain through the broker, as in
production, so the test also proves that a broker that does not answer stays out of
the payment's path.
"""

from config.test_settings import *  # noqa: F403

EVENTS_DRAIN_ON_COMMIT = True
