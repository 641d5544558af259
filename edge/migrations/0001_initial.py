"""``IdempotencyKey`` moves from core to the HTTP edge: the same table (``core_idempotencykey``), state only.

Core's 0006 removes the model from core's state after this one adds it here; the database is not touched.
The content type (and its permissions) follows the model, so nothing keeps pointing at ``core``.
"""

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="edge", model="idempotencykey").exists():
        ContentType.objects.filter(app_label="core", model="idempotencykey").update(app_label="edge")


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="core", model="idempotencykey").exists():
        ContentType.objects.filter(app_label="edge", model="idempotencykey").update(app_label="core")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("merchants", "0001_initial"),
        ("core", "0005_audit_refuses_truncate"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        ("method", models.CharField(max_length=8)),
                        ("path", models.CharField(max_length=512)),
                        ("fingerprint", models.CharField(max_length=64)),
                        (
                            "status",
                            models.CharField(
                                choices=[("in_progress", "In Progress"), ("completed", "Completed")],
                                default="in_progress",
                                max_length=16,
                            ),
                        ),
                        (
                            "recovery_point",
                            models.CharField(
                                choices=[
                                    ("started", "Started"),
                                    ("intent_recorded", "Intent Recorded"),
                                    ("processor_called", "Processor Called"),
                                    ("finished", "Finished"),
                                ],
                                default="started",
                                max_length=24,
                            ),
                        ),
                        ("resource_id", models.CharField(blank=True, max_length=64, null=True)),
                        ("locked_at", models.DateTimeField(blank=True, null=True)),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("response_body", models.BinaryField(blank=True, null=True)),
                        ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("completed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="merchants.merchant"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "core_idempotencykey",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("merchant", "key"), name="idempotency_key_unique_per_merchant"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
