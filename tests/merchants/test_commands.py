import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from merchants.models import ApiKey, Merchant


@pytest.mark.django_db
def test_create_merchant_json_prints_a_working_key_on_the_last_line():
    out = StringIO()
    call_command("create_merchant", "Acme Books", "--currency", "eur", "--json", stdout=out)
    created = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(created) == {"merchant_id", "api_key"}
    merchant = Merchant.objects.get(pk=created["merchant_id"])
    assert merchant.name == "Acme Books" and merchant.settlement_currency == "EUR"
    assert ApiKey.objects.filter(merchant=merchant).count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['api_key']}")
    assert client.get("/api/v1/account").status_code == 200


@pytest.mark.django_db
def test_create_merchant_refuses_an_unknown_currency():
    with pytest.raises(CommandError, match="Unknown currency"):
        call_command("create_merchant", "Acme", "--currency", "ZZZ", stdout=StringIO())
    assert not Merchant.objects.exists()


@pytest.mark.django_db
def test_bootstrap_demo_is_idempotent(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("bootstrap_demo", stdout=first)
    call_command("bootstrap_demo", stdout=second)
    assert Merchant.objects.count() == 1
    assert first.getvalue() == second.getvalue()
    assert "sk_test_" in first.getvalue() and "admin" in first.getvalue()
