"""The platform's beat schedules, stored with django-celery-beat so Operations can see and change them in the admin.

Idempotent: each task is found by its name (update_or_create), each schedule is
reused when one with the same values exists. ``expire_seconds`` drops a frequent
task's message that no worker took in time, so a stopped worker does not come back
to a pile of stale copies (the next run does the same work).

History only: the beat schedules are kept equal to ``config.schedules`` after every migrate
(post_migrate); this migration is no longer their source of truth.
"""

from django.db import migrations
from django.utils import timezone

INTERVALS = [
    # name, task, every, period, expire_seconds, description
    (
        "events: drain the outbox",
        "events.drain_outbox",
        5,
        "seconds",
        30,
        "Create webhook deliveries for newly recorded events (also queued right after each commit).",
    ),
    (
        "events: deliver due webhooks",
        "events.deliver_due",
        10,
        "seconds",
        60,
        "Re-queue webhook retries that are due and deliveries whose worker died.",
    ),
    (
        "payments: resolve processing",
        "payments.resolve_processing",
        30,
        "seconds",
        120,
        "Ask the processor about payments whose outcome is unknown.",
    ),
    (
        "payments: expire authorizations",
        "payments.expire_authorizations",
        1,
        "hours",
        None,
        "Release authorisations not captured within 7 days.",
    ),
    (
        "payments: prune idempotency keys",
        "payments.prune_idempotency_keys",
        1,
        "hours",
        None,
        "Delete idempotency keys older than 24 hours.",
    ),
]
CRONTABS = [
    # name, task, (minute, hour), description
    (
        "ledger: nightly check",
        "ledger.tasks.ledger_check",
        ("30", "2"),
        "Prove the ledger invariants every night at 02:30 UTC; a failure is logged at ERROR.",
    ),
]


def _interval(IntervalSchedule, every, period):
    schedule = IntervalSchedule.objects.filter(every=every, period=period).order_by("id").first()
    return schedule or IntervalSchedule.objects.create(every=every, period=period)


def _crontab(CrontabSchedule, minute, hour):
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "*",
        "timezone": "UTC",
    }
    schedule = CrontabSchedule.objects.filter(**values).order_by("id").first()
    return schedule or CrontabSchedule.objects.create(**values)


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, period, expire_seconds, description in INTERVALS:
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": _interval(IntervalSchedule, every, period),
                "crontab": None,
                "expire_seconds": expire_seconds,
                "enabled": True,
                "description": description,
            },
        )
    for name, task, (minute, hour), description in CRONTABS:
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "crontab": _crontab(CrontabSchedule, minute, hour),
                "interval": None,
                "enabled": True,
                "description": description,
            },
        )
    # Tell a running beat (DatabaseScheduler) that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    names = [row[0] for row in INTERVALS] + [row[0] for row in CRONTABS]
    PeriodicTask.objects.filter(name__in=names).delete()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
