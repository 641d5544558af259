"""Staff sign-in (issue 12, item 4; PCI DSS v4 8.3.4 and 8.4.2).

- Throttling (django-axes): ``AXES_FAILURE_LIMIT`` (5) wrong passwords for one username from one
  address lock that pair out for ``AXES_COOLOFF_TIME`` (15 min), the right password included; the
  lockout is a row in the database, so every web process sees it; the page says so (429, never a 500).
- A second factor (django-otp, TOTP): with ``STAFF_REQUIRE_OTP`` (on unless ``DJANGO_DEBUG=1``) every
  staff user, superusers included, must give a valid code from an enrolled device to use the admin; a
  user without one is told how to enrol (``manage.py staff_totp_enroll``).
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django_otp import DEVICE_ID_SESSION_KEY

from tests.staff import LOGIN_URL, PASSWORD, login_form, staff_user, totp_code, totp_device

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.20"


def attempt(client: Client, user: User, *, ip: str = ATTACKER, **form):
    return client.post(LOGIN_URL, login_form(user, **form), REMOTE_ADDR=ip)


def in_admin(client: Client) -> bool:
    """The admin's index answers (not a redirect to the login page)."""
    return client.get("/admin/").status_code == 200


def page(response) -> str:
    return response.content.decode()


@pytest.fixture
def sam(db):
    return staff_user("sam.support", "Support")


# --- Throttling -----------------------------------------------------------------------------------


def test_sixty_wrong_passwords_then_the_right_one_is_refused(sam):
    client = Client()
    for _ in range(60):
        attempt(client, sam, password="wrong password")
    response = attempt(client, sam)
    assert response.status_code == 429
    assert not in_admin(client)
    assert "Too many failed sign-in attempts" in page(response)


def test_the_lockout_starts_at_the_fifth_failure(settings, sam):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for number in range(1, 5):
        response = attempt(client, sam, password="wrong password")
        assert response.status_code == 200, number  # the login page again, with its error
        assert "Please enter the correct username and password" in page(response)
    assert attempt(client, sam, password="wrong password").status_code == 429
    assert attempt(client, sam).status_code == 429
    assert not in_admin(client)


def test_a_success_before_the_limit_starts_the_count_again(sam):
    for _ in range(4):
        attempt(Client(), sam, password="wrong password")
    assert attempt(Client(), sam).status_code == 302
    for _ in range(4):
        attempt(Client(), sam, password="wrong password")
    client = Client()
    assert attempt(client, sam).status_code == 302
    assert in_admin(client)


def test_the_locked_out_page_says_what_happened_and_for_how_long(sam):
    for _ in range(5):
        attempt(Client(), sam, password="wrong password")
    response = attempt(Client(), sam)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    body = page(response)
    assert "Too many failed sign-in attempts" in body
    assert "15 minutes" in body and "sam.support" in body
    assert "correct horse" not in body


def test_the_lockout_is_per_username_and_address(sam):
    other = staff_user("sue.support", "Support")
    for _ in range(5):
        attempt(Client(), sam, password="wrong password")
    # The same user from another address, and another user from the same address, are not locked out.
    assert attempt(Client(), sam, ip=OTHER_ADDRESS).status_code == 302
    assert attempt(Client(), other).status_code == 302
    assert attempt(Client(), sam).status_code == 429


def test_the_lockout_is_kept_in_the_database_so_every_web_process_sees_it(settings, sam):
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
    for _ in range(5):
        attempt(Client(), sam, password="wrong password")
    locked = AccessAttempt.objects.get(username="sam.support", ip_address=ATTACKER)
    assert locked.failures_since_start == 5
    # A fresh client (no session, no cookie: as if another gunicorn worker answered) is refused too.
    assert attempt(Client(), sam).status_code == 429


def test_the_lockout_ends_after_the_cool_off(settings, sam):
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    for _ in range(60):
        attempt(Client(), sam, password="wrong password")
    assert attempt(Client(), sam).status_code == 429
    # 14 minutes later: still locked out (the refused attempt above renewed the cool-off).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=14))
    assert attempt(Client(), sam).status_code == 429
    # Then nobody tries for 15 minutes.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    client = Client()
    assert attempt(client, sam).status_code == 302
    assert in_admin(client)


@override_settings(AXES_COOLOFF_TIME=timedelta(seconds=1))
def test_the_cool_off_is_a_setting(sam):
    import time

    for _ in range(5):
        attempt(Client(), sam, password="wrong password")
    assert attempt(Client(), sam).status_code == 429
    time.sleep(1.1)
    assert attempt(Client(), sam).status_code == 302


# --- The second factor ----------------------------------------------------------------------------


