"""The audit trail as one list: a view over the audit entries and the payments' state transitions.

``UNION ALL`` of two simple branches, so PostgreSQL plans it as an append of the two tables: a filter on the
view's columns reaches each table's own index (``object_id`` of a transition is its ``payment_id``, its
``object_type`` the constant ``payment``), and "newest first" merges the two ``created`` indexes.
"""

from django.db import migrations, models

POSTGRESQL = """
CREATE OR REPLACE VIEW backoffice_audittrail AS
SELECT 'a' || a.id AS key, 'audit'::text AS source, a.id::bigint AS source_id, a.created,
       a.actor::text AS actor, a.action::text AS action, a.object_type::text AS object_type,
       a.object_id::text AS object_id, a.before, a.after, a.reason
  FROM core_auditentry a
UNION ALL
SELECT 't' || t.id, 'transition'::text, t.id::bigint, t.created,
       t.actor::text, ('payment.' || t.transition)::text, 'payment'::text,
       t.payment_id::text,
       CASE WHEN t.from_status = '' THEN NULL ELSE jsonb_build_object('status', t.from_status) END,
       jsonb_build_object('status', t.to_status), t.reason
  FROM payments_paymenttransition t
"""

SQLITE = """
CREATE VIEW IF NOT EXISTS backoffice_audittrail AS
SELECT 'a' || a.id AS key, 'audit' AS source, a.id AS source_id, a.created, a.actor, a.action, a.object_type,
       a.object_id, a.before, a.after, a.reason
  FROM core_auditentry a
UNION ALL
SELECT 't' || t.id, 'transition', t.id, t.created, t.actor, 'payment.' || t.transition, 'payment', t.payment_id,
       CASE WHEN t.from_status = '' THEN NULL ELSE json_object('status', t.from_status) END,
       json_object('status', t.to_status), t.reason
  FROM payments_paymenttransition t
"""


def forwards(apps, schema_editor):
    schema_editor.execute(POSTGRESQL if schema_editor.connection.vendor == "postgresql" else SQLITE, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute("DROP VIEW IF EXISTS backoffice_audittrail", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0005_dashboard_statistics"),
        ("core", "0005_audit_refuses_truncate"),
        ("payments", "0015_transition_created_index"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.CreateModel(
            name="AuditTrail",
            fields=[
                ("key", models.CharField(max_length=24, primary_key=True, serialize=False)),
                ("source", models.CharField(choices=[("audit", "Audit"), ("transition", "Transition")], max_length=16)),
                ("source_id", models.BigIntegerField()),
                ("created", models.DateTimeField()),
                ("actor", models.CharField(max_length=150)),
                ("action", models.CharField(max_length=64)),
                ("object_type", models.CharField(max_length=32)),
                ("object_id", models.CharField(max_length=64)),
                ("before", models.JSONField(null=True)),
                ("after", models.JSONField(null=True)),
                ("reason", models.TextField()),
            ],
            options={
                "verbose_name": "audit trail entry",
                "verbose_name_plural": "audit trail",
                "db_table": "backoffice_audittrail",
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
