"""Authentication: missing, unknown, malformed, revoked keys and suspended merchants all answer 401."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from merchants.keys import hash_key
from merchants.models import ApiKey
from merchants.services import api_key_issue, api_key_revoke, merchant_suspend
from tests.edge.test_errors import assert_error_shape

PROTECTED = "/api/v1/account"


def _client(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.mark.django_db
def test_missing_key_is_401():
    error = assert_error_shape(_client(None).get(PROTECTED), 401, "authentication_error", "api_key_missing")
    assert "Bearer" in error["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        "Bearer sk_test_" + "A" * 40,  # well-formed, unknown
        "Bearer sk_test_short",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer sk_live_" + "A" * 40,
    ],
)
def test_unknown_or_malformed_key_is_401(header):
    assert_error_shape(_client(header).get(PROTECTED), 401, "authentication_error")


def test_right_prefix_wrong_secret_is_401(issued_key):
    forged = issued_key.secret[:-4] + ("AAAA" if not issued_key.secret.endswith("AAAA") else "BBBB")
    assert_error_shape(_client(f"Bearer {forged}").get(PROTECTED), 401, "authentication_error", "api_key_invalid")


def test_revoked_key_is_401(issued_key, api_key):
    api_key_revoke(api_key=issued_key.api_key)
    assert_error_shape(_client(f"Bearer {api_key}").get(PROTECTED), 401, "authentication_error", "api_key_invalid")


def test_suspended_merchant_key_fails_like_a_revoked_one(merchant, api_key):
    merchant_suspend(merchant=merchant)
    revoked = api_key_issue(merchant=merchant)
    body_suspended = _client(f"Bearer {api_key}").get(PROTECTED).json()
    api_key_revoke(api_key=revoked.api_key)
    body_revoked = _client(f"Bearer {revoked.secret}").get(PROTECTED).json()
    assert body_suspended == body_revoked
    assert body_suspended["error"]["type"] == "authentication_error"


def test_valid_key_authenticates_and_records_last_used(api_client, issued_key):
    assert issued_key.api_key.last_used_at is None
    response = api_client.get("/api/v1/no-such-route-but-authenticated")
    assert response.status_code == 404
    response = api_client.get(PROTECTED)
    assert response.status_code != 401
    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.last_used_at is not None


def test_no_key_is_stored_in_plain_text(issued_key):
    secret = issued_key.secret
    assert secret.startswith("sk_test_") and len(secret) >= len("sk_test_") + 32
    stored = ApiKey.objects.get(pk=issued_key.api_key.pk)
    assert stored.key_hash == hash_key(secret) and secret not in stored.key_hash
    assert secret.startswith(stored.prefix) and len(secret) - len(stored.prefix) >= 32
    # Look at every text column of every table: the secret is nowhere.
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names come from introspection
            for row in cursor.fetchall():
                assert not any(isinstance(value, str) and secret in value for value in row), table


def test_keys_are_unique_and_random(merchant):
    secrets = {api_key_issue(merchant=merchant).secret for _ in range(20)}
    assert len(secrets) == 20
