"""On PostgreSQL a payment's transition history refuses TRUNCATE too (a statement trigger).

The function and its one exception (the test suite's flush) are in core/migrations/0005_audit_refuses_truncate.py.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS payments_paymenttransition_no_truncate ON payments_paymenttransition;"
        "CREATE TRIGGER payments_paymenttransition_no_truncate BEFORE TRUNCATE ON payments_paymenttransition "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_truncate();",
        params=None,
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS payments_paymenttransition_no_truncate ON payments_paymenttransition;", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("payments", "0010_operation_claims"), ("core", "0005_audit_refuses_truncate")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
