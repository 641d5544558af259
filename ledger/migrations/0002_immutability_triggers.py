"""Make the ledger append-only in the database itself (PostgreSQL only).

- ledger_posting: UPDATE and DELETE are refused.
- ledger_journalentry: DELETE is refused; UPDATE may only move ``status`` from
  ``pending`` to ``posted`` or ``voided``; every other column is frozen.
- ledger_account: DELETE is refused; UPDATE may only change the balance-limit flags.

TRUNCATE is refused too, by migration 0005 (statement triggers, with a switch that only the
test suite's flush sets).
On SQLite nothing is installed (the engine never updates or deletes either).
"""

from django.db import migrations

INSTALL = r"""
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only: % on % is refused; post a reversing entry instead', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_posting_append_only
    BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE OR REPLACE FUNCTION ledger_journalentry_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger is append-only: DELETE on ledger_journalentry is refused';
    END IF;
    IF (to_jsonb(NEW) - 'status') IS DISTINCT FROM (to_jsonb(OLD) - 'status') THEN
        RAISE EXCEPTION 'ledger is append-only: only the status of a journal entry may change';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT (OLD.status = 'pending' AND NEW.status IN ('posted', 'voided')) THEN
        RAISE EXCEPTION 'journal entry % cannot move from % to %', OLD.id, OLD.status, NEW.status;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_journalentry_guard
    BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_journalentry_guard();

CREATE OR REPLACE FUNCTION ledger_account_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger is append-only: DELETE on ledger_account is refused';
    END IF;
    IF (to_jsonb(NEW) - 'debits_must_not_exceed_credits' - 'credits_must_not_exceed_debits')
       IS DISTINCT FROM
       (to_jsonb(OLD) - 'debits_must_not_exceed_credits' - 'credits_must_not_exceed_debits') THEN
        RAISE EXCEPTION 'only the balance-limit flags of a ledger account may change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_account_guard
    BEFORE UPDATE OR DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_guard();
"""

UNINSTALL = r"""
DROP TRIGGER IF EXISTS ledger_account_guard ON ledger_account;
DROP TRIGGER IF EXISTS ledger_journalentry_guard ON ledger_journalentry;
DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_account_guard();
DROP FUNCTION IF EXISTS ledger_journalentry_guard();
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
