"""The Celery app. Settings are the CELERY_* names in config.settings."""

import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def import_fx_rates_when_ready(sender=None, **kwargs) -> None:
    """A worker that starts queues one import of the processor's exchange rates (retried with backoff while
    the processor is not up yet), so a deployment has rates within a minute of starting rather than after
    beat's first hourly run. Never raises: a worker starts whatever happens to the import."""
    try:
        from payments.tasks import fx_rates_import_when_worker_starts

        fx_rates_import_when_worker_starts()
    except Exception:  # noqa: BLE001 - best effort, the worker must start
        logging.getLogger(__name__).exception("exchange rates at worker start: not queued")
