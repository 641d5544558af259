from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.core import checks


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self):
        checks.register(staff_otp_check, checks.Tags.security)


class StaffAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with ``admin.site`` being the back office's site: sign-in with a second factor."""

    default = False  # listed by its dotted path in INSTALLED_APPS, in place of "django.contrib.admin"
    default_site = "backoffice.staff_auth.StaffAdminSite"


def staff_otp_check(app_configs=None, **kwargs):
    from django.conf import settings

    if not settings.DEBUG and not settings.STAFF_REQUIRE_OTP:
        return [
            checks.Warning(
                "STAFF_REQUIRE_OTP is off while DJANGO_DEBUG is 0: staff can use the admin without a second factor.",
                hint="PCI DSS v4 8.4.2 requires one for administrative access: unset STAFF_REQUIRE_OTP.",
                id="backoffice.W001",
            )
        ]
    return []
