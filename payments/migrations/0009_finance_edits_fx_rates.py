"""Finance views and edits exchange rates in the admin (``FxRate``); nobody deletes them there.

Idempotent: the group is found by name, content types and permissions are fetched or created (on a fresh
database Django creates permissions only after all migrations).

History only: the staff roles are kept equal to ``backoffice.roles`` after every migrate (post_migrate);
this list is no longer their source of truth.
"""

from django.db import migrations

PERMISSIONS = [
    ("view_fxrate", "Can view FX rate"),
    ("change_fxrate", "Can change FX rate"),
    ("add_fxrate", "Can add FX rate"),
]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    finance, _ = Group.objects.get_or_create(name="Finance")
    content_type, _ = ContentType.objects.get_or_create(app_label="payments", model="fxrate")
    for codename, name in PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        finance.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    finance = Group.objects.filter(name="Finance").first()
    if finance is not None:
        finance.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="payments", codename__in=[codename for codename, _ in PERMISSIONS]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0008_fx_rates_schedule"),
        ("backoffice", "0002_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
