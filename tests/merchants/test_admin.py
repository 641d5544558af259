import pytest
from django.contrib.auth import get_user_model

from core.models import AuditEntry
from merchants.models import ApiKey
from tests.staff import PASSWORD, client_for


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    return client_for(user)  # password and TOTP code, through the login page


def test_creating_a_key_in_the_admin_shows_it_once(admin_client, merchant):
    response = admin_client.post(
        "/admin/merchants/apikey/add/", {"merchant": merchant.pk, "name": "from admin"}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="from admin")
    page = response.content.decode()
    assert "shown only this once" in page
    secret = page.split("<code>")[1].split("</code>")[0]
    assert secret.startswith(key.prefix)
    # The change page afterwards shows only the prefix.
    later = admin_client.get(f"/admin/merchants/apikey/{key.pk}/change/").content.decode()
    assert secret not in later and key.prefix in later


def test_revoke_action(admin_client, issued_key):
    response = admin_client.post(
        "/admin/merchants/apikey/",
        {"action": "revoke", "_selected_action": [issued_key.api_key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.is_revoked


def test_merchant_suspend_action(admin_client, merchant):
    admin_client.post("/admin/merchants/merchant/", {"action": "suspend", "_selected_action": [merchant.pk]})
    merchant.refresh_from_db()
    assert merchant.status == "suspended"


def _change_form(merchant, **changes) -> dict:
    """The merchant's change form as the admin posts it, with ``changes`` made."""
    return {
        "name": merchant.name,
        "settlement_currency": merchant.settlement_currency,
        "status": merchant.status,
        "payout_delay_days": merchant.payout_delay_days,
        "payout_interval": merchant.payout_interval,
        "payout_weekly_anchor": merchant.payout_weekly_anchor,
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
        "api_keys-MIN_NUM_FORMS": "0",
        "api_keys-MAX_NUM_FORMS": "1000",
        **changes,
    }


def test_a_payout_schedule_edited_in_the_admin_is_audited_with_the_staff_member(admin_client, merchant):
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"
    changes = {"payout_interval": "weekly", "payout_delay_days": 7, "payout_weekly_anchor": "friday", "name": "Renamed"}
    response = admin_client.post(url, _change_form(merchant, **changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    merchant.refresh_from_db()
    assert (merchant.payout_interval, merchant.payout_delay_days, merchant.payout_weekly_anchor) == (
        "weekly",
        7,
        "friday",
    )
    assert merchant.name == "Renamed"
    [entry] = AuditEntry.objects.filter(action="merchant.payout_schedule", object_id=merchant.pk)
    assert entry.actor == "staff:root"
    assert entry.before == {"interval": "manual", "delay_days": 2, "weekly_anchor": "monday"}
    assert entry.after == {"interval": "weekly", "delay_days": 7, "weekly_anchor": "friday"}


def test_an_admin_save_that_leaves_the_schedule_alone_writes_no_schedule_audit(admin_client, merchant):
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"
    response = admin_client.post(url, _change_form(merchant, name="Only the name"))
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.name == "Only the name"
    assert not AuditEntry.objects.filter(action="merchant.payout_schedule").exists()


def test_the_admin_refuses_a_delay_the_api_refuses(admin_client, merchant):
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"
    response = admin_client.post(url, _change_form(merchant, payout_delay_days=31))
    assert response.status_code == 200  # the form again, with its error
    assert "At most 30 days" in response.content.decode()
    merchant.refresh_from_db()
    assert merchant.payout_delay_days == 2
    assert not AuditEntry.objects.filter(action="merchant.payout_schedule").exists()
