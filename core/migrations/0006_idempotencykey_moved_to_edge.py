"""``IdempotencyKey`` now belongs to the HTTP edge (edge 0001): removed from core's state only, its table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_audit_refuses_truncate"),
        ("edge", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotencyKey")],
            database_operations=[],
        ),
    ]
