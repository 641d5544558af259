"""Database helpers shared by the services."""

from django.db import connection


def in_transaction() -> bool:
    """True inside a transaction that a service (not the test framework) opened.

    Django's TestCase wraps each test in atomic blocks marked ``_from_testcase``;
    they stand in for autocommit, so they do not count.
    """
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def assert_no_transaction(what: str) -> None:
    """Refuse to make a network call (``what``) while a transaction holds locks."""
    if in_transaction():
        raise RuntimeError(f"{what} must never happen inside a database transaction")
