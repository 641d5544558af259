"""The payments list's one search box (``payments.selectors.payments_search``): each kind of term finds its
payment and no other, support may use it, and on PostgreSQL each kind is answered by an index."""

import pytest
from django.db import connection, transaction

from payments.models import Payment
from payments.selectors import payments_search
from tests.backoffice.conftest import client_for, payment_row
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db

LIST = "/admin/payments/payment/"


def found_by(client, term: str) -> set[str]:
    response = client.get(LIST, {"q": term})
    assert response.status_code == 200
    return {payment.pk for payment in response.context["cl"].result_list}


@pytest.fixture
def payments(merchant):
    """Three payments that differ in every searchable way, and one with nothing to find."""
    return {
        "alice": payment_row(
            merchant,
            card_last4="1881",
            customer_email="Alice.Doe@Example.com",
            customer_name="Alice Doe",
            description="Blue wool sweater, size M",
            metadata={"order_id": "ORD-1234", "channel": "web"},
        ),
        "bob": payment_row(
            merchant,
            card_last4="0005",
            customer_email="bob@example.org",
            customer_name="Bob",
            description="Red cotton scarf",
            metadata={"order_id": "ORD-5678", "channel": "web"},
        ),
        "alicia": payment_row(
            merchant,
            card_last4="4444",
            customer_email="alicia@example.net",
            description="Gift card ORD-1234",  # the words of another payment's order number, not a metadata value
            metadata={"reference": "ORD-12345"},
        ),
        "bare": payment_row(merchant, card_last4="9999"),
    }


def test_each_kind_of_search_finds_its_payment_and_no_other(support, payments):
    client = client_for(support)
    alice, bob, alicia = payments["alice"].pk, payments["bob"].pk, payments["alicia"].pk
    # Ids, exactly: the payment's own, the processor's charge id, last four.
    assert found_by(client, alice) == {alice}
    assert found_by(client, payments["bob"].processor_charge_id) == {bob}
    assert found_by(client, "1881") == {alice}
    # The customer's email: case-insensitive, exact or a prefix; never the middle of one.
    assert found_by(client, "alice.doe@example.com") == {alice}
    assert found_by(client, "ALICE.DOE@EXAMPLE.COM") == {alice}
    assert found_by(client, "alice.d") == {alice}
    assert found_by(client, "ali") == {alice, alicia}
    assert found_by(client, "example.org") == set()
    # Words of the description, in any order, each as the beginning of a word.
    assert found_by(client, "sweater") == {alice}
    assert found_by(client, "sweat blue") == {alice}
    assert found_by(client, "Scarf") == {bob}
    assert found_by(client, "wool scarf") == set()
    # A metadata value, exactly, whatever its key (and the description's words too: "ORD-1234" is in one).
    assert found_by(client, "ORD-5678") == {bob}
    assert found_by(client, "ORD-12345") == {alicia}
    assert found_by(client, "ORD-1234") == {alice, alicia}
    # Nothing for what no payment holds; blanks list everything.
    assert found_by(client, "nobody@nowhere.test") == set()
    assert found_by(client, "%") == set()
    assert found_by(client, "  ") == set(Payment.objects.values_list("pk", flat=True))


def test_a_metadata_key_or_a_partial_value_finds_nothing(support, payments):
    client = client_for(support)
    assert found_by(client, "order_id") == set()
    assert found_by(client, "ORD-56") == set()


def test_the_search_keeps_the_other_filters(support, payments, merchant):
    client = client_for(support)
    response = client.get(LIST, {"q": "ORD-1234", "last4": "4444"})
    assert {payment.pk for payment in response.context["cl"].result_list} == {payments["alicia"].pk}


def test_the_customer_is_on_the_list_and_the_payment_page(support, payments):
    client = client_for(support)
    assert "Alice.Doe@Example.com" in client.get(LIST).content.decode()
    page = client.get(f"/admin/payments/payment/{payments['alice'].pk}/change/").content.decode()
    assert "Alice.Doe@Example.com" in page and "Alice Doe" in page


@requires_postgres
def test_on_postgresql_each_kind_of_search_uses_its_index(payments):
    """With sequential scans priced out, the plan of one search reads the three search indexes and the btrees."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = payments_search(Payment.objects.order_by(), "ORD-1234").explain()
    for index in ("payment_customer_email_lower", "payment_description_words", "payment_metadata_values"):
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan
