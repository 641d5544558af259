"""The beat schedules (config/schedules.py): one list, stored with django-celery-beat after every migrate."""

import json

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from config.celery import app
from config.schedules import SCHEDULES, Schedule, schedules_sync

pytestmark = pytest.mark.django_db

EXPECTED = {
    "events.drain_outbox": ("interval", 5, "seconds"),
    "events.deliver_due": ("interval", 10, "seconds"),
    "payments.resolve_processing": ("interval", 30, "seconds"),
    "payments.expire_authorizations": ("interval", 1, "hours"),
    "payments.prune_idempotency_keys": ("interval", 1, "hours"),
    "payments.close_overdue_disputes": ("interval", 15, "minutes"),
    "payments.expire_wallet_payments": ("interval", 1, "minutes"),
    "payments.import_fx_rates": ("interval", 1, "hours"),
    "ledger.tasks.mature_funds": ("interval", 60, "seconds"),
    "payouts.pay_out_automatically": ("interval", 5, "minutes"),
    "checkout.sync_attempts": ("interval", 30, "seconds"),
    "checkout.expire_sessions": ("interval", 1, "minutes"),
}


def rows() -> dict[str, PeriodicTask]:
    return {task.name: task for task in PeriodicTask.objects.select_related("interval", "crontab")}


def test_the_schedules_exist():
    tasks = {task.task: task for task in PeriodicTask.objects.select_related("interval", "crontab")}
    for name, (_, every, period) in EXPECTED.items():
        assert tasks[name].enabled and (tasks[name].interval.every, tasks[name].interval.period) == (every, period)
    nightly = tasks["ledger.tasks.ledger_check"]
    assert (nightly.crontab.minute, nightly.crontab.hour, str(nightly.crontab.timezone)) == ("30", "2", "UTC")
    reconcile = tasks["reconciliation.reconcile_previous_day"]
    assert (reconcile.crontab.minute, reconcile.crontab.hour, str(reconcile.crontab.timezone)) == ("0", "2", "UTC")


def test_every_listed_task_is_a_registered_celery_task():
    app.loader.import_default_modules()
    for schedule in SCHEDULES:
        assert schedule.task in app.tasks, schedule.task


def test_every_stored_schedule_is_one_of_the_list():
    stored = rows()
    assert set(stored) == {schedule.name for schedule in SCHEDULES}
    for schedule in SCHEDULES:
        row = stored[schedule.name]
        assert (row.task, row.expire_seconds, json.loads(row.kwargs)) == (
            schedule.task,
            schedule.expire_seconds,
            schedule.kwargs,
        )


def test_migrate_twice_leaves_exactly_one_row_per_schedule(transactional_db):
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    names = list(PeriodicTask.objects.values_list("name", flat=True))
    assert sorted(names) == sorted(schedule.name for schedule in SCHEDULES)


def test_the_list_wins_over_edits_except_an_operators_enabled_toggle():
    drain = PeriodicTask.objects.get(name="events: drain the outbox")
    drain.enabled = False
    drain.expire_seconds = 9999
    drain.save()
    PeriodicTask.objects.filter(name="ledger: nightly check").delete()
    schedules_sync()
    schedules_sync()
    stored = rows()
    assert (stored["events: drain the outbox"].enabled, stored["events: drain the outbox"].expire_seconds) == (
        False,
        30,
    )
    assert stored["ledger: nightly check"].enabled  # created again, switched on
    assert PeriodicTask.objects.count() == len(SCHEDULES)


def test_a_schedule_is_an_interval_or_a_daily_time_never_both():
    with pytest.raises(ValueError):
        Schedule("both", "events.drain_outbox", "", every=1, period="hours", minute="0", hour="2")
    with pytest.raises(ValueError):
        Schedule("neither", "events.drain_outbox", "")
