"""The ledger in the admin: visible to staff, changeable by nobody, superusers included."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client, RequestFactory

from core.ids import new_id
from ledger import posting_rules
from ledger.models import Account, JournalEntry, LedgerCheckRun, Posting
from ledger.services import ledger_check_run_record
from tests.ledger.helpers import new_payment_id
from tests.staff import verified_login

pytestmark = pytest.mark.django_db

MODELS = [Account, JournalEntry, Posting, LedgerCheckRun]


@pytest.fixture
def admin_client(admin_user):
    """pytest-django's superuser, its login verified by a second factor as the admin requires."""
    return verified_login(Client(), admin_user)


@pytest.fixture
def ledger_rows(merchant):
    pay = new_payment_id()
    posting_rules.payment_authorized(payment_id=pay, merchant=merchant, amount=5_000, currency="USD")
    posting_rules.payment_captured(
        payment_id=pay, merchant=merchant, amount_captured=4_000, currency="USD", authorized=True
    )
    posting_rules.manual_adjustment(
        adjustment_id=new_id("adj"), merchant=merchant, amount=100, currency="USD", memo="goodwill"
    )
    ledger_check_run_record()
    return {model: model.objects.first() for model in MODELS}


def url(model, view, *args):
    name = model._meta.model_name
    suffix = "/".join(str(arg) for arg in args)
    return f"/admin/ledger/{name}/{suffix + '/' if suffix else ''}{view}"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_nobody_may_add_change_or_delete(model, admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_superuser_sees_but_cannot_write(model, admin_client, ledger_rows):
    obj = ledger_rows[model]
    assert admin_client.get(url(model, "")).status_code == 200
    change = admin_client.get(url(model, "change/", obj.pk))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content  # read-only page
    assert admin_client.get(url(model, "add/")).status_code == 403
    assert admin_client.post(url(model, "change/", obj.pk), {}).status_code == 403
    assert admin_client.post(url(model, "delete/", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_accounts_show_derived_balances(admin_client, ledger_rows, merchant):
    page = admin_client.get(url(Account, ""), {"q": merchant.pk}).content.decode()
    # merchant_available: 4 000 captured − (116 + 30) fee + 100 adjustment = 39.54 USD
    assert "39.54 USD" in page


def test_journal_entries_show_their_postings(admin_client, ledger_rows):
    charge = JournalEntry.objects.get(type="charge")
    page = admin_client.get(url(JournalEntry, "change/", charge.pk)).content.decode()
    assert page.count("processor_receivable") >= 2 and "Dr" in page and "Cr" in page


def test_staff_with_view_permission_can_read(client, ledger_rows):
    staff = User.objects.create_user("finance", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ledger", codename__startswith="view_")
    )
    verified_login(client, staff)
    assert client.get(url(JournalEntry, "")).status_code == 200
    assert client.get(url(JournalEntry, "add/")).status_code == 403
