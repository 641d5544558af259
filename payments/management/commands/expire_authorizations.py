from django.core.management.base import BaseCommand

from payments.services import payments_expire_authorizations


class Command(BaseCommand):
    help = "Release uncaptured authorisations older than PAYMENT_AUTHORIZATION_TTL_SECONDS (7 days)."

    def handle(self, *args, **options):
        self.stdout.write(f"expired {payments_expire_authorizations()} authorisation(s)")
