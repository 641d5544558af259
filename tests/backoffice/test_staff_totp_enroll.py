"""``manage.py staff_totp_enroll <username>``: a confirmed TOTP device, its otpauth:// URI and secret shown once."""

import base64
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.staff import LOGIN_URL, PASSWORD, staff_user

pytestmark = pytest.mark.django_db


def enrol(*args) -> str:
    out = StringIO()
    call_command("staff_totp_enroll", *args, stdout=out)
    return out.getvalue()


def uri_in(output: str) -> str:
    return re.search(r"otpauth://\S+", output).group(0)


def code_from_secret(secret: str) -> str:
    """What an authenticator app that scanned the URI shows now."""
    return f"{totp(base64.b32decode(secret + '=' * (-len(secret) % 8))):06d}"


def test_enrolment_creates_a_confirmed_device_and_shows_its_uri_and_secret(db):
    staff_user("sam.support", "Support")
    output = enrol("sam.support", "--no-qr")
    device = TOTPDevice.objects.get(user__username="sam.support")
    assert device.confirmed
    uri = urlsplit(uri_in(output))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert "sam.support" in uri.path
    secret = parse_qs(uri.query)["secret"][0]
    assert f"Secret: {secret}" in output
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key


def test_the_printed_secret_logs_in(db):
    user = staff_user("sam.support", "Support")
    secret = parse_qs(urlsplit(uri_in(enrol("sam.support", "--no-qr"))).query)["secret"][0]
    client = Client()
    response = client.post(
        LOGIN_URL, {"username": user.username, "password": PASSWORD, "otp_token": code_from_secret(secret)}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_second_enrolment_is_refused_and_never_shows_the_secret_again(db):
    staff_user("sam.support", "Support")
    enrol("sam.support", "--no-qr")
    device = TOTPDevice.objects.get()
    with pytest.raises(CommandError, match="already has a confirmed TOTP device.*--reset") as refused:
        enrol("sam.support", "--no-qr")
    assert device.key not in str(refused.value)
    assert TOTPDevice.objects.get().key == device.key


def test_reset_replaces_the_device(db):
    staff_user("sam.support", "Support")
    enrol("sam.support", "--no-qr")
    old = TOTPDevice.objects.get()
    output = enrol("sam.support", "--reset", "--no-qr")
    new = TOTPDevice.objects.get()
    assert new.key != old.key and new.confirmed
    assert new.config_url == uri_in(output)


def test_unknown_or_non_staff_users_are_refused(db):
    User.objects.create_user("customer", password=PASSWORD)
    with pytest.raises(CommandError, match="No user"):
        enrol("nobody")
    with pytest.raises(CommandError, match="not staff"):
        enrol("customer")
    assert not TOTPDevice.objects.exists()


def test_a_qr_code_is_printed_for_the_terminal(db):
    staff_user("sam.support", "Support")
    output = enrol("sam.support")
    assert "█" in output or "▀" in output
