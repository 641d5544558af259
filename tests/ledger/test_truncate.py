"""On PostgreSQL the append-only tables refuse TRUNCATE too (issue 12, item 3), like UPDATE and DELETE.

A ``BEFORE TRUNCATE … FOR EACH STATEMENT`` trigger on the ledger's postings, journal entries and
accounts, on the audit trail and on payments' transition history refuses the statement, also when
it reaches them through ``TRUNCATE … CASCADE`` from another table.

One escape: a transaction that has run ``SET LOCAL append_only.allow_truncate = 'on'``. Only the
test suite uses it, for Django's database flush (``TransactionTestCase`` and ``transactional_db``
tests empty every table with one TRUNCATE after each test): ``tests/conftest.py`` wraps the
PostgreSQL backend's ``execute_sql_flush`` so that the flush's own transaction sets it first. The
tests here run outside that wrapper, in the state any other session has. The switch guards
against accidents (a stray ``manage.py flush``, a script's TRUNCATE, a CASCADE), not against the
table owner, who could as well drop the trigger; the application role's privileges are the
protection against that.
"""

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction

from core.audit import audit_record
from core.models import AuditEntry
from ledger import posting_rules
from ledger.models import Account, JournalEntry, Posting
from tests.conftest import requires_postgres
from tests.ledger.helpers import new_payment_id

pytestmark = [requires_postgres]

APPEND_ONLY_TABLES = [
    "ledger_posting",
    "ledger_journalentry",
    "ledger_account",
    "ledger_settledtransaction",
    "core_auditentry",
    "payments_paymenttransition",
]


def sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


def refused(statement: str) -> str:
    with pytest.raises(DatabaseError) as error:
        with transaction.atomic():
            sql(statement)
    return str(error.value)


def counts() -> dict[str, int]:
    return {
        "postings": Posting.objects.count(),
        "entries": JournalEntry.objects.count(),
        "accounts": Account.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


@pytest.fixture
def history(merchant):
    posting_rules.payment_authorized(payment_id=new_payment_id(), merchant=merchant, amount=1_000, currency="USD")
    audit_record(actor="staff:test", action="test", obj=merchant)
    before = counts()
    assert all(before.values()), before
    # Inside the test's transaction, the deferred foreign-key checks of these inserts would make PostgreSQL
    # refuse any TRUNCATE for its own reason ("pending trigger events"): run them now.
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    return before


@pytest.mark.django_db
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_truncate_of_an_append_only_table_is_refused(history, table):
    message = refused(f"TRUNCATE {table} CASCADE")
    assert "append-only" in message and "TRUNCATE" in message and table in message
    assert counts() == history


@pytest.mark.django_db
def test_truncate_reaching_the_ledger_through_cascade_is_refused(history):
    assert "append-only" in refused("TRUNCATE merchants_merchant CASCADE")
    ledger = "ledger_posting, ledger_journalentry, ledger_account"
    assert "append-only" in refused(f"TRUNCATE {ledger} RESTART IDENTITY CASCADE")
    assert counts() == history


@pytest.mark.django_db
def test_the_flush_switch_holds_for_one_transaction_only(history):
    with transaction.atomic():
        sql("SET LOCAL append_only.allow_truncate = 'on'")
        sql("TRUNCATE ledger_posting, ledger_journalentry, ledger_account, core_auditentry CASCADE")
        assert Posting.objects.count() == 0
        transaction.set_rollback(True)  # (the test's data back for the checks below)
    assert counts() == history
    # SET LOCAL ended with its transaction: the next TRUNCATE is refused again.
    assert "append-only" in refused("TRUNCATE ledger_posting CASCADE")


@pytest.mark.django_db(transaction=True)
def test_the_test_suites_flush_still_empties_the_ledger(merchant):
    """Django's flush (what ends every transactional test) still works, through the suite's switch only."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    with transaction.atomic():
        posting_rules.payment_authorized(payment_id=new_payment_id(), merchant=merchant, amount=500, currency="USD")
    unwrapped = getattr(DatabaseOperations.execute_sql_flush, "__wrapped__", None)
    assert unwrapped is not None, "tests/conftest.py no longer lets the test flush TRUNCATE the append-only tables"

    # Without the suite's switch, a flush is refused like any other TRUNCATE: nothing is deleted.
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=False)
    with pytest.raises(DatabaseError, match="append-only"):
        unwrapped(connection.ops, statements)
    assert Posting.objects.exists()

    call_command("flush", verbosity=0, interactive=False)
    assert not Posting.objects.exists() and not JournalEntry.objects.exists()
