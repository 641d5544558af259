"""Settings for the Celery workers that the crash test starts: the test settings with short webhook timeouts.

A short lease lets the test see a killed worker's deliveries taken over within seconds
instead of the default 30.
"""

from config.test_settings import *  # noqa: F403

WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_LEASE_SECONDS = 8
