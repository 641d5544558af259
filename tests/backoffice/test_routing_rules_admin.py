"""Routing rules in the admin: unknown processors refused with a form error, every change in the audit trail."""

import pytest

from core.models import AuditEntry
from payments.models import RoutingRule
from tests.staff import client_for

pytestmark = pytest.mark.django_db
ADD = "/admin/payments/routingrule/add/"


def rule_form(**fields) -> dict:
    return {
        "priority": 10,
        "currency": "EUR",
        "payment_method_type": "",
        "merchant": "",
        "processor": "sandbox_eu",
        "fallback_processor": "sandbox",
        "enabled": "on",
        "description": "EUR to the European acquirer",
        **fields,
    }


def test_an_unknown_processor_is_a_form_error_and_nothing_is_saved(superuser):
    client = client_for(superuser)
    response = client.post(ADD, rule_form(processor="adyen", fallback_processor="sandbox_eu"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Unknown processor 'adyen'" in errors["processor"][0] and "sandbox, sandbox_eu" in errors["processor"][0]
    same = client.post(ADD, rule_form(processor="sandbox", fallback_processor="sandbox"))
    assert "another processor" in same.context["adminform"].form.errors["fallback_processor"][0]
    assert (
        not RoutingRule.objects.exists() and not AuditEntry.objects.filter(action__startswith="routing_rule").exists()
    )


def test_creating_changing_and_deleting_a_rule_is_audited(superuser):
    client = client_for(superuser)
    assert client.post(ADD, rule_form()).status_code == 302
    rule = RoutingRule.objects.get()
    assert (rule.currency, rule.processor, rule.fallback_processor) == ("EUR", "sandbox_eu", "sandbox")

    change = f"/admin/payments/routingrule/{rule.pk}/change/"
    assert client.post(change, rule_form(fallback_processor="")).status_code == 302
    assert client.post(f"/admin/payments/routingrule/{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not RoutingRule.objects.exists()

    entries = list(AuditEntry.objects.filter(object_type="routingrule").order_by("id"))
    assert [entry.action for entry in entries] == [
        "routing_rule.create",
        "routing_rule.change",
        "routing_rule.delete",
    ]
    assert all(entry.actor == "staff:root" for entry in entries)
    assert entries[1].before["fallback_processor"] == "sandbox" and entries[1].after["fallback_processor"] == ""
    assert entries[2].before["processor"] == "sandbox_eu"


def test_operations_edit_routing_rules(operations):
    client = client_for(operations)
    assert client.post(ADD, rule_form()).status_code == 302
    assert AuditEntry.objects.get(action="routing_rule.create").actor == "staff:olga.ops"
