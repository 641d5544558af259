"""Beat schedule: void and cancel wallet payments the customer did not approve in time (every minute).

History only: the beat schedules are kept equal to ``config.schedules`` after every migrate
(post_migrate); this migration is no longer their source of truth.
"""

from django.db import migrations
from django.utils import timezone

NAME = "payments: expire wallet payments"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval = IntervalSchedule.objects.filter(every=1, period="minutes").order_by("id").first()
    interval = interval or IntervalSchedule.objects.create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "payments.expire_wallet_payments",
            "interval": interval,
            "crontab": None,
            "enabled": True,
            "expire_seconds": 120,
            "description": "Void and cancel (expired) wallet payments not approved within "
            "PAYMENT_WALLET_EXPIRY_SECONDS.",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_wallets"), ("events", "0002_beat_schedules")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
