"""How staff sign in to the admin: password, then a TOTP code (PCI DSS v4 8.4.2); throttled by django-axes.

- ``StaffAdminSite`` is the project's ``admin.site`` (``StaffAdminConfig`` in INSTALLED_APPS). With
  ``STAFF_REQUIRE_OTP`` (on unless ``DJANGO_DEBUG=1``) it lets in only sessions that a confirmed TOTP
  device verified at login (django-otp's middleware puts ``user.is_verified()`` on every request);
  superusers included. With it off, a user without a device signs in with the password alone, and a
  user who has enrolled one must still give its code.
- ``StaffLoginForm`` asks for the password and the code on one page. Each staff user has one TOTP
  device (``manage.py staff_totp_enroll``), so nobody picks a device. A user without one is told how to
  enrol. A wrong code counts as a failed login for django-axes, like a wrong password, on top of
  django-otp's own growing delay after each wrong code.
- django-axes locks a username at one address out after ``AXES_FAILURE_LIMIT`` failures for
  ``AXES_COOLOFF_TIME``, the right password included; ``lockout_response`` is the page it then answers
  with (429).
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import render
from django_otp import devices_for_user
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.models import Device

ENROL_COMMAND = "python manage.py staff_totp_enroll {username}"
NOT_ENROLLED = (
    "Your account has no second factor yet, and the admin requires one. Ask an administrator to run "
    "“" + ENROL_COMMAND + "”, then add the key it shows to an authenticator app and sign in with its code."
)


def staff_device(user) -> Device | None:
    """The user's confirmed OTP device (staff have one: a TOTP authenticator), or None."""
    return next(iter(devices_for_user(user, confirmed=True)), None)


def otp_required() -> bool:
    return bool(settings.STAFF_REQUIRE_OTP)


def is_verified(user) -> bool:
    """Whether this session's login was verified by a second factor (set by django_otp's middleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


class CodeInput(forms.TextInput):
    """A one-time code is never shown back: after a refusal the user types the current one."""

    def format_value(self, value):
        return None


class StaffLoginForm(OTPAuthenticationFormMixin, AdminAuthenticationForm):
    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=16,
        strip=True,
        widget=CodeInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
        help_text="The 6-digit code your authenticator app shows now.",
    )

    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the 6-digit code from your authenticator app.",
        "invalid_token": "That code is not valid. Enter the code your authenticator app shows now.",
    }

    def clean(self):
        cleaned = super().clean()  # the password (through django-axes), then active staff only
        user = self.get_user()
        if user is not None:
            self.clean_second_factor(user)
        return cleaned

    def clean_second_factor(self, user) -> None:
        user.otp_device = None
        if staff_device(user) is None:
            if otp_required():
                raise forms.ValidationError(NOT_ENROLLED.format(username=user.get_username()), code="otp_not_enrolled")
            return
        try:
            self.clean_otp(user)  # sets user.otp_device; django-otp records it in the session at login
        except forms.ValidationError as error:
            if error.code != "token_required":  # a wrong code, or one sent while django-otp makes them wait
                # django-axes counts it as a failed sign-in of this username from this address.
                user_login_failed.send(
                    sender=type(self), request=self.request, credentials={"username": user.get_username()}
                )
            raise

    def _chosen_device(self, user):
        device = staff_device(user)
        return None if device is None else Device.from_persistent_id(device.persistent_id, for_verify=True)

    def _update_form(self, user):
        """django-otp would render the password back into the page after a wrong code: it is typed again."""


class StaffAdminSite(admin.AdminSite):
    """The admin, open to active staff whose login a second factor verified (when ``STAFF_REQUIRE_OTP``)."""

    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"
    # No "View site" link: the platform has no site behind "/" (it led to a 404 page); the API reference is
    # at /api/docs/.
    site_url = None

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if is_verified(request.user):
            return True
        return not otp_required() and staff_device(request.user) is None

    def index(self, request, extra_context=None):
        """The home page: the dashboard of the user's role (``backoffice.admin.dashboard``), then every section."""
        from backoffice.admin.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``): the admin's page, 429."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit

    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "cool_off": _duration(cool_off) if cool_off else None,
    }
    return render(request, "admin/staff_locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
