"""The "Operations" staff group gets what it needs for webhooks and schedules (design.md, "Back office").

View the event log, endpoints, deliveries and attempts; re-send a delivery;
re-enable an endpoint; view and change the beat schedules. Idempotent: the group
and the permissions are fetched or created (on a fresh database Django creates
permissions only after all migrations, so they are created here when missing).

History only: the staff roles are kept equal to ``backoffice.roles`` after every migrate (post_migrate);
this list is no longer their source of truth.
"""

from django.db import migrations

GROUP = "Operations"
PERMISSIONS = [
    # app label, model, codename, name
    ("events", "event", "view_event", "Can view event"),
    ("events", "webhookendpoint", "view_webhookendpoint", "Can view webhook endpoint"),
    ("events", "webhookendpoint", "enable_webhookendpoint", "Can re-enable a disabled webhook endpoint"),
    ("events", "webhookdelivery", "view_webhookdelivery", "Can view webhook delivery"),
    ("events", "webhookdelivery", "resend_webhookdelivery", "Can re-send a webhook delivery"),
    ("events", "webhookattempt", "view_webhookattempt", "Can view webhook attempt"),
    ("django_celery_beat", "periodictask", "view_periodictask", "Can view periodic task"),
    ("django_celery_beat", "periodictask", "change_periodictask", "Can change periodic task"),
    ("django_celery_beat", "intervalschedule", "view_intervalschedule", "Can view interval"),
    ("django_celery_beat", "intervalschedule", "add_intervalschedule", "Can add interval"),
    ("django_celery_beat", "crontabschedule", "view_crontabschedule", "Can view crontab"),
    ("django_celery_beat", "crontabschedule", "add_crontabschedule", "Can add crontab"),
]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=GROUP).first()
    if group is not None:
        codenames = [row[2] for row in PERMISSIONS]
        group.permissions.remove(*Permission.objects.filter(codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_beat_schedules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
