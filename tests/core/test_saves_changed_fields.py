"""A transition saves only the columns that changed (``core.db.SavesChangedFields``), and the row it leaves is
the row a full save would have left: nothing a transition or its caller set is lost."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from payments.locks import payment_lock
from payments.models import Payment
from payments.transitions import PAYMENTS, transition
from tests.payments.test_state_machine import TRANSITIONS


def stored_row(payment: Payment) -> dict:
    return Payment.objects.filter(pk=payment.pk).values(*[f.attname for f in Payment._meta.concrete_fields]).get()


def in_memory(payment: Payment) -> dict:
    return {field.attname: getattr(payment, field.attname) for field in Payment._meta.concrete_fields}


def payment_row(merchant, status: str) -> Payment:
    return Payment.objects.create(
        merchant=merchant,
        amount=1000,
        currency="USD",
        status=status,
        card_token="tok_visa",
        card_last4="4242",
        next_action_url="http://sandbox/wallet/ch_0" if status == "requires_action" else None,
        processor_charge_id="ch_0" if status in ("requires_action", "requires_capture") else None,
        metadata={"order": "1"},
        processor="sandbox",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_every_transition_leaves_the_row_a_full_save_would_leave(merchant, name):
    sources, _target, kwargs = TRANSITIONS[name]
    for source in sorted(sources):
        payment = payment_row(merchant, source)
        with transaction.atomic():
            locked = payment_lock(payment.pk)
            # What callers set before a transition (payments.services): attempts, the settlement, metadata in place.
            locked.processor_attempts += 1
            locked.settlement_currency, locked.settlement_amount = "USD", 1000
            locked.metadata["changed"] = "in place"
            transition(locked, name, trail=PAYMENTS, actor="test", **kwargs)
        assert stored_row(payment) == in_memory(locked), (name, source)


@pytest.mark.django_db
def test_a_transition_updates_only_what_changed(merchant):
    payment = payment_row(merchant, "processing")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = payment_lock(payment.pk)
        transition(
            locked, "mark_succeeded", trail=PAYMENTS, actor="test", processor_charge_id="ch_9", amount_captured=1000
        )
    update = next(q["sql"] for q in queries if q["sql"].startswith('UPDATE "payments_payment"'))
    assigned = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    assert '"status"' in assigned and '"processor_charge_id"' in assigned and '"amount_captured"' in assigned
    assert '"card_token"' not in assigned and '"amount"' not in assigned and '"metadata"' not in assigned
    # The optimistic check of the status (django-fsm's ConcurrentTransitionMixin) is still in the WHERE clause.
    assert '"status" = ' in update.split(" WHERE ", 1)[1]


@pytest.mark.django_db
def test_changed_fields_follow_reads_saves_and_changes_in_place(merchant):
    payment = Payment.objects.get(pk=payment_row(merchant, "processing").pk)
    assert payment.changed_fields() == ["updated"]  # auto_now: every save refreshes it

    payment.metadata["note"] = "x"
    payment.description = "changed"
    assert set(payment.changed_fields()) == {"metadata", "description", "updated"}

    payment.save(update_fields=["description"])
    assert set(payment.changed_fields()) == {"metadata", "updated"}  # not saved yet: still a change

    payment.refresh_from_db()
    assert payment.changed_fields() == ["updated"]
