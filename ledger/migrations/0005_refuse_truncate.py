"""The ledger refuses TRUNCATE as well as UPDATE and DELETE (PostgreSQL only; issue 12, item 3).

Row triggers (0002) do not fire for TRUNCATE, which empties a table without
visiting its rows; a ``BEFORE TRUNCATE … FOR EACH STATEMENT`` trigger does, also
when the table is reached through ``TRUNCATE <another table> CASCADE``.

The one exception: a transaction that ran ``SET LOCAL append_only.allow_truncate = 'on'``.
Django's test database flush needs it (``TransactionTestCase`` and pytest-django's
``transactional_db`` empty every table with one TRUNCATE after each test), and only
the test suite sets it, around the flush (``tests/conftest.py``). The custom setting
can be set by any session: this guards against accidents (``manage.py flush``, a
script's TRUNCATE, a CASCADE), like the row triggers, which the table owner could
disable too; keeping the application role from owning the tables is what stops a
deliberate attempt.
"""

from django.db import migrations

INSTALL = r"""
CREATE OR REPLACE FUNCTION ledger_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('append_only.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger is append-only: TRUNCATE on % is refused', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();
CREATE TRIGGER ledger_journalentry_no_truncate BEFORE TRUNCATE ON ledger_journalentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();
CREATE TRIGGER ledger_account_no_truncate BEFORE TRUNCATE ON ledger_account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();
"""

UNINSTALL = r"""
DROP TRIGGER IF EXISTS ledger_account_no_truncate ON ledger_account;
DROP TRIGGER IF EXISTS ledger_journalentry_no_truncate ON ledger_journalentry;
DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_refuse_truncate();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_entry_created_index")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
