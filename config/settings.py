"""Settings for the payments platform, read from the environment.

Every value has a default that runs on a fresh machine (SQLite under var/ and a
serverless Celery broker); production sets DATABASE_URL, REDIS_URL and
DJANGO_SECRET_KEY. See README.md for the full list.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_currency_amounts,
    env_float,
    env_int,
    env_list,
    env_optional_int,
    env_str,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# `make run` writes the configuration it chose (DJANGO_DEBUG, the ports, DATABASE_URL…) to .env, mode 0600, so
# that management commands in a second shell run with it; a variable set in the environment wins over the file.
# PLATFORM_ENV_FILE names another file; empty, none is read (the test suite: config/test_settings.py).
load_env_file(env_str("PLATFORM_ENV_FILE", str(BASE_DIR / ".env")))
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)

_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is not 1")
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY

# API keys are stored as HMAC-SHA256(pepper, key). The pepper is a separate
# secret so that a leaked database alone cannot be used to test guesses.
API_KEY_PEPPER = env_str("API_KEY_PEPPER") or SECRET_KEY

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "backoffice.apps.StaffAdminConfig",  # django.contrib.admin, its site requiring a second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "config.apps.PlatformConfig",  # the platform's own system checks (config/checks.py)
    "core",
    "edge",
    "merchants",
    "gateways",
    "payments",
    "payouts",
    "ledger",
    "events",
    "reconciliation",
    "checkout",
    "backoffice",
    # The design case study, executable (docs/case-study.md): its run, its report, and the naive design's tables
    # (the naive design's URLs need CASESTUDY_NAIVE_ENABLED).
    "casestudy",
    "casestudy.naive",
]

MIDDLEWARE = [
    # First: it times the whole stack and counts what the others refuse (/metrics).
    "edge.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "edge.middleware.ApiRequestGuardMiddleware",
    "events.middleware.OutboxKickOncePerRequestMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # BACK_OFFICE_MIDDLEWARE, for every request but the merchant API's and the processor's webhooks.
    "edge.back_office_middleware.BackOfficeMiddleware",
]
BACK_OFFICE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",
]
# The admin's and axes' checks look for their middleware in MIDDLEWARE only; it is in BACK_OFFICE_MIDDLEWARE, which
# tests/config/test_back_office_middleware.py checks instead.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "axes.W002"]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Storage -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # Values travel apart from the SQL (psycopg's server-side binding), and a statement sent
        # DB_PREPARE_THRESHOLD times on a connection is prepared once and then only executed: PostgreSQL stops
        # parsing and planning the same statements on every payment (docs/performance.md). A statement sent once,
        # such as a migration's script of several commands, is sent as it is. Django leaves preparing off by
        # default for connection poolers in transaction mode: PgBouncer 1.21+ needs max_prepared_statements set
        # (docs/scaling.md); DB_PREPARE_THRESHOLD= (empty) turns it off.
        prepare_threshold = env_str("DB_PREPARE_THRESHOLD", "5")
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "server_side_binding": env_bool("DB_SERVER_SIDE_BINDING", True),
            "prepare_threshold": int(prepare_threshold) if prepare_threshold else None,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction begins, so two
                # writers queue instead of failing with "database is locked" on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
            },
            "TEST": {"NAME": str(VAR_DIR / "test-db.sqlite3")},
        }
    }
DB_VENDOR_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# The processor is called outside any transaction; a request-wide transaction
# would hold row locks across that network call.
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker and cache --------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
# Redis is never in the payment path (core.failsoft): a cache or broker call that fails degrades.
# These bound how long one attempt may wait on an unreachable host; redis-py makes a
# single attempt per cache command (no retries) when given a connection pool, as here.
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 1.0)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, i18n, static ----------------------------------------------------------
# Staff sign-in (backoffice/staff_auth.py). django-axes: AXES_FAILURE_LIMIT failed sign-ins of one
# username from one address lock that pair out for AXES_COOLOFF_MINUTES, the right password included;
# the count lives in the database, so every web process sees it.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "backoffice.staff_auth.lockout_response"
AXES_VERBOSE = False  # no start-up line in every process and command; failures and lockouts are still logged
# A TOTP second factor (django-otp) for every staff account: PCI DSS v4 8.4.2. Off only in development.
STAFF_REQUIRE_OTP = env_bool("STAFF_REQUIRE_OTP", not DEBUG)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Payments platform")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format in the admin, ISO-like with the zone: "2026-11-30 14:05 UTC" (config/formats/en/formats.py,
# which wins over Django's English formats; repeated here for code that reads the settings).
FORMAT_MODULE_PATH = ["config.formats"]
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files from the apps' folders as well, so the admin and the API
# reference work without a collectstatic step in development and tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Bodies over 1 MB are refused (413) before any view reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Security (check --deploy) -------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /metrics (edge/metrics.py, docs/security.md): the scraper's bearer token and/or the addresses (or networks)
# it may scrape from. No token: 404 unless DEBUG. Empty allow-list: any address (with the token).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "")
# Each collector's queries at a scrape are cut off after this long (its metrics are then missing, and
# platform_metrics_collector_up{collector} is 0); docs/performance.md has what they cost.
METRICS_QUERY_TIMEOUT_MS = env_int("METRICS_QUERY_TIMEOUT_MS", 2000)

# --- REST framework and OpenAPI ------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["merchants.authentication.ApiKeyAuthentication"],
    # IsMerchant first (a request without a key is a 401), then ids in the path and the query's text.
    "DEFAULT_PERMISSION_CLASSES": ["merchants.authentication.IsMerchant", "edge.api.WellFormedRequest"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Strict JSON: UTF-8, at most 1 MB, 32 levels deep, no NUL or lone surrogate in any string.
    "DEFAULT_PARSER_CLASSES": ["edge.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "edge.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["edge.throttling.MerchantRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"merchant": env_str("API_RATE_LIMIT", "10000/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payments platform API",
    "DESCRIPTION": "The merchant API: payments, refunds, disputes, balance, events and webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CurrencyEnum": "core.money.CURRENCY_CHOICES",
        "RefundReasonEnum": "payments.models.RefundReason",
        "CancellationReasonEnum": "payments.models.CancellationReason",
        "PaymentMethodTypeEnum": "payments.methods.PAYMENT_METHOD_TYPES",
        "EventSubscriptionEnum": "events.models.SUBSCRIPTION_CHOICES",
    },
    # Filters' enums and formats, ids' shapes, every error status (edge.schema.postprocess_schema).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "edge.schema.postprocess_schema"],
}

# --- Celery --------------------------------------------------------------------
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- The processors (acquirers) ------------------------------------------------
# PROCESSOR_NAMES lists the acquirers the platform talks to, each by a name of lower-case letters, digits and
# underscores. The first is configured by the PROCESSOR_* variables (as when there was only one), every other one
# by PROCESSOR_<NAME>_* (PROCESSOR_SANDBOX_EU_BASE_URL…). The default is the two sandbox acquirers `make run` and
# the tests start: "sandbox" (port 8089) and "sandbox_eu" (port 8090). config/processors.py builds the mapping.
from config.processors import processors_from_environment  # noqa: E402

PROCESSOR_DEVELOPMENT_API_KEY = "sk_sandbox_development"
PROCESSORS = processors_from_environment(
    names=env_list("PROCESSOR_NAMES", "sandbox,sandbox_eu"),
    development_api_key=PROCESSOR_DEVELOPMENT_API_KEY,
    default_ports={"sandbox": 8089, "sandbox_eu": 8090},
)
# Payments no routing rule matches go to this processor (payments.routing); the first one by default.
PROCESSOR_DEFAULT = env_str("PROCESSOR_DEFAULT") or next(iter(PROCESSORS))
if PROCESSOR_DEFAULT not in PROCESSORS:
    raise ImproperlyConfigured(f"PROCESSOR_DEFAULT {PROCESSOR_DEFAULT!r} is not one of PROCESSOR_NAMES")
# How far a processor webhook's timestamp may drift from our clock.
PROCESSOR_WEBHOOK_TOLERANCE_SECONDS = env_int("PROCESSOR_WEBHOOK_TOLERANCE_SECONDS", 300)

# --- Payments ----------------------------------------------------------------------
# A payment whose outcome is unknown is asked about after this long: longer than
# the processor timeouts, so the request that confirmed it has given up by then.
PAYMENT_RESOLVE_AFTER_SECONDS = env_int("PAYMENT_RESOLVE_AFTER_SECONDS", 30)
# Sends of one authorisation (always with the same key) that the processor never
# recorded, before the payment fails with processing_error.
PAYMENT_MAX_PROCESSOR_ATTEMPTS = env_int("PAYMENT_MAX_PROCESSOR_ATTEMPTS", 5)
PAYMENT_AUTHORIZATION_TTL_SECONDS = env_int("PAYMENT_AUTHORIZATION_TTL_SECONDS", 7 * 24 * 3600)
# A wallet payment not approved by the customer within this many seconds is voided and canceled (expired).
PAYMENT_WALLET_EXPIRY_SECONDS = env_int("PAYMENT_WALLET_EXPIRY_SECONDS", 900)
# --- Hosted checkout (checkout/) ---------------------------------------------------------------
# Where customers reach this platform: the base of a checkout session's `url` (`make run`: its web port).
CHECKOUT_PUBLIC_URL = env_str("CHECKOUT_PUBLIC_URL") or f"http://127.0.0.1:{env_int('PORT', 8000)}"
# An open session not paid within this long is expired (checkout.session.expired).
CHECKOUT_SESSION_TTL_SECONDS = env_int("CHECKOUT_SESSION_TTL_SECONDS", 24 * 3600)
# A payment attempt that made no payment within this long (its request died) no longer holds the session:
# longer than any request, the processor's timeouts included.
CHECKOUT_ATTEMPT_STALE_SECONDS = env_int("CHECKOUT_ATTEMPT_STALE_SECONDS", 120)

# Cross-border payments (currency other than the merchant's settlement currency): the margin taken off the
# mid-market rate when the rate is locked, and the extra fee on the converted amount, in basis points.
FX_MARGIN_BPS = env_int("FX_MARGIN_BPS", 100)
CROSS_BORDER_FEE_BPS = env_int("CROSS_BORDER_FEE_BPS", 100)

# --- Payouts -------------------------------------------------------------------------
# Queue the send of a new payout right after its creation commits (the sweep, every minute, is the safety net).
PAYOUTS_SEND_ON_COMMIT = env_bool("PAYOUTS_SEND_ON_COMMIT", True)
# A payout claimed for sending but still pending this long after the claim (its worker died, or the processor
# did not answer) is sent again by the sweep, with the same idempotency key. Above the processor timeouts.
PAYOUT_SEND_LEASE_SECONDS = env_int("PAYOUT_SEND_LEASE_SECONDS", 60)
# A payout still in transit this long after its arrival date is asked about (a lost webhook).
PAYOUT_RESOLVE_AFTER_SECONDS = env_int("PAYOUT_RESOLVE_AFTER_SECONDS", 60)
# A new payout's arrival_date is estimated at creation (the API shows it at once, as Stripe does) as its creation
# time plus the processors' usual transit time to a bank in the destination's country, in calendar days
# (PAYOUT_TRANSIT_DAYS="US:2,GB:1"; any other country: PAYOUT_TRANSIT_DAYS_DEFAULT). The processor's own
# arrival_date replaces the estimate as soon as it takes the payout.
PAYOUT_TRANSIT_DAYS = env_currency_amounts("PAYOUT_TRANSIT_DAYS", "US:2,CA:2,GB:1,AU:2,JP:3")
PAYOUT_TRANSIT_DAYS_DEFAULT = env_int("PAYOUT_TRANSIT_DAYS_DEFAULT", 1)
# Sends of one payout (always with the same key) that the processor never recorded, after which the sweep stops
# sending it again and marks it "needs attention" for Finance (it is never failed: docs/design.md, "Payouts").
PAYOUT_MAX_PROCESSOR_ATTEMPTS = env_int("PAYOUT_MAX_PROCESSOR_ATTEMPTS", 5)
IDEMPOTENCY_LOCK_TIMEOUT_SECONDS = env_int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", 120)

# --- Ledger ------------------------------------------------------------------------
# The platform fee on every capture: a percentage in basis points plus a fixed
# amount per currency in minor units (LEDGER_FEE_FIXED="USD:30,EUR:25").
LEDGER_FEE_PERCENT_BPS = env_int("LEDGER_FEE_PERCENT_BPS", 290)
LEDGER_FEE_FIXED = env_currency_amounts("LEDGER_FEE_FIXED", "USD:30,EUR:25,GBP:20,JPY:30,CAD:30,AUD:30")
# How long a capture's funds stay pending before they are available (Stripe's available_on): each merchant's
# payout_delay_days (default 2) unless this is set, which overrides it for the whole platform (tests and demos
# set a few seconds; 0 makes funds available at capture). ledger.tasks.mature_funds moves them every minute.
BALANCE_SETTLEMENT_DELAY_SECONDS = env_optional_int("BALANCE_SETTLEMENT_DELAY_SECONDS")
# How often beat runs ledger.tasks.mature_funds: funds are available within this long of their available_on (the
# contract says a minute; the fault simulator sets a few seconds so that it pays out what matured within its run).
LEDGER_MATURE_FUNDS_EVERY_SECONDS = env_int("LEDGER_MATURE_FUNDS_EVERY_SECONDS", 60)
# Funds still pending this long past their available_on are an alert (mature_funds is not running or not keeping
# up): a ``warning`` of ledger_check (funds_mature_on_time) and ``"status": "overdue"`` in /healthz's ``ledger``.
LEDGER_MATURING_OVERDUE_SECONDS = env_int("LEDGER_MATURING_OVERDUE_SECONDS", 600)

# What a chargeback costs the merchant, per currency in minor units (DISPUTE_FEE="USD:1500,EUR:1500").
DISPUTE_FEE = env_currency_amounts("DISPUTE_FEE", "USD:1500,EUR:1500,GBP:1500")
DISPUTE_FEE_DEFAULT = env_int("DISPUTE_FEE_DEFAULT", 1500)

# --- Back office ---------------------------------------------------------------------
# Refunds above this amount (per currency, minor units) made in the admin become a
# request that a different Finance user approves (REFUND_APPROVAL_THRESHOLD="USD:50000").
REFUND_APPROVAL_THRESHOLD = env_currency_amounts("REFUND_APPROVAL_THRESHOLD", "USD:50000,EUR:50000,GBP:50000")
REFUND_APPROVAL_THRESHOLD_DEFAULT = env_int("REFUND_APPROVAL_THRESHOLD_DEFAULT", 50000)
# How long the admin's home page (the dashboard, backoffice/dashboard.py) reuses its figures: each panel's
# aggregates are computed at most once per period for all staff and web processes (Django's cache). 0: every view.
BACKOFFICE_DASHBOARD_CACHE_SECONDS = env_int("BACKOFFICE_DASHBOARD_CACHE_SECONDS", 30)

# --- Reconciliation ----------------------------------------------------------------
# PostgreSQL work_mem for a reconciliation run's transaction (its hashes and sorts stay in memory).
RECONCILIATION_WORK_MEM = env_str("RECONCILIATION_WORK_MEM") or "256MB"

# --- Webhooks to merchants -----------------------------------------------------
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_SEND_CONCURRENCY = env_int("WEBHOOK_SEND_CONCURRENCY", 8)
# How long a delivery stays leased to the worker sending it without a renewal. A live worker
# renews its leases every third of this for as long as its batch takes; after a worker dies
# (SIGKILL), its deliveries are claimed again this long after its last renewal at the latest,
# by the next sweep (events.deliver_due, beat every 10 s): re-sent within about 20 s.
WEBHOOK_LEASE_SECONDS = env_float("WEBHOOK_LEASE_SECONDS", 10.0)
# How overdue (past next_attempt_at) a pending, unleased delivery must be before the sweep queues
# it again: a delivery that was just queued is about to be sent by the task already queued.
WEBHOOK_SWEEP_GRACE_SECONDS = env_float("WEBHOOK_SWEEP_GRACE_SECONDS", 5.0)
# An egress proxy for merchant webhooks (one that refuses private ranges closes the DNS-rebinding gap).
WEBHOOK_PROXY_URL = env_str("WEBHOOK_PROXY_URL")
# Kick the outbox drain right after a commit that recorded events (beat drains every 5 s anyway).
EVENTS_DRAIN_ON_COMMIT = env_bool("EVENTS_DRAIN_ON_COMMIT", True)

# --- The case study (issue 16) ---------------------------------------------------
# Mount the naive design's URLs (casestudy/naive/). Only `manage.py casestudy` sets it, in the web process it
# starts for the run; production never does (tests/casestudy/test_naive_urls.py).
CASESTUDY_NAIVE_ENABLED = env_bool("CASESTUDY_NAIVE_ENABLED", False)
# Where the naive design sends the merchant's webhook, inline (the run's own receiver).
CASESTUDY_NAIVE_WEBHOOK_URL = env_str("CASESTUDY_NAIVE_WEBHOOK_URL")

# --- Logging: never request bodies ------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Defence in depth (PCI DSS 3.3.1): every handler masks card numbers in what it writes (core.logging).
    "filters": {"card_numbers": {"()": "core.logging.CardNumberFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["card_numbers"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Celery: at least once, every task idempotent -------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Longer than the longest task, so a message is only redelivered when its
    # worker really died.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # A publish with retry=False (the platform's own: a task message is only a hint, beat and
        # the sweep are the safety net) makes one connection attempt instead of kombu's default
        # of retrying for connect_timeout (4 s) with 2 s pauses, so a web request never waits on
        # a dead broker. Publishes with retry=True (beat's) keep their retry_policy, and the
        # worker's and beat's own connections pass broker_connection_max_retries explicitly.
        "max_retries": 0,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        # Above kombu's 1 s BRPOP timeout; bounds a publish on a half-open connection.
        "socket_timeout": max(REDIS_SOCKET_TIMEOUT, 5.0),
    }
else:
    # kombu's filesystem transport: a broker that needs no server, for a fresh machine.
    CELERY_BROKER_URL = "filesystem://"
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
