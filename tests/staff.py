"""Back-office staff for tests: users in the groups the data migrations create, and logged-in clients.

Staff sign in as in production: password, then a TOTP code from their enrolled device (django-otp,
required when ``STAFF_REQUIRE_OTP``). ``client_for`` goes through the real login form with a valid
code; ``verified_login`` is for users whose password a test does not know (``force_login`` alone
leaves the session unverified, which the admin refuses).
"""

from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct horse battery staple"
LOGIN_URL = "/admin/login/"


def staff_user(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    assert user.groups.count() == len(groups), f"missing group among {groups}"
    return user


def totp_device(user: User) -> TOTPDevice:
    """The user's confirmed TOTP device, enrolled on first use (as ``manage.py staff_totp_enroll`` does)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def totp_code(device: TOTPDevice, *, fresh: bool = True) -> str:
    """The code an authenticator app shows now for ``device``.

    django-otp refuses a code of a time step it has already accepted (a replay); a test that logs the
    same user in twice within 30 s would be refused, so ``fresh`` forgets the last accepted step first.
    """
    if fresh:
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
        device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def login_form(user: User, *, password: str = PASSWORD, token: str | None = None) -> dict:
    """What staff type into the admin's login page (the token left out when ``token`` is ``""``)."""
    data = {"username": user.get_username(), "password": password, "next": "/admin/"}
    token = totp_code(totp_device(user)) if token is None else token
    if token:
        data["otp_token"] = token
    return data


def client_for(user: User) -> Client:
    """A client logged into the admin through its login page: password and a valid TOTP code."""
    client = Client()
    response = client.post(LOGIN_URL, login_form(user))
    assert response.status_code == 302, f"{user} could not log in: {response.content[:3000]!r}"
    return client


def verified_login(client: Client, user: User) -> Client:
    """``force_login`` plus the OTP verification a real login records in the session (django_otp.login)."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()
    return client
