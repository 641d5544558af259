"""The nightly reconciliation, stored with django-celery-beat so Operations can see and change it in the admin.

Idempotent, in the style of events 0002: the task is found by its name
(update_or_create), and the crontab is reused when one with the same values exists.
02:00 UTC: the previous UTC day's report is final by then.

History only: the beat schedules are kept equal to ``config.schedules`` after every migrate
(post_migrate); this migration is no longer their source of truth.
"""

from django.db import migrations
from django.utils import timezone

NAME = "reconciliation: reconcile the previous day"
TASK = "reconciliation.reconcile_previous_day"
DESCRIPTION = (
    "Fetch the processor's settlement report of the previous UTC day, match it against the ledger and "
    "record every difference as a reconciliation exception (02:00 UTC)."
)


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


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": _crontab(CrontabSchedule, "0", "2"),
            "interval": None,
            "enabled": True,
            "description": DESCRIPTION,
        },
    )
    # Tell a running beat (DatabaseScheduler) that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTask.objects.filter(name=NAME).delete()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