def test_staff_without_a_device_cannot_enter_and_are_told_how_to_enrol(settings, sam):
    assert settings.STAFF_REQUIRE_OTP
    client = Client()
    response = attempt(client, sam, token="")
    assert response.status_code == 200
    assert "manage.py staff_totp_enroll sam.support" in page(response)
    assert not in_admin(client)
    # A code typed anyway changes nothing: there is no device to check it against.
    response = attempt(client, sam, token="123456")
    assert "manage.py staff_totp_enroll sam.support" in page(response)
    assert not in_admin(client)


def test_a_missing_or_wrong_code_is_refused(sam):
    device = totp_device(sam)
    client = Client()
    response = attempt(client, sam, token="")
    assert response.status_code == 200 and "Enter the 6-digit code" in page(response)
    assert not in_admin(client)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    response = attempt(client, sam, token=wrong)
    assert response.status_code == 200 and "That code is not valid" in page(response)
    assert not in_admin(client)


def test_the_right_code_lets_staff_in(sam):
    client = Client()
    response = attempt(client, sam)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert in_admin(client)
    assert client.session[DEVICE_ID_SESSION_KEY] == totp_device(sam).persistent_id


def test_wrong_codes_count_towards_the_lockout_like_wrong_passwords(sam):
    device = totp_device(sam)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    assert "That code is not valid" in page(attempt(Client(), sam, token=wrong))
    for _ in range(3):  # django-otp now also makes the device wait a little longer after each wrong code
        assert "Verification temporarily disabled" in page(attempt(Client(), sam, token=wrong))
    assert attempt(Client(), sam, token=wrong).status_code == 429
    assert attempt(Client(), sam).status_code == 429


def test_an_administrator_lifts_a_lockout(sam):
    from django.core.management import call_command

    for _ in range(5):
        attempt(Client(), sam, password="wrong password")
    assert attempt(Client(), sam).status_code == 429
    call_command("axes_reset_username", "sam.support")
    assert attempt(Client(), sam).status_code == 302


def test_a_code_is_accepted_once(sam):
    code = totp_code(totp_device(sam))
    assert attempt(Client(), sam, token=code).status_code == 302
    replay = Client()
    assert "That code is not valid" in page(attempt(replay, sam, token=code))
    assert not in_admin(replay)


def test_a_wrong_password_with_the_right_code_is_refused(sam):
    client = Client()
    response = attempt(client, sam, password="wrong password")
    assert "Please enter the correct username and password" in page(response)
    assert not in_admin(client)


def test_a_password_only_session_is_not_enough(sam):
    client = Client()
    client.force_login(sam)  # authenticated, never verified by a second factor
    for url in ("/admin/", "/admin/payments/payment/", "/admin/backoffice/refundrequest/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL), url


def test_every_admin_page_is_behind_the_second_factor(db):
    from django.contrib import admin
    from django.urls import reverse

    from backoffice.staff_auth import StaffAdminSite

    assert isinstance(admin.site, StaffAdminSite)
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(root)
    assert len(admin.site._registry) > 20
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL), url


def test_superusers_need_the_second_factor_too(db):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    assert "manage.py staff_totp_enroll root" in page(attempt(client, root, token=""))
    assert not in_admin(client)
    assert attempt(client, root).status_code == 302
    assert in_admin(client)


def test_the_login_page_asks_for_the_code(db):
    body = page(Client().get(LOGIN_URL))
    assert 'name="otp_token"' in body and 'autocomplete="one-time-code"' in body


@override_settings(STAFF_REQUIRE_OTP=False)
def test_when_optional_a_user_without_a_device_signs_in_with_the_password(sam):
    client = Client()
    assert attempt(client, sam, token="").status_code == 302
    assert in_admin(client)


@override_settings(STAFF_REQUIRE_OTP=False)
def test_when_optional_an_enrolled_user_still_needs_the_code(sam):
    totp_device(sam)
    client = Client()
    assert "Enter the 6-digit code" in page(attempt(client, sam, token=""))
    assert not in_admin(client)
    assert attempt(client, sam).status_code == 302
    assert in_admin(client)


def test_an_unverified_session_of_a_user_without_a_device_is_refused(sam):
    """A session from before enrolment was required (or from force_login) does not get in."""
    client = Client()
    with override_settings(STAFF_REQUIRE_OTP=False):
        assert attempt(client, sam, token="").status_code == 302
        assert in_admin(client)
    assert not in_admin(client)


def test_the_admin_never_shows_a_device_secret(db):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    sam_device = totp_device(staff_user("sam.support", "Support"))
    client = Client()
    assert attempt(client, root).status_code == 302
    body = page(client.get(f"/admin/otp_totp/totpdevice/{sam_device.pk}/change/"))
    assert "sam.support" in body and sam_device.key not in body
    assert client.get(f"/admin/otp_totp/totpdevice/{sam_device.pk}/config/").status_code in (403, 404)
