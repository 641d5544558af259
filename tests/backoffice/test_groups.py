"""The staff groups (migration backoffice 0002): explicit permissions, idempotent, Operations extended."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db

groups_migration = importlib.import_module("backoffice.migrations.0002_staff_groups")


def codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_three_groups_exist_once_each():
    assert sorted(
        Group.objects.filter(name__in=["Support", "Finance", "Operations"]).values_list("name", flat=True)
    ) == ["Finance", "Operations", "Support"]


def test_support_views_refunds_up_to_the_threshold_and_answers_disputes():
    perms = codenames("Support")
    assert {
        "merchants.view_merchant",
        "payments.view_payment",
        "payments.view_refund",
        "payments.view_dispute",
        "core.view_auditentry",
        "backoffice.refund_within_threshold",
        "backoffice.submit_dispute_evidence",
    } <= perms
    assert "backoffice.approve_refund_request" not in perms
    assert "backoffice.make_ledger_adjustment" not in perms
    assert not {p for p in perms if p.startswith("ledger.")}
    assert not {p for p in perms if p.startswith(("change_", "delete_", "add_"))}


def test_finance_has_everything_support_has_and_approves_adjusts_and_reconciles():
    support, finance = codenames("Support"), codenames("Finance")
    assert support < finance
    assert {
        "backoffice.approve_refund_request",
        "backoffice.make_ledger_adjustment",
        "backoffice.resolve_reconciliation_exception",
        "ledger.view_journalentry",
        "ledger.view_account",
        "ledger.view_posting",
    } <= finance


def test_operations_keeps_what_events_gave_it_and_gets_schedules_nothing_about_money():
    perms = codenames("Operations")
    assert {
        "events.view_event",
        "events.view_webhookendpoint",
        "events.change_webhookendpoint",
        "events.enable_webhookendpoint",
        "events.view_webhookdelivery",
        "events.resend_webhookdelivery",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.change_intervalschedule",
        "django_celery_beat.change_crontabschedule",
    } <= perms
    money_apps = ("payments.", "ledger.", "backoffice.", "merchants.", "core.")
    assert not [p for p in perms if p.startswith(money_apps)]


def test_the_migration_is_idempotent():
    before = {name: codenames(name) for name in ("Support", "Finance", "Operations")}
    groups_migration.grant(global_apps, None)
    groups_migration.grant(global_apps, None)
    assert Group.objects.filter(name__in=before).count() == 3
    assert {name: codenames(name) for name in before} == before


def test_every_granted_permission_exists_for_a_real_model():
    from django.contrib.auth.models import Permission

    for permission in Permission.objects.filter(group__name__in=["Support", "Finance", "Operations"]).distinct():
        model = global_apps.get_model(permission.content_type.app_label, permission.content_type.model)
        assert model is not None, permission
