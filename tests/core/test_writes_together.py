"""``core.db.writes_together`` and ``insert_unless_taken``: fewer round trips, the same writes.

A block's writes reach the database as one statement (PostgreSQL), yet every read in the block sees every
write made before it, two writes of one row keep their order, rows of one table keep the order they were
written in, and a write that does not find its row (or finds it in another state) is refused as a save would
refuse it. Outside a block, ``write`` sends at once.
"""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_fsm import ConcurrentTransition

from core.db import (
    insert_statement,
    insert_unless_taken,
    update_row_statement,
    update_statement,
    write,
    writes_together,
)
from edge.models import IdempotencyKey
from payments.models import Payment, PaymentTransition
from tests.conftest import requires_postgres
from tests.core.test_saves_changed_fields import payment_row


def history(payment: Payment, name: str) -> PaymentTransition:
    return PaymentTransition(payment=payment, from_status="a", to_status="b", transition=name, actor="test", reason="")


@pytest.mark.django_db
def test_the_writes_of_a_block_are_written_as_if_sent_one_by_one(merchant):
    payment = payment_row(merchant, "processing")
    with transaction.atomic(), writes_together():
        payment.description = "changed"
        payment.save_changes()
        write(insert_statement([history(payment, "first")]))
        write(insert_statement([history(payment, "second")]))
        # A read in the block sees the writes made before it.
        assert Payment.objects.get(pk=payment.pk).description == "changed"
        payment.description = "changed again"  # a second write of the row, after the read
        payment.save_changes()
        write(insert_statement([history(payment, "third")]))
    assert Payment.objects.get(pk=payment.pk).description == "changed again"
    names = list(PaymentTransition.objects.filter(payment=payment).order_by("id").values_list("transition", flat=True))
    assert names == ["first", "second", "third"]


@requires_postgres
@pytest.mark.django_db
def test_a_block_sends_its_writes_in_one_statement_and_rows_of_a_table_keep_their_order(merchant):
    payment = payment_row(merchant, "processing")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, writes_together():
        write(insert_statement([history(payment, "first")]))
        payment.description = "changed"
        payment.save_changes()
        write(insert_statement([history(payment, "second")]))
        write(insert_statement([history(payment, "third")]))
    writes = [query["sql"] for query in queries if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(writes) == 1 and writes[0].startswith("WITH write_0 AS (INSERT")
    names = list(PaymentTransition.objects.filter(payment=payment).order_by("id").values_list("transition", flat=True))
    assert names == ["first", "second", "third"]


@pytest.mark.django_db
def test_a_second_write_of_one_row_goes_after_the_first(merchant):
    payment = payment_row(merchant, "processing")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, writes_together():
        for description in ("one", "two", "three"):
            payment.description = description
            payment.save_changes()
    updates = [query["sql"] for query in queries if "UPDATE" in query["sql"]]
    assert len(updates) == 3
    assert Payment.objects.get(pk=payment.pk).description == "three"


@pytest.mark.django_db
def test_an_update_that_finds_the_state_changed_is_refused_and_nothing_of_the_block_is_kept(merchant):
    payment = payment_row(merchant, "processing")
    stale = Payment.objects.get(pk=payment.pk)
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")
    with pytest.raises(ConcurrentTransition):
        with transaction.atomic(), writes_together():
            write(insert_statement([history(stale, "lost")]))
            stale.description = "lost"
            stale.save_changes()
    assert not PaymentTransition.objects.filter(payment=payment).exists()
    assert Payment.objects.get(pk=payment.pk).description != "lost"


@pytest.mark.django_db
def test_an_update_of_a_missing_row_is_refused_outside_a_block_too(merchant):
    key = IdempotencyKey.objects.create(merchant=merchant, key="k0", method="POST", path="/p", fingerprint="f")
    key.path = "/q"
    statement = update_statement(key, ["path"])
    IdempotencyKey.objects.filter(pk=key.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        write(statement)


@pytest.mark.django_db
def test_writes_waiting_when_the_block_raises_are_not_sent(merchant):
    payment = payment_row(merchant, "processing")
    with CaptureQueriesContext(connection) as queries, pytest.raises(RuntimeError):
        with transaction.atomic(), writes_together():
            write(insert_statement([history(payment, "never")]))
            raise RuntimeError("the service failed")
    assert not any("payments_paymenttransition" in query["sql"] for query in queries)
    assert not PaymentTransition.objects.filter(payment=payment).exists()


@pytest.mark.django_db
def test_insert_unless_taken_refuses_a_taken_key_and_keeps_the_transaction(merchant):
    first = IdempotencyKey(merchant=merchant, key="k1", method="POST", path="/p", fingerprint="f")
    second = IdempotencyKey(merchant=merchant, key="k1", method="POST", path="/q", fingerprint="g")
    with transaction.atomic():
        assert insert_unless_taken(first) is True
        assert first.pk is not None
        assert insert_unless_taken(second) is False
        assert second.pk is None
        # The transaction is still usable: no error was raised inside it.
        assert IdempotencyKey.objects.filter(merchant=merchant, key="k1").get().path == "/p"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_insert_unless_taken_can_skip_the_wait_for_the_disk(merchant):
    key = IdempotencyKey(merchant=merchant, key="k2", method="POST", path="/p", fingerprint="f")
    with CaptureQueriesContext(connection) as queries:
        assert insert_unless_taken(key, synchronous_commit=False) is True
    [insert] = [query["sql"] for query in queries]
    assert "set_config('synchronous_commit', 'off', true)" in insert
    assert IdempotencyKey.objects.filter(pk=key.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # only that statement's own transaction committed asynchronously


@pytest.mark.django_db
def test_an_update_of_a_row_writes_only_where_its_conditions_hold(merchant):
    payment = payment_row(merchant, "processing")
    write(update_row_statement(Payment, payment.pk, {"description": "moved"}, where={"status": "succeeded"}))
    write(update_row_statement(Payment, payment.pk, {"description": "kept"}, where={"processor_charge_id": "ch_1"}))
    assert Payment.objects.get(pk=payment.pk).description is None  # neither condition held: nothing written
    write(
        update_row_statement(
            Payment, payment.pk, {"description": "moved", "metadata": {"a": 1}}, where={"processor_charge_id": None}
        )
    )
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.description, stored.metadata) == ("moved", {"a": 1})
