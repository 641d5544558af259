"""Beat schedule: close disputes whose evidence deadline passed without evidence (every 15 minutes).

History only: the beat schedules are kept equal to ``config.schedules`` after every migrate
(post_migrate); this migration is no longer their source of truth.
"""

from django.db import migrations
from django.utils import timezone

NAME = "payments: close overdue disputes"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval = IntervalSchedule.objects.filter(every=15, period="minutes").order_by("id").first()
    interval = interval or IntervalSchedule.objects.create(every=15, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "payments.close_overdue_disputes",
            "interval": interval,
            "crontab": None,
            "enabled": True,
            "description": "Disputes past evidence_due_by without evidence are lost (accepted at the processor).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("events", "0003_operations_group")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
