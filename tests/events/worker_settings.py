"""Settings for the Celery workers that the crash test starts: the test settings with a short webhook timeout.

The lease and the sweep are the production defaults: the test measures how long a
killed worker's deliveries wait with them.
"""

from config.test_settings import *  # noqa: F403

WEBHOOK_TIMEOUT_SECONDS = 5
