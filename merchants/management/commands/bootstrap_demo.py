"""Used by ``make run``: a demo merchant with a key and an admin user, created once."""

import json
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from merchants.models import Merchant
from merchants.services import api_key_issue, merchant_create

CREDENTIALS_FILE = "demo-credentials.json"


class Command(BaseCommand):
    help = "Create the demo merchant, its key and an admin user on first run; print them."

    def handle(self, *args, **options):
        path = settings.VAR_DIR / CREDENTIALS_FILE
        credentials = json.loads(path.read_text()) if path.exists() else {}
        user_model = get_user_model()

        merchant = Merchant.objects.filter(pk=credentials.get("merchant_id")).first()
        if merchant is None:
            merchant = merchant_create(name="Demo merchant", settlement_currency="USD")
            credentials["merchant_id"] = merchant.id
            credentials["api_key"] = api_key_issue(merchant=merchant, name="demo").secret

        if not user_model.objects.filter(username=credentials.get("admin_username", "admin")).exists():
            password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@example.com", password)
            credentials.update(admin_username="admin", admin_password=password)

        # Development only: the demo credentials are kept in var/ (mode 600) so
        # that every `make run` can print them again.
        path.write_text(json.dumps(credentials, indent=2))
        path.chmod(0o600)
        self.stdout.write("Demo merchant:  " + credentials["merchant_id"])
        self.stdout.write("Demo API key:   " + credentials["api_key"])
        self.stdout.write(
            f"Admin login:    http://127.0.0.1:{os.environ.get('PORT', '8000')}/admin/ "
            f"as {credentials.get('admin_username', 'admin')} / {credentials.get('admin_password', '(set earlier)')}"
        )
