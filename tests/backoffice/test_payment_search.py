"""The payments list's one search box (``payments.selectors.payments_search``): each kind of term finds its
payment and no other, support may use it, and on PostgreSQL each kind is answered by an index."""

import pytest
from django.db import connection
from django.db.models.functions import Lower

from payments.models import Payment
from payments.selectors import _bitmap_scans_only, _search_branches, payments_search
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
def test_on_postgresql_each_kind_of_search_reads_its_index(payments):
    """Each kind of match is looked up alone, by bitmap scans of its own index (never a scan of the table)."""
    plans = []
    with _bitmap_scans_only("default"):
        for branch in _search_branches("ORD-1234", postgres=True):
            plans.append(Payment.objects.alias(customer_email_lower=Lower("customer_email")).filter(branch).explain())
    plan = "\n".join(plans)
    for index in ("payment_customer_email_lower", "payment_description_words", "payment_metadata_values"):
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan
    # and the planner's settings are as they were
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan')")
        assert cursor.fetchone() == ("on", "on")


def test_a_common_match_is_listed_newest_first_with_the_rare_ones(merchant, support, payments):
    """More than ``enough`` payments of one kind: that condition is queried as such, with the others' ids."""
    common = [payment_row(merchant, metadata={"channel": "web"}) for _ in range(3)]
    rare = payment_row(merchant, customer_email="web.master@example.com")
    found = payments_search(Payment.objects.order_by("-id"), "web", enough=2)
    assert list(found.values_list("pk", flat=True)) == sorted(
        [payments["alice"].pk, payments["bob"].pk, rare.pk, *(p.pk for p in common)], reverse=True
    )


def test_a_search_finding_more_than_the_cap_says_so_and_still_lists_the_newest(support, payments, monkeypatch):
    from backoffice.admin.base import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    client = client_for(support)
    assert found_by(client, "ORD-1234") == {payments["alice"].pk, payments["alicia"].pk}
    assert "2 results" in client.get(LIST, {"q": "ORD-1234"}).content.decode()
    many = client.get(LIST)  # four payments, counted up to three
    assert many.context["cl"].result_count == 3
    assert "more than 2 payments" in " ".join(many.content.decode().split())
    assert len(many.context["cl"].result_list) == 4  # the page holds 50: all four are listed
    searched = " ".join(client.get(LIST, {"q": "example"}).content.decode().split())  # no email begins so
    assert "0 results" in searched
