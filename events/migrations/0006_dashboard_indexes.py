"""Indexes for the back office's dashboard (backoffice/dashboard.py): the deliveries that failed for good, by when
(a partial index: a few rows), and, on PostgreSQL only, a BRIN index on the attempts' ``started_at`` (rows are
appended in time order: a few pages index millions of them, and an insert costs nothing more)."""

from django.db import migrations, models


def brin_forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS webhookattempt_started_brin ON events_webhookattempt USING brin (started_at)"
        )


def brin_backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS webhookattempt_started_brin")


class Migration(migrations.Migration):
    dependencies = [("events", "0005_endpoint_rotation_description")]

    operations = [
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "failed")), fields=["completed_at"], name="delivery_failed"
            ),
        ),
        migrations.RunPython(brin_forwards, brin_backwards),
    ]
