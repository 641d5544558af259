"""The web process of tests/security/test_no_card_number_is_kept.py: the test settings, every logger at DEBUG.

Production logs at INFO (``LOG_LEVEL``); the suite at WARNING. DEBUG writes the most a process can write
(urllib3's requests to the processor, axes' failures, the guard's refusals), so the scan reads all of it.
"""

from config.test_settings import *  # noqa: F403
from config.test_settings import LOGGING

LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "DEBUG"}}
