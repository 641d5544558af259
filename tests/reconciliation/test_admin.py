"""Reconciliation in the admin: runs with their figures, the exception queue, and resolving with a note."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditEntry
from ledger.models import JournalEntry
from ledger.selectors import balance_get
from reconciliation.models import ReconciliationException
from tests.reconciliation.conftest import client_for, staff_user
from tests.reconciliation.helpers import Line, charge_line, payment, reconcile, today, write_report

pytestmark = pytest.mark.django_db

RUNS = "/admin/reconciliation/reconciliationrun/"
QUEUE = "/admin/reconciliation/reconciliationexception/"


def page(exception, action: str = "") -> str:
    return f"{QUEUE}{exception.pk}/{action + '/' if action else 'change/'}"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.fixture
def day_with_differences(merchant, other_merchant, tmp_path):
    """An amount mismatch (merchant), a missing_internal with no merchant, a missing_external (other merchant)."""
    wrong = payment(merchant, 10_000)
    payment(other_merchant, 3_000, currency="EUR")
    stranger = Line("charge", "ch_stranger", "pay_stranger", "USD", 700)
    reconcile(today(), write_report(tmp_path, today(), [charge_line(wrong, amount=9_000), stranger]))
    return {e.type: e for e in ReconciliationException.objects.all()}


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def test_finance_sees_runs_with_their_figures(finance, day_with_differences):
    client = client_for(finance)
    response = client.get(RUNS)
    assert response.status_code == 200
    (run,) = rows(response)
    assert (run.lines, run.matched, run.open_exceptions) == (2, 0, 3)
    html = response.content.decode()
    assert "amount_mismatch 1" in html and "missing_internal 1" in html and "3 open" in html
    assert client.get(f"{RUNS}{run.pk}/change/").status_code == 200
    # The run's "open" figure links to its day in the queue.
    day = client.get(QUEUE, {"settlement_date": run.settlement_date.isoformat(), "status": "all"})
    assert len(rows(day)) == 3


def test_the_queue_filters_and_searches(finance, day_with_differences, merchant, other_merchant):
    client = client_for(finance)
    assert len(rows(client.get(QUEUE))) == 3
    assert [e.type for e in rows(client.get(QUEUE, {"type__exact": "amount_mismatch"}))] == ["amount_mismatch"]
    assert [e.type for e in rows(client.get(QUEUE, {"merchant_id": other_merchant.id}))] == ["missing_external"]
    assert [e.type for e in rows(client.get(QUEUE, {"q": "pay_stranger"}))] == ["missing_internal"]
    assert [e.type for e in rows(client.get(QUEUE, {"q": "ch_stranger"}))] == ["missing_internal"]
    assert len(rows(client.get(QUEUE, {"age": "1d"}))) == 3  # all found just now
    assert len(rows(client.get(QUEUE, {"age": "1-7d"}))) == 0
    ReconciliationException.objects.filter(type="missing_external").update(
        created=timezone.now() - datetime.timedelta(days=3)
    )
    assert [e.type for e in rows(client.get(QUEUE, {"age": "1-7d"}))] == ["missing_external"]
    assert len(rows(client.get(QUEUE, {"status": "resolved"}))) == 0
    assert client.get(page(day_with_differences["amount_mismatch"])).status_code == 200


def test_write_off_asks_for_a_note_then_resolves_and_audits(finance, day_with_differences):
    exception = day_with_differences["amount_mismatch"]
    client = client_for(finance)
    detail = client.get(page(exception))
    assert [button["name"] for button in detail.context["backoffice_buttons"]] == ["write_off", "adjust", "explain"]
    form = client.get(page(exception, "write-off"))
    assert form.status_code == 200 and "note" in form.context["form"].fields
    assert client.post(page(exception, "write-off"), {"note": "  "}).status_code == 200  # a note is required
    exception.refresh_from_db()
    assert exception.status == "open"

    response = client.post(
        page(exception, "write-off"), {"note": "processor short-paid 10.00; not recoverable"}, follow=True
    )
    assert any("resolved" in message for message in messages_of(response))
    exception.refresh_from_db()
    assert (exception.status, exception.resolution, exception.resolved_by) == ("resolved", "written_off", finance)
    assert exception.note == "processor short-paid 10.00; not recoverable"
    audit = AuditEntry.objects.get(action="reconciliation_exception.written_off")
    assert (audit.actor, audit.object_type, audit.object_id) == (
        "staff:fay.finance",
        "reconciliationexception",
        str(exception.pk),
    )
    assert audit.reason == exception.note and audit.before["status"] == "open"

    # Resolved once: a second attempt is refused with a message, and writes nothing.
    again = client.post(page(exception, "write-off"), {"note": "again"}, follow=True)
    assert any("no longer open" in message for message in messages_of(again))
    assert AuditEntry.objects.filter(action__startswith="reconciliation_exception.").count() == 1
    assert client.get(page(exception)).context["backoffice_buttons"] == []


def test_adjust_posts_a_ledger_adjustment_with_the_resolution(finance, merchant, day_with_differences):
    exception = day_with_differences["amount_mismatch"]
    client = client_for(finance)
    form = client.get(page(exception, "adjust"))
    assert form.context["form"].initial["amount"] == "-10.00"  # report − ledger, as a suggestion, in dollars
    before = {amount.currency: amount.amount for amount in balance_get(merchant=merchant).available}["USD"]
    response = client.post(page(exception, "adjust"), {"note": "the processor kept 10.00", "amount": "-10.00"})
    assert response.status_code == 302
    exception.refresh_from_db()
    assert (exception.status, exception.resolution) == ("resolved", "adjusted")
    entry = exception.ledger_entry
    assert (entry.type, entry.merchant_id, entry.currency, entry.source) == (
        "adjustment",
        merchant.id,
        "USD",
        f"recon_{exception.pk}",
    )
    after = {amount.currency: amount.amount for amount in balance_get(merchant=merchant).available}["USD"]
    assert after == before - 1_000
    audit = AuditEntry.objects.get(action="reconciliation_exception.adjusted")
    assert (audit.actor, audit.after["ledger_entry"], audit.after["amount"]) == ("staff:fay.finance", entry.pk, -1_000)
    call_command("ledger_check")


def test_an_exception_without_a_merchant_cannot_be_adjusted(finance, day_with_differences):
    exception = day_with_differences["missing_internal"]
    entries = JournalEntry.objects.count()
    response = client_for(finance).post(page(exception, "adjust"), {"note": "x", "amount": "1.00"}, follow=True)
    assert any("no known merchant" in message for message in messages_of(response))
    exception.refresh_from_db()
    assert exception.status == "open" and JournalEntry.objects.count() == entries
    assert not AuditEntry.objects.filter(action__startswith="reconciliation_exception.").exists()


def test_list_actions_ask_for_the_note_on_a_page_first(finance, day_with_differences):
    chosen = [day_with_differences["missing_internal"].pk, day_with_differences["missing_external"].pk]
    client = client_for(finance)
    action = {"action": "explain_selected", "_selected_action": chosen}
    confirm = client.post(QUEUE, action)
    assert confirm.status_code == 200 and confirm.templates[0].name == "reconciliation/resolve_selected.html"
    assert ReconciliationException.objects.filter(status="open").count() == 3
    client.post(QUEUE, {**action, "_confirm": "1", "note": "timing: captured at 23:59:59, settled next day"})
    explained = ReconciliationException.objects.filter(pk__in=chosen)
    assert {(e.status, e.resolution, e.resolved_by_id) for e in explained} == {("resolved", "explained", finance.pk)}
    audits = AuditEntry.objects.filter(action="reconciliation_exception.explained", actor="staff:fay.finance")
    assert audits.count() == 2


def test_adjusting_several_at_once_is_refused(finance, day_with_differences):
    chosen = [e.pk for e in day_with_differences.values()]
    response = client_for(finance).post(QUEUE, {"action": "adjust_selected", "_selected_action": chosen}, follow=True)
    assert any("one exception at a time" in message for message in messages_of(response))
    assert ReconciliationException.objects.filter(status="open").count() == 3


def test_the_adjust_action_on_one_exception(finance, day_with_differences):
    exception = day_with_differences["missing_external"]
    client_for(finance).post(
        QUEUE,
        {
            "action": "adjust_selected",
            "_selected_action": [exception.pk],
            "_confirm": "1",
            "note": "never settled",
            "amount": "-30.00",
        },
    )
    exception.refresh_from_db()
    assert (exception.resolution, exception.ledger_entry.currency) == ("adjusted", "EUR")


def test_only_the_resolve_permission_may_resolve(db, day_with_differences):
    viewer = staff_user("vic.viewer")
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="reconciliation", codename__startswith="view_")
    )
    client = client_for(viewer)
    exception = day_with_differences["amount_mismatch"]
    assert client.get(QUEUE).status_code == 200
    assert client.get(page(exception)).context["backoffice_buttons"] == []
    for action in ("write-off", "adjust", "explain"):
        assert client.get(page(exception, action)).status_code == 403
        assert client.post(page(exception, action), {"note": "x", "amount": "1"}).status_code == 403
    assert client.get(QUEUE).context["action_form"] is None  # no action is offered
    client.post(
        QUEUE, {"action": "write_off_selected", "_selected_action": [exception.pk], "_confirm": "1", "note": "x"}
    )
    exception.refresh_from_db()
    assert exception.status == "open"
    assert not AuditEntry.objects.filter(action__startswith="reconciliation_exception.").exists()


def test_support_does_not_see_reconciliation(support, day_with_differences):
    client = client_for(support)
    assert client.get(QUEUE).status_code == 403
    assert client.get(RUNS).status_code == 403


def test_nothing_is_added_changed_or_deleted(finance, day_with_differences):
    client = client_for(finance)
    exception = day_with_differences["amount_mismatch"]
    assert client.get(f"{QUEUE}add/").status_code == 403
    assert client.post(f"{QUEUE}{exception.pk}/delete/").status_code == 403
    assert client.post(page(exception), {"note": "edited"}).status_code == 403
    assert "delete_selected" not in str(client.get(QUEUE).context["action_form"].fields["action"].choices)
    exception.refresh_from_db()
    assert exception.note == "" and ReconciliationException.objects.count() == 3


def test_services_refuse_without_the_permission(support, day_with_differences):
    from core.staff import StaffPermissionDenied
    from reconciliation.services import exception_explain

    with pytest.raises(StaffPermissionDenied):
        exception_explain(exception=day_with_differences["amount_mismatch"], user=support, note="x")
