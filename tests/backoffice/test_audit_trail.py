"""One audit trail in the admin: staff actions and state transitions in one list, newest first, searchable by an
object id (a payment's id finds its refunds' and disputes' lines too), each linking to its object."""

import pytest
from django.contrib.admin.utils import quote
from django.db import connection, transaction

from backoffice.admin.audit import CappedPaginator, change_summary
from backoffice.models import AuditTrail
from backoffice.selectors import audit_trail_about
from core.audit import audit_record
from core.models import AuditEntry
from payments.locks import payment_lock
from payments.models import PaymentTransition, Refund
from payments.transitions import PAYMENTS, REFUNDS, transition
from reconciliation.models import ReconciliationException, ReconciliationRun
from tests.backoffice.conftest import client_for, payment_row
from tests.conftest import database_is_postgres

pytestmark = pytest.mark.django_db

TRAIL = "/admin/backoffice/audittrail/"


def keys(response) -> list[str]:
    return [line.key for line in response.context["cl"].result_list]


@pytest.fixture
def history(merchant):
    """A payment canceled by staff (a transition and a staff action), a refund of another payment that succeeded
    (an audit entry on the refund), and an unrelated payment's transition."""
    canceled = payment_row(merchant, status="requires_capture", amount_captured=0)
    with transaction.atomic():
        transition(payment_lock(canceled.id), "cancel", trail=PAYMENTS, actor="staff:fay.finance", reason_code=None)
    staff = audit_record(
        actor="staff:fay.finance",
        action="staff.cancel",
        obj=canceled,
        before={"status": "requires_capture"},
        after={"status": "canceled"},
        reason="customer asked",
    )
    refunded = payment_row(merchant)
    refund = Refund.objects.create(
        payment=refunded, merchant=merchant, amount=2_500, currency="USD", requested_by="staff:sam.support"
    )
    with transaction.atomic():
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        transition(locked, "succeed", trail=REFUNDS, actor="processor:sandbox", processor_refund_id="rf_1")
    unrelated = payment_row(merchant, status="requires_capture", amount_captured=0)
    with transaction.atomic():
        transition(payment_lock(unrelated.id), "cancel", trail=PAYMENTS, actor="system:expiry", reason_code=None)
    return {
        "canceled": canceled,
        "canceled_transition": PaymentTransition.objects.get(payment=canceled),
        "staff": staff,
        "refunded": refunded,
        "refund": refund,
        "refund_entry": AuditEntry.objects.get(object_id=refund.id),
        "unrelated_transition": PaymentTransition.objects.get(payment=unrelated),
    }


def test_one_list_of_transitions_and_staff_actions_newest_first(history, support):
    response = client_for(support).get(TRAIL)
    assert response.status_code == 200
    assert keys(response) == [
        f"t{history['unrelated_transition'].pk}",
        f"a{history['refund_entry'].pk}",
        f"a{history['staff'].pk}",
        f"t{history['canceled_transition'].pk}",
    ]
    lines = {line.key: line for line in response.context["cl"].result_list}
    transition_line = lines[f"t{history['canceled_transition'].pk}"]
    assert (transition_line.action, transition_line.object_type, transition_line.object_id) == (
        "payment.cancel",
        "payment",
        history["canceled"].id,
    )
    assert (transition_line.before, transition_line.after) == ({"status": "requires_capture"}, {"status": "canceled"})


def test_a_payment_id_finds_its_transitions_and_the_actions_on_it_and_its_refunds(history, support):
    client = client_for(support)
    canceled = client.get(TRAIL, {"q": history["canceled"].id})
    assert keys(canceled) == [f"a{history['staff'].pk}", f"t{history['canceled_transition'].pk}"]
    # The staff action on a refund is found by its payment's id, and by its own.
    assert keys(client.get(TRAIL, {"q": history["refunded"].id})) == [f"a{history['refund_entry'].pk}"]
    assert keys(client.get(TRAIL, {"q": history["refund"].id})) == [f"a{history['refund_entry'].pk}"]
    assert keys(client.get(TRAIL, {"q": "pay_nothing"})) == []
    assert keys(client.get(TRAIL, {"q": "two words"})) == []


def test_a_payment_id_finds_the_resolution_of_a_reconciliation_exception_about_it(history, finance):
    payment = history["canceled"]
    run = ReconciliationRun.objects.create(settlement_date="2026-11-01", processor="sandbox")
    exception = ReconciliationException.objects.create(
        run=run,
        processor="sandbox",
        settlement_date="2026-11-01",
        type="amount_mismatch",
        line_type="charge",
        match_key="ch_1",
        reference=payment.id,
    )
    resolved = audit_record(actor="staff:fay.finance", action="reconciliation.write_off", obj=exception)
    found = keys(client_for(finance).get(TRAIL, {"q": payment.id}))
    assert found[0] == f"a{resolved.pk}" and len(found) == 3


def test_each_line_links_to_its_object_and_shows_the_change_compactly(history, support):
    html = client_for(support).get(TRAIL, {"q": history["canceled"].id}).content.decode()
    assert f'href="/admin/payments/payment/{quote(history["canceled"].id)}/change/"' in html
    assert "status: requires_capture → canceled" in html
    refund_html = client_for(support).get(TRAIL, {"q": history["refund"].id}).content.decode()
    assert f'href="/admin/payments/refund/{quote(history["refund"].id)}/change/"' in refund_html
    assert "status: pending → succeeded" in refund_html


