"""On PostgreSQL the audit trail refuses TRUNCATE too (a statement trigger; row triggers never see it).

As for the ledger (ledger/migrations/0005_refuse_truncate.py), a transaction that ran
``SET LOCAL append_only.allow_truncate = 'on'`` may: only the test suite's database
flush does (tests/conftest.py). ``refuse_history_truncate()`` serves payments' history too.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION refuse_history_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('append_only.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS core_auditentry_no_truncate ON core_auditentry;"
        "CREATE TRIGGER core_auditentry_no_truncate BEFORE TRUNCATE ON core_auditentry "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_truncate();",
        params=None,
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS core_auditentry_no_truncate ON core_auditentry;"
            "DROP FUNCTION IF EXISTS refuse_history_truncate();",
            params=None,
        )


class Migration(migrations.Migration):
    dependencies = [("core", "0004_recovery_points")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
