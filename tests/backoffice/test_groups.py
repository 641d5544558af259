"""The staff roles (backoffice.roles): explicit permissions, created after migrate from the one list, idempotent."""

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from backoffice.roles import ROLES, roles_sync

pytestmark = pytest.mark.django_db


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
        "checkout.view_checkoutsession",
        "core.view_auditentry",
        "backoffice.refund_within_threshold",
        "backoffice.submit_dispute_evidence",
        "payouts.view_payout",
        "payouts.view_payouthold",
    } <= perms
    assert "backoffice.approve_refund_request" not in perms
    assert "backoffice.hold_payouts" not in perms and "backoffice.view_negativebalance" not in perms
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
        "backoffice.hold_payouts",
        "backoffice.view_negativebalance",
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
    # Routing rules choose the acquirer, not an amount: operations edit them (test_routing_rules_admin.py).
    assert {"payments.change_routingrule", "gateways.view_processorwebhookevent"} <= perms
    money_apps = ("payments.", "payouts.", "ledger.", "backoffice.", "merchants.", "core.")
    assert not [p for p in perms if p.startswith(money_apps) and not p.endswith("_routingrule")]


def test_every_group_holds_exactly_the_permissions_of_its_role():
    assert {name: codenames(name) for name in ROLES} == {name: set(names) for name, names in ROLES.items()}


def test_the_sync_is_idempotent_and_the_list_wins_over_hand_edits():
    before = {name: codenames(name) for name in ROLES}
    support = Group.objects.get(name="Support")
    support.permissions.remove(Permission.objects.get(codename="view_payment"))
    support.permissions.add(Permission.objects.get(codename="make_ledger_adjustment"))
    Group.objects.filter(name="Operations").delete()
    roles_sync()
    roles_sync()
    assert Group.objects.filter(name__in=ROLES).count() == 3
    assert {name: codenames(name) for name in ROLES} == before


def test_migrate_keeps_the_roles(transactional_db):
    Group.objects.get(name="Finance").permissions.clear()
    call_command("migrate", verbosity=0)
    assert codenames("Finance") == set(ROLES["Finance"])


def test_a_role_naming_a_permission_that_does_not_exist_is_an_error(monkeypatch):
    monkeypatch.setitem(ROLES, "Support", (*ROLES["Support"], "payments.fly_payment"))
    with pytest.raises(LookupError, match="fly_payment"):
        roles_sync()


def test_every_granted_permission_exists_for_a_real_model():
    for permission in Permission.objects.filter(group__name__in=["Support", "Finance", "Operations"]).distinct():
        model = global_apps.get_model(permission.content_type.app_label, permission.content_type.model)
        assert model is not None, permission
