from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.core import checks
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self):
        from backoffice.roles import roles_sync_after_migrate

        checks.register(staff_otp_check, checks.Tags.security)
        # The staff roles are created and kept equal to backoffice.roles after every migrate (and flush).
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="backoffice.roles_sync")


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
