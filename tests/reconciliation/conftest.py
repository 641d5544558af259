"""Fixtures for the reconciliation tests: staff users with and without the resolve permission."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

PASSWORD = "correct horse battery staple"


def staff_user(username: str, *groups: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    assert user.groups.count() == len(groups), f"missing group among {groups}"
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def finance(db):
    return staff_user("fay.finance", "Finance")


@pytest.fixture
def support(db):
    return staff_user("sam.support", "Support")


@pytest.fixture
def fresh_sandbox(settings):
    """A sandbox processor of this test's own, so its settlement report holds only this test's lines."""
    from tests.sandbox_process import SandboxProcess

    env = {"SANDBOX_TIMEOUT_DELAY_SECONDS": "3", "SANDBOX_DISPUTE_DECISION_SECONDS": "1",
           "SANDBOX_DISPUTE_DELAY_SECONDS": "3600"}  # fmt: skip
    with SandboxProcess(env=env) as process:
        settings.PROCESSOR_BASE_URL = process.base_url
        settings.PROCESSOR_READ_TIMEOUT = 1.5
        settings.PROCESSOR_CONNECT_TIMEOUT = 1.0
        yield process
