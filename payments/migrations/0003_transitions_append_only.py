"""On PostgreSQL a payment's transition history refuses UPDATE and DELETE."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS payments_paymenttransition_append_only ON payments_paymenttransition;"
        "CREATE TRIGGER payments_paymenttransition_append_only BEFORE UPDATE OR DELETE ON payments_paymenttransition "
        "FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS payments_paymenttransition_append_only ON payments_paymenttransition;"
        )


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_dispute_refund"), ("core", "0003_audit_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
