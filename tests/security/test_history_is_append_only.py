"""The audit trail and payments' transition history refuse UPDATE and DELETE in the database itself.

The ledger's own tables are covered by tests/ledger/test_immutability.py (UPDATE, DELETE) and
tests/ledger/test_truncate.py (TRUNCATE, these two tables included); this is the UPDATE and DELETE half for
the audit trail (core/migrations/0003_audit_append_only.py) and the transitions
(payments/migrations/0003_transitions_append_only.py), through the ORM and in raw SQL.
"""

import pytest
from django.db import DatabaseError, connection, transaction

from core.audit import audit_record
from core.models import AuditEntry
from payments.models import Payment, PaymentTransition
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db]


def refused(action) -> str:
    with pytest.raises(DatabaseError) as error:
        with transaction.atomic():
            action()
    return str(error.value)


def raw(sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_audit_trail_refuses_update_and_delete(merchant):
    entry = audit_record(actor="staff:test", action="refund.request", obj=merchant, reason="customer asked")
    rows = AuditEntry.objects.filter(pk=entry.pk)
    assert "append-only" in refused(lambda: rows.update(reason="nothing happened"))
    assert "append-only" in refused(lambda: rows.update(actor="someone else"))
    assert "append-only" in refused(lambda: rows.delete())
    assert "append-only" in refused(lambda: raw("DELETE FROM core_auditentry", []))
    assert AuditEntry.objects.get(pk=entry.pk).reason == "customer asked"


def test_a_payments_transitions_refuse_update_and_delete(merchant):
    payment = Payment.objects.create(merchant=merchant, processor="sandbox", amount=1_000, currency="USD")
    transition = PaymentTransition.objects.create(
        payment=payment, from_status="requires_confirmation", to_status="processing", transition="confirm", actor="t"
    )
    rows = PaymentTransition.objects.filter(pk=transition.pk)
    assert "append-only" in refused(lambda: rows.update(to_status="succeeded"))
    assert "append-only" in refused(lambda: rows.delete())
    assert "append-only" in refused(
        lambda: raw("DELETE FROM payments_paymenttransition WHERE payment_id = %s", [payment.pk])
    )
    assert PaymentTransition.objects.get(pk=transition.pk).to_status == "processing"
