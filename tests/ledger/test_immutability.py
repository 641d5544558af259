"""On PostgreSQL the database itself refuses to rewrite history."""

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import posting_rules
from ledger.models import Account, JournalEntry, Posting, SettledTransaction
from tests.conftest import requires_postgres
from tests.ledger.helpers import new_payment_id

pytestmark = [requires_postgres, pytest.mark.django_db]


def refused(action) -> str:
    with pytest.raises(DatabaseError) as error:
        with transaction.atomic():
            action()
    return str(error.value)


def raw(sql: str, params) -> None:
    """Straight to the database: past the ORM's own PROTECT checks."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def authorization(merchant):
    return posting_rules.payment_authorized(
        payment_id=new_payment_id(), merchant=merchant, amount=1_000, currency="USD"
    )


def test_postings_cannot_be_updated_or_deleted(authorization):
    posting = authorization.postings.first()
    assert "append-only" in refused(lambda: Posting.objects.filter(pk=posting.pk).update(amount=1))
    assert "append-only" in refused(lambda: Posting.objects.filter(pk=posting.pk).update(phase="posted"))
    assert "append-only" in refused(lambda: Posting.objects.filter(pk=posting.pk).delete())
    assert "append-only" in refused(lambda: raw("DELETE FROM ledger_posting", []))
    posting.refresh_from_db()
    assert posting.amount in (1_000, -1_000) and posting.phase == "pending"


def test_journal_entries_only_move_from_pending_to_final(authorization):
    entries = JournalEntry.objects.filter(pk=authorization.pk)
    assert "only the status" in refused(lambda: entries.update(memo="rewritten"))
    assert "only the status" in refused(lambda: entries.update(source="pay_other"))
    assert "append-only" in refused(lambda: raw("DELETE FROM ledger_journalentry WHERE id = %s", [authorization.pk]))

    assert entries.update(status="voided") == 1  # the one change allowed (here without a resolver)
    assert "cannot move" in refused(lambda: entries.update(status="pending"))
    assert "cannot move" in refused(lambda: entries.update(status="posted"))


def test_accounts_keep_their_identity(authorization):
    account = Account.objects.get(code="merchant_pending")
    accounts = Account.objects.filter(pk=account.pk)
    assert "balance-limit flags" in refused(lambda: accounts.update(currency="EUR"))
    assert "balance-limit flags" in refused(lambda: accounts.update(merchant=None))
    assert "append-only" in refused(lambda: raw("DELETE FROM ledger_account WHERE id = %s", [account.pk]))
    assert accounts.update(debits_must_not_exceed_credits=not account.debits_must_not_exceed_credits) == 1


def test_what_a_payout_paid_cannot_be_rewritten(merchant):
    posting_rules.manual_adjustment(adjustment_id="a1", merchant=merchant, amount=500, currency="USD", memo="m")
    entry, amount = posting_rules.automatic_payout_created(payout_id="po_test", merchant=merchant, currency="USD")
    assert amount == 500
    rows = SettledTransaction.objects.filter(payout_entry=entry)
    assert rows.count() == 2
    assert "append-only" in refused(lambda: rows.update(payout_entry=None))
    assert "append-only" in refused(lambda: rows.delete())
    assert "append-only" in refused(lambda: raw("DELETE FROM ledger_settledtransaction", []))
    assert rows.count() == 2
