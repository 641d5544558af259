"""``core.db.PreparedRead``: the reads on every request's path, compiled once, answer exactly what the ORM answers.

The same rows, the same values (JSON decoded, related objects attached without another query), the same
refusals (``select_for_update`` outside a transaction, ``DoesNotExist``), and each call's own values, never the
values of the call that compiled it. A read it cannot prepare faithfully is refused at its first call.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from core.db import PreparedRead
from merchants.models import ApiKey
from merchants.services import api_key_issue, merchant_create
from payments.models import Payment
from tests.core.test_saves_changed_fields import in_memory, payment_row

key_with_merchant = PreparedRead(lambda prefix: ApiKey.objects.select_related("merchant").filter(prefix=prefix))
payment_for_update = PreparedRead(lambda payment_id: Payment.objects.select_for_update().filter(pk=payment_id))
payments_of = PreparedRead(
    lambda merchant_id, currency: Payment.objects.filter(merchant_id=merchant_id, currency=currency).order_by("id")
)


@pytest.mark.django_db
def test_a_prepared_read_answers_what_the_orm_answers(merchant):
    payment = payment_row(merchant, "processing")
    with transaction.atomic():
        prepared = payment_for_update.get(payment.pk)
    assert in_memory(prepared) == in_memory(Payment.objects.get(pk=payment.pk))
    assert prepared.metadata == {"order": "1"}  # the JSON column decoded, as the ORM decodes it
    assert not prepared._state.adding and prepared._state.db == "default"


@pytest.mark.django_db
def test_related_objects_come_with_the_row_and_each_call_reads_its_own_values(merchant, issued_key):
    other = merchant_create(name="Other merchant", settlement_currency="EUR")
    other_key = api_key_issue(merchant=other, name="other")
    for key, owner in ((issued_key.api_key, merchant), (other_key.api_key, other), (issued_key.api_key, merchant)):
        with CaptureQueriesContext(connection) as queries:
            found = key_with_merchant.first(key.prefix)
            assert found.merchant.name == owner.name  # attached: no second query
        assert len(queries) == 1
        assert (found.pk, found.merchant_id, found.key_hash) == (key.pk, owner.pk, key.key_hash)
    assert key_with_merchant.first("no-such-prefix") is None


@pytest.mark.django_db
def test_several_values_go_to_their_own_places_and_order_holds(merchant):
    dollars = [payment_row(merchant, "processing") for _ in range(3)]
    euros = Payment.objects.create(merchant=merchant, amount=5, currency="EUR", status="processing", processor="x")
    assert [p.pk for p in payments_of.all(merchant.pk, "USD")] == sorted(p.pk for p in dollars)
    assert [p.pk for p in payments_of.all(merchant.pk, "EUR")] == [euros.pk]
    assert payments_of.all("mer_unknown", "USD") == []


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_and_inside_it_is_taken(merchant):
    payment = payment_row(merchant, "processing")
    with pytest.raises(TransactionManagementError):
        payment_for_update.get(payment.pk)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        payment_for_update.get(payment.pk)
    if connection.features.has_select_for_update:
        assert queries[-1]["sql"].rstrip().endswith("FOR UPDATE")


@pytest.mark.django_db
def test_get_refuses_no_row_as_the_orm_does(merchant):
    with transaction.atomic(), pytest.raises(Payment.DoesNotExist):
        payment_for_update.get("pay_missing")


@pytest.mark.django_db
def test_a_constant_equal_to_a_value_is_never_taken_for_it(merchant):
    payment = payment_row(merchant, "processing")
    by_currency_and_status = PreparedRead(
        lambda status: (
            Payment.objects.filter(currency="processing", status=status)
            | Payment.objects.filter(currency="USD", status=status, description="")
        )
    )
    with pytest.raises(ImproperlyConfigured):  # the value is used twice: refused, not guessed
        by_currency_and_status.all("processing")
    by_status = PreparedRead(lambda status: Payment.objects.filter(currency="USD", status=status))
    assert [p.pk for p in by_status.all("USD")] == []  # "USD" the value, not "USD" the constant
    assert [p.pk for p in by_status.all("processing")] == [payment.pk]


@pytest.mark.django_db
def test_a_value_the_sql_would_not_carry_unchanged_is_refused():
    containing = PreparedRead(lambda text: Payment.objects.filter(description__icontains=text))
    with pytest.raises(ImproperlyConfigured):
        containing.all("gift")
