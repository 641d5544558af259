"""Beat schedule: import the processor's exchange rates into FxRate (hourly).

History only: the beat schedules are kept equal to ``config.schedules`` after every migrate
(post_migrate); this migration is no longer their source of truth.
"""

from django.db import migrations
from django.utils import timezone

NAME = "payments: import exchange rates"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval = IntervalSchedule.objects.filter(every=1, period="hours").order_by("id").first()
    interval = interval or IntervalSchedule.objects.create(every=1, period="hours")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "payments.import_fx_rates",
            "interval": interval,
            "crontab": None,
            "enabled": True,
            "expire_seconds": 1800,
            "description": "Import the processor's exchange rates (rates finance set by hand are kept).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0007_cross_border"), ("events", "0002_beat_schedules")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
