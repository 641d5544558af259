"""Fixtures shared by the whole suite."""

import os

import pytest
from rest_framework.test import APIClient

from merchants.services import api_key_issue, merchant_create


def database_is_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="needs PostgreSQL: set DATABASE_URL=postgres://…",
)
requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL=redis://…")


@pytest.fixture
def merchant(db):
    return merchant_create(name="Test merchant", settlement_currency="USD")


@pytest.fixture
def issued_key(merchant):
    return api_key_issue(merchant=merchant, name="test")


@pytest.fixture
def api_key(issued_key) -> str:
    """The plain secret key of ``merchant``."""
    return issued_key.secret


@pytest.fixture
def api_client(api_key) -> APIClient:
    """An API client authenticated as ``merchant``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_merchant(db):
    return merchant_create(name="Other merchant", settlement_currency="EUR")


@pytest.fixture
def other_api_client(other_merchant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_issue(merchant=other_merchant).secret}")
    return client
