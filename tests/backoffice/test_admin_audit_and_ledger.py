"""The audit trail (read-only for everyone) and ledger adjustments (Finance only) in the admin."""

import pytest
from django.contrib.admin.utils import quote

from backoffice.models import LedgerAdjustment
from core.audit import audit_record
from core.models import AuditEntry
from ledger.models import JournalEntry
from tests.backoffice.conftest import client_for, messages_of, payment_row

pytestmark = pytest.mark.django_db

AUDIT = "/admin/core/auditentry/"
ADJUSTMENTS = "/admin/backoffice/ledgeradjustment/"


@pytest.fixture
def entries(merchant):
    payment = payment_row(merchant)
    other = payment_row(merchant)
    return [
        audit_record(
            actor="staff:sam.support",
            action="staff.refund",
            obj=payment,
            after={"refund": "re_1"},
            reason="customer called",
        ),
        audit_record(actor="api:key_1", action="refund.create", obj=other, after={"status": "pending"}),
        audit_record(actor="system:resolver", action="refund.succeed", obj=other),
    ]


def shown(response) -> list[int]:
    return [entry.pk for entry in response.context["cl"].result_list]


def test_the_audit_trail_is_read_only_for_everyone(entries, superuser, support):
    entry = entries[0]
    for user in (superuser, support):
        client = client_for(user)
        assert client.get(AUDIT).status_code == 200
        assert client.get(f"{AUDIT}{quote(entry.pk)}/change/").status_code == 200
        assert client.get(f"{AUDIT}add/").status_code == 403
        assert client.post(f"{AUDIT}{quote(entry.pk)}/change/", {"actor": "staff:someone-else"}).status_code == 403
        assert client.get(f"{AUDIT}{quote(entry.pk)}/delete/").status_code == 403
        client.post(AUDIT, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
        assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert AuditEntry.objects.get(pk=entry.pk).actor == "staff:sam.support"


def test_filter_by_actor_action_and_object_type_and_search_by_object_id(entries, support):
    client = client_for(support)
    staff, api, system = (e.pk for e in entries)
    assert shown(client.get(AUDIT, {"actor_kind": "staff:"})) == [staff]
    assert shown(client.get(AUDIT, {"actor": "api:key_1"})) == [api]
    assert shown(client.get(AUDIT, {"action": "refund.succeed"})) == [system]
    assert set(shown(client.get(AUDIT, {"object_type": "payment"}))) == {staff, api, system}
    assert shown(client.get(AUDIT, {"object_type": "refund"})) == []
    assert shown(client.get(AUDIT, {"q": entries[0].object_id})) == [staff]
    assert set(shown(client.get(AUDIT, {"q": entries[1].object_id}))) == {api, system}


def test_operations_cannot_read_the_audit_trail(entries, operations):
    assert client_for(operations).get(AUDIT).status_code == 403


def test_support_cannot_touch_the_ledger(merchant, support):
    client = client_for(support)
    assert client.get(f"{ADJUSTMENTS}add/").status_code == 403
    assert (
        client.post(
            f"{ADJUSTMENTS}add/",
            {"merchant": merchant.pk, "amount": "500", "currency": "USD", "memo": "x", "token": "t"},
        ).status_code
        == 403
    )
    assert client.get("/admin/ledger/journalentry/").status_code == 403
    assert client.get("/admin/ledger/account/").status_code == 403
    assert LedgerAdjustment.objects.count() == 0


def test_finance_makes_an_adjustment_through_the_admin(merchant, finance):
    client = client_for(finance)
    form = client.get(f"{ADJUSTMENTS}add/")
    assert form.status_code == 200
    response = client.post(
        f"{ADJUSTMENTS}add/",
        {
            "merchant": merchant.pk,
            "amount": "-7.50",
            "currency": "USD",
            "memo": "duplicate payout correction",
            "token": form.context["form"].initial["token"],
        },
        follow=True,
    )
    adjustment = LedgerAdjustment.objects.get()
    assert (adjustment.amount, adjustment.made_by, adjustment.memo) == (-750, finance, "duplicate payout correction")
    assert JournalEntry.objects.get(pk=adjustment.journal_entry_id).type == "adjustment"
    assert any("posted as" in m for m in messages_of(response))
    assert AuditEntry.objects.filter(
        object_type="ledgeradjustment", object_id=adjustment.pk, actor="staff:fay.finance"
    ).exists()
    # and it can be neither changed nor deleted
    assert client.post(f"{ADJUSTMENTS}{quote(adjustment.pk)}/change/", {"amount": "1"}).status_code == 403
    assert client.get(f"{ADJUSTMENTS}{quote(adjustment.pk)}/delete/").status_code == 403
    assert client.get("/admin/ledger/journalentry/").status_code == 200


def test_a_zero_adjustment_is_refused_by_the_form(merchant, finance):
    response = client_for(finance).post(
        f"{ADJUSTMENTS}add/", {"merchant": merchant.pk, "amount": "0", "currency": "USD", "memo": "x", "token": "t"}
    )
    assert response.status_code == 200 and "changes nothing" in response.content.decode()
    assert LedgerAdjustment.objects.count() == 0