def test_a_lines_page_shows_before_after_and_where_it_is_recorded(history, support):
    client = client_for(support)
    transition_row = history["canceled_transition"]
    page = client.get(f"{TRAIL}t{transition_row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/admin/payments/paymenttransition/{transition_row.pk}/change/" in html
    assert "&quot;status&quot;: &quot;canceled&quot;" in html
    entry_page = client.get(f"{TRAIL}a{history['staff'].pk}/change/")
    assert f"/admin/core/auditentry/{history['staff'].pk}/change/" in entry_page.content.decode()
    assert "customer asked" in entry_page.content.decode()
    for missing in ("t999999", "x1", "a", "anot-a-number"):
        assert client.get(f"{TRAIL}{missing}/change/").status_code == 302  # "does not exist", back to the list


def test_the_trail_is_read_only_for_everyone(history, superuser, support):
    line = f"a{history['staff'].pk}"
    for user in (superuser, support):
        client = client_for(user)
        assert client.get(f"{TRAIL}add/").status_code == 403
        assert client.post(f"{TRAIL}{line}/change/", {"actor": "staff:someone-else"}).status_code == 403
        assert client.get(f"{TRAIL}{line}/delete/").status_code == 403
        client.post(TRAIL, {"action": "delete_selected", "_selected_action": [line], "post": "yes"})
    assert AuditEntry.objects.get(pk=history["staff"].pk).actor == "staff:fay.finance"
    assert PaymentTransition.objects.count() == 2


def test_operations_cannot_read_the_trail(history, operations):
    client = client_for(operations)
    assert client.get(TRAIL).status_code == 403
    assert client.get(f"{TRAIL}a{history['staff'].pk}/change/").status_code == 403


def test_the_old_lists_lead_to_the_one_trail(history, support):
    client = client_for(support)
    entries = client.get("/admin/core/auditentry/", {"q": history["canceled"].id})
    assert entries.status_code == 302 and entries["Location"] == f"{TRAIL}?q={history['canceled'].id}"
    transitions = client.get("/admin/payments/paymenttransition/")
    assert transitions.status_code == 302 and transitions["Location"] == f"{TRAIL}?source=transition"
    assert keys(client.get(TRAIL, {"source": "transition"})) == [
        f"t{history['unrelated_transition'].pk}",
        f"t{history['canceled_transition'].pk}",
    ]
    index = client.get("/admin/").content.decode()
    assert TRAIL in index and "/admin/core/auditentry/" not in index
    assert "/admin/payments/paymenttransition/" not in index


def test_filters_reach_both_kinds_of_line(history, support):
    client = client_for(support)
    assert keys(client.get(TRAIL, {"actor_kind": "system:"})) == [f"t{history['unrelated_transition'].pk}"]
    assert keys(client.get(TRAIL, {"action": "payment.cancel"})) == [
        f"t{history['unrelated_transition'].pk}",
        f"t{history['canceled_transition'].pk}",
    ]
    assert keys(client.get(TRAIL, {"object_type": "refund"})) == [f"a{history['refund_entry'].pk}"]
    assert keys(client.get(TRAIL, {"actor": "staff:fay.finance", "source": "audit"})) == [f"a{history['staff'].pk}"]


def test_the_list_costs_a_fixed_number_of_queries(history, support, django_assert_max_num_queries):
    client = client_for(support)
    client.get(TRAIL)  # the session and the user, cached
    with django_assert_max_num_queries(12):
        client.get(TRAIL, {"q": history["canceled"].id})
    for _ in range(30):
        audit_record(actor="staff:fay.finance", action="staff.note", obj=history["canceled"])
    with django_assert_max_num_queries(12):
        client.get(TRAIL, {"q": history["canceled"].id})


def test_counting_stops_at_the_cap(history, support, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    response = client_for(support).get(TRAIL)
    assert response.context["cl"].result_count == 3


@pytest.mark.parametrize(
    ("before", "after", "summary"),
    [
        ({"status": "pending"}, {"status": "succeeded"}, "status: pending → succeeded"),
        (None, {"status": "pending", "amount": 2500}, "status: pending; amount: 2500"),
        ({"rule": "eu"}, None, "rule: eu → —"),
        ({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": [1]}, "b: 2 → 3; c: [1]"),
        ({"a": 1}, {"a": 1}, "no change"),
        (None, None, ""),
        ("x", "y", "x → y"),
    ],
)
def test_change_summary(before, after, summary):
    assert change_summary(before, after) == summary


@pytest.mark.skipif(not database_is_postgres(), reason="the plan of PostgreSQL")
def test_searching_and_listing_read_indexes_only(history):
    """Each branch of the view reaches its table's index: no table is read whole, whatever its size."""
    searched = audit_trail_about(history["canceled"].id).order_by("-created", "-key")[:100]
    newest = AuditTrail.objects.order_by("-created", "-key")[:100]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset in (searched, newest):
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            assert "core_auditentry" in plan and "payments_paymenttransition" in plan, plan
        assert "Merge Append" in plan, plan  # newest first: the two created indexes, merged
        staff = AuditTrail.objects.filter(actor__startswith="staff:").order_by("-created", "-key")[:100]
        sql, params = staff.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        # The few transitions made by staff have an index of their own: the filter never walks the many others.
        assert "payment_transition_staff" in "\n".join(row[0] for row in cursor.fetchall())
