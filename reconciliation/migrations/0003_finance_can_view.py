"""Finance sees reconciliation runs and exceptions in the admin (backoffice 0002 gave it the permission to resolve).

Only ``view`` permissions are added: runs and exceptions are written by the
reconciliation services, never edited in the admin. Idempotent: the group is
found by name, content types and permissions are fetched or created (on a fresh
database Django creates permissions only after all migrations).

History only: the staff roles are kept equal to ``backoffice.roles`` after every migrate (post_migrate);
this list is no longer their source of truth.
"""

from django.db import migrations

VIEW = [
    ("reconciliationrun", "Can view reconciliation run"),
    ("reconciliationexception", "Can view reconciliation exception"),
]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    finance, _ = Group.objects.get_or_create(name="Finance")
    for model, name in VIEW:
        content_type, _ = ContentType.objects.get_or_create(app_label="reconciliation", model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=f"view_{model}", defaults={"name": name}
        )
        finance.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    finance = Group.objects.filter(name="Finance").first()
    if finance is not None:
        finance.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="reconciliation", codename__in=[f"view_{model}" for model, _ in VIEW]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0002_beat_schedule"),
        ("backoffice", "0002_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
