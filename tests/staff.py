"""Back-office staff for tests: users in the groups the data migrations create, and logged-in clients."""

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
