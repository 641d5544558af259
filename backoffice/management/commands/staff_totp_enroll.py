"""``manage.py staff_totp_enroll <username> [--reset]``: enrol a staff user's second factor (TOTP).

Creates a confirmed TOTP device for the user and prints, this once, its otpauth:// URI, its secret
and a QR code for an authenticator app. The secret is never shown again: enrolling a user who already
has a confirmed device is refused unless ``--reset``, which replaces it (the old device stops working,
and sessions it verified lose access to the admin).
"""

import io
from base64 import b32encode

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.staff_auth import ENROL_COMMAND


class Command(BaseCommand):
    help = "Enrol a staff user's TOTP second factor; print its otpauth:// URI, secret and QR code once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true", help="Replace the user's existing device (the old one stops working)."
        )
        parser.add_argument("--name", default="authenticator", help="The device's name (default: authenticator).")
        parser.add_argument("--no-qr", action="store_true", help="Do not print the QR code.")

    def handle(self, *args, username, reset, name, no_qr, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not user.is_staff:
            raise CommandError(f"{username} is not staff: only staff sign in to the admin.")
        with transaction.atomic():
            devices = TOTPDevice.objects.select_for_update().filter(user=user)
            confirmed = [device for device in devices if device.confirmed]
            if confirmed and not reset:
                raise CommandError(
                    f"{username} already has a confirmed TOTP device ({confirmed[0].name!r}); its secret is not "
                    f"shown again. To replace it (the old one stops working): "
                    f"{ENROL_COMMAND.format(username=username)} --reset"
                )
            TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)

        uri = device.config_url
        write = self.stdout.write
        replaced = " (replacing the old one)" if confirmed else ""
        write(self.style.SUCCESS(f"TOTP second factor enrolled for {username}{replaced}."))
        ways = "open the URI" if no_qr else "scan the QR code, or open the URI"
        write(f"Add it to an authenticator app: {ways}, or type the secret.")
        write("It is shown only this once.")
        write(f"URI:    {uri}")
        write(f"Secret: {b32encode(device.bin_key).decode().rstrip('=')}")
        if not no_qr:
            write(qr_code(uri))


def qr_code(text: str) -> str:
    """``text`` as a QR code drawn with block characters (light on a dark terminal)."""
    import qrcode

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
