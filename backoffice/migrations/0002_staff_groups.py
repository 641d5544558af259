"""The back office's staff groups and their explicit permissions (design.md, "Back office").

- Support: view merchants, payments, refunds, disputes, refund requests and the
  audit trail; refund up to the threshold (above it: a request); answer disputes
  (submit evidence, accept).
- Finance: everything Support has, plus approve or reject others' refund
  requests, capture or cancel payments, view the ledger, make ledger adjustments,
  resolve reconciliation exceptions.
- Operations (created by events 0003, extended here): webhook endpoints,
  deliveries and attempts, the event log (the outbox), and the beat schedules
  (periodic tasks and every kind of schedule): view and change. Nothing about money.

Idempotent: groups are found by name (update_or_create), content types and
permissions are fetched or created (on a fresh database Django creates
permissions only after all migrations), and permissions are only ever added.

History only: the staff roles are kept equal to ``backoffice.roles`` after every migrate (post_migrate);
this list is no longer their source of truth.
"""

from django.db import migrations


def _model(app_label, model, verbose, *actions):
    """(app label, model, codename, name) of Django's default permissions ``actions`` on one model."""
    return [(app_label, model, f"{action}_{model}", f"Can {action} {verbose}") for action in actions]


def _custom(codename, name):
    return ("backoffice", "staffpermission", codename, name)


SUPPORT = [
    *_model("merchants", "merchant", "merchant", "view"),
    *_model("payments", "payment", "payment", "view"),
    *_model("payments", "paymenttransition", "payment transition", "view"),
    *_model("payments", "refund", "refund", "view"),
    *_model("payments", "dispute", "dispute", "view"),
    *_model("core", "auditentry", "audit entry", "view"),
    *_model("backoffice", "refundrequest", "refund request", "view"),
    _custom(
        "refund_within_threshold", "Can refund a payment up to the approval threshold (above it, request approval)"
    ),
    _custom("submit_dispute_evidence", "Can submit evidence for a dispute"),
    _custom("accept_dispute", "Can accept (concede) a dispute"),
]

FINANCE = [
    *SUPPORT,
    _custom("approve_refund_request", "Can approve or reject another user's refund request"),
    _custom("capture_or_cancel_payment", "Can capture or cancel an authorised payment"),
    _custom("make_ledger_adjustment", "Can make a manual ledger adjustment"),
    _custom("resolve_reconciliation_exception", "Can resolve a reconciliation exception"),
    *_model("backoffice", "ledgeradjustment", "ledger adjustment", "view"),
    *_model("ledger", "account", "account", "view"),
    *_model("ledger", "journalentry", "journal entry", "view"),
    *_model("ledger", "posting", "posting", "view"),
    *_model("ledger", "ledgercheckrun", "ledger check run", "view"),
]

OPERATIONS = [
    *_model("events", "event", "event", "view"),
    *_model("events", "webhookendpoint", "webhook endpoint", "view", "change"),
    ("events", "webhookendpoint", "enable_webhookendpoint", "Can re-enable a disabled webhook endpoint"),
    *_model("events", "webhookdelivery", "webhook delivery", "view", "change"),
    ("events", "webhookdelivery", "resend_webhookdelivery", "Can re-send a webhook delivery"),
    *_model("events", "webhookattempt", "webhook attempt", "view"),
    *_model("django_celery_beat", "periodictask", "periodic task", "view", "change"),
    *_model("django_celery_beat", "periodictasks", "periodic task track", "view"),
    *_model("django_celery_beat", "intervalschedule", "interval", "view", "add", "change"),
    *_model("django_celery_beat", "crontabschedule", "crontab", "view", "add", "change"),
    *_model("django_celery_beat", "solarschedule", "solar event", "view", "add", "change"),
    *_model("django_celery_beat", "clockedschedule", "clocked", "view", "add", "change"),
]

# What events 0003 already gave Operations.
EVENTS_0003_OPERATIONS = {
    "view_event",
    "view_webhookendpoint",
    "enable_webhookendpoint",
    "view_webhookdelivery",
    "resend_webhookdelivery",
    "view_webhookattempt",
    "view_periodictask",
    "change_periodictask",
    "view_intervalschedule",
    "add_intervalschedule",
    "view_crontabschedule",
    "add_crontabschedule",
}

GROUPS = {"Support": SUPPORT, "Finance": FINANCE, "Operations": OPERATIONS}


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    for group_name, permissions in GROUPS.items():
        group, _ = Group.objects.update_or_create(name=group_name)
        for app_label, model, codename, name in permissions:
            content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name__in=["Support", "Finance"]).delete()
    operations = Group.objects.filter(name="Operations").first()
    if operations is not None:
        # Only what this migration added: events 0003 owns the rest.
        added = {row[2] for row in OPERATIONS} - EVENTS_0003_OPERATIONS
        operations.permissions.remove(*Permission.objects.filter(codename__in=added))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("events", "0003_operations_group"),
        ("core", "0002_auditentry"),
        ("ledger", "0002_immutability_triggers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
