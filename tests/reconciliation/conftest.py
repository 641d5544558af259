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
