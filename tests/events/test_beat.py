"""The beat schedules live in the database (django-celery-beat), created by a migration, editable in the admin."""

import pytest
from django_celery_beat.models import PeriodicTask

from config.celery import app

pytestmark = pytest.mark.django_db

EXPECTED = {
    "events.drain_outbox": ("interval", 5, "seconds"),
    "events.deliver_due": ("interval", 10, "seconds"),
    "payments.resolve_processing": ("interval", 30, "seconds"),
    "payments.expire_authorizations": ("interval", 1, "hours"),
    "payments.prune_idempotency_keys": ("interval", 1, "hours"),
    "payments.close_overdue_disputes": ("interval", 15, "minutes"),
}


def test_the_schedules_exist():
    tasks = {task.task: task for task in PeriodicTask.objects.select_related("interval", "crontab")}
    for name, (_, every, period) in EXPECTED.items():
        assert tasks[name].enabled and (tasks[name].interval.every, tasks[name].interval.period) == (every, period)
    nightly = tasks["ledger.tasks.ledger_check"]
    assert (nightly.crontab.minute, nightly.crontab.hour, str(nightly.crontab.timezone)) == ("30", "2", "UTC")


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for task in PeriodicTask.objects.all():
        assert task.task in app.tasks, task.task


def test_the_migration_can_run_again_without_duplicates():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("events.migrations.0002_beat_schedules")
    before = PeriodicTask.objects.count()
    migration.create_schedules(apps, None)
    assert PeriodicTask.objects.count() == before
