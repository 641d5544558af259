"""What each automatic payout paid (``SettledTransaction``), insert-only like the postings.

On PostgreSQL the table gets the ledger's triggers: UPDATE and DELETE refused (``ledger_refuse_change``, 0002),
TRUNCATE refused (``ledger_refuse_truncate``, 0005).
"""

import django.db.models.deletion
from django.db import migrations, models

INSTALL = r"""
CREATE TRIGGER ledger_settledtransaction_append_only
    BEFORE UPDATE OR DELETE ON ledger_settledtransaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_settledtransaction_no_truncate BEFORE TRUNCATE ON ledger_settledtransaction
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();
"""

UNINSTALL = r"""
DROP TRIGGER IF EXISTS ledger_settledtransaction_no_truncate ON ledger_settledtransaction;
DROP TRIGGER IF EXISTS ledger_settledtransaction_append_only ON ledger_settledtransaction;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0007_funds_mature"),
    ]

    operations = [
        migrations.CreateModel(
            name="SettledTransaction",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="settlement",
                        serialize=False,
                        to="ledger.journalentry",
                    ),
                ),
                (
                    "payout_entry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="settles",
                        to="ledger.journalentry",
                    ),
                ),
            ],
            options={
                "ordering": ["entry_id"],
            },
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
