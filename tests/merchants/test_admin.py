import pytest
from django.contrib.auth import get_user_model

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
