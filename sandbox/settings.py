"""Django settings of the sandbox processor service (not of the platform).

Only what the service needs: its own app and its own database, by default a
SQLite file beside the platform's under var/. Everything else is configured at
run time through the environment (see ``sandbox/config.py``).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parents[1]

# A sandbox holds no secrets worth protecting; a fixed key keeps it zero-configuration.
SECRET_KEY = "sandbox-processor-fixed-key-it-signs-nothing-of-value"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = ["sandbox"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "sandbox.urls"
# Only for the wallet's approval page (sandbox/templates/); autoescaping on, as by default.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
WSGI_APPLICATION = "sandbox.wsgi.application"

_DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'var' / 'sandbox.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("SANDBOX_DATABASE_URL") or _DEFAULT_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction begins, so concurrent
        # writers queue on the busy timeout instead of failing on lock upgrade.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # One connection per server thread, kept for the thread's life: reopening
    # (and re-running the PRAGMAs) on every request would cost more than the request.
    DATABASES["default"]["CONN_MAX_AGE"] = None
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

# Requests carry card numbers (POST /v1/tokens): nothing here logs a request body.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SANDBOX_LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}
