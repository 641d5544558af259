import json

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from merchants.services import api_key_issue, merchant_create


class Command(BaseCommand):
    help = "Create a merchant and a secret API key (the key is printed once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--currency", default="USD", help="settlement currency (ISO 4217), default USD")
        parser.add_argument("--json", action="store_true", help='last line: {"merchant_id", "api_key"}')

    def handle(self, *args, name, currency, json: bool = False, **options):
        try:
            merchant = merchant_create(name=name, settlement_currency=currency)
        except DomainError as error:
            raise CommandError(error.message) from error
        issued = api_key_issue(merchant=merchant, name="created by create_merchant")
        if json:
            self.stdout.write(_json_line({"merchant_id": merchant.id, "api_key": issued.secret}))
        else:
            self.stdout.write(f"Merchant {merchant.name} ({merchant.id}), settles in {merchant.settlement_currency}")
            self.stdout.write(f"Secret key (shown once): {issued.secret}")


def _json_line(data: dict) -> str:
    return json.dumps(data)
