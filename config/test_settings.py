"""Explicit settings for the test suite: config.settings with test-only defaults.

DATABASE_URL and REDIS_URL are honoured as in production, so CI runs the suite
against PostgreSQL and Redis; without them the suite runs on SQLite.
"""

import os

# Never the .env that `make run` writes for a developer's second shell: the suite, and every process it starts
# (PLATFORM_ENV_FILE passes through tests.processes.clean_env), run with the environment they are given only.
os.environ["PLATFORM_ENV_FILE"] = ""
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_URLS", "1")
os.environ.setdefault("PROCESSOR_WEBHOOK_SECRET", "whsec_test_processor_secret")
os.environ.setdefault("PROCESSOR_SANDBOX_EU_WEBHOOK_SECRET", "whsec_test_sandbox_eu_secret")
# Nothing listens on the discard port: a test that forgets to start the second sandbox is refused at once, and never
# reaches a developer's `make run` on 8090.
os.environ.setdefault("PROCESSOR_SANDBOX_EU_BASE_URL", "http://127.0.0.1:9")

from config.settings import *  # noqa: E402,F403
from config.settings import LOGGING, REST_FRAMEWORK  # noqa: E402

# Committed payment changes would queue an outbox drain on the broker after every
# test transaction; the tests that exercise draining turn it back on.
EVENTS_DRAIN_ON_COMMIT = False
# Likewise for the send of a new payout: the payout tests run the send themselves.
PAYOUTS_SEND_ON_COMMIT = False

# Staff sign in with a second factor, as in production (tests.staff logs in with a TOTP code);
# the tests of the development mode turn it off.
STAFF_REQUIRE_OTP = True
# Fast hashing for staff users created by tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"merchant": "100000/s"}}
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}
