"""The staff roles, in one list: which group holds which permissions (docs/design.md, "Back office").

- Support: view merchants, their external accounts (where payouts go), payouts and payout holds, payments,
  checkout sessions, refunds, disputes, refund requests and the audit trail; refund up to the approval threshold
  (above it: a request); answer disputes (submit evidence, accept).
- Finance: everything Support has, plus approve or reject others' refund requests, capture or cancel
  payments, view the ledger and reconciliation, make ledger adjustments, resolve reconciliation
  exceptions, view and edit exchange rates, hold and release a merchant's payouts, and see the merchants
  whose available balance is below zero.
- Operations: webhook endpoints, deliveries and attempts, the event log (the outbox), and the beat
  schedules: view and change; the routing rules (which acquirer takes which payments: view, add, change,
  delete, each change audited) and the processors' webhooks and health (view). Nothing about money.

The back office is the top app, the one that knows every app's models, so the list lives here. After
every ``migrate`` (``post_migrate``, ``BackofficeConfig.ready``) ``roles_sync`` makes each group hold
exactly these permissions: a permission added to a group by hand in the admin is taken away again, so
a change of role is a change of this list. The data migrations that created the groups before (events
0003, backoffice 0002, reconciliation 0003, payments 0009) are history only.
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction


def _can(actions: str, app_label: str, *models: str) -> list[str]:
    """``app_label.<action>_<model>`` for each of the space-separated ``actions`` on each model."""
    return [f"{app_label}.{action}_{model}" for model in models for action in actions.split()]


SUPPORT = (
    *_can("view", "merchants", "merchant"),
    *_can("view", "payouts", "externalaccount", "payout", "payouthold"),
    *_can("view", "payments", "payment", "paymenttransition", "refund", "dispute"),
    *_can("view", "checkout", "checkoutsession"),
    *_can("view", "core", "auditentry"),
    *_can("view", "backoffice", "refundrequest"),
    "backoffice.refund_within_threshold",
    "backoffice.submit_dispute_evidence",
    "backoffice.accept_dispute",
)

FINANCE = (
    *SUPPORT,
    "backoffice.approve_refund_request",
    "backoffice.capture_or_cancel_payment",
    "backoffice.make_ledger_adjustment",
    "backoffice.resolve_reconciliation_exception",
    "backoffice.hold_payouts",
    "backoffice.create_payouts",
    *_can("view", "backoffice", "ledgeradjustment", "negativebalance"),
    *_can("view", "ledger", "account", "journalentry", "posting", "maturingfunds", "ledgercheckrun"),
    *_can("view", "reconciliation", "reconciliationrun", "reconciliationexception"),
    *_can("view add change", "payments", "fxrate"),
)

OPERATIONS = (
    *_can("view", "events", "event", "webhookattempt"),
    *_can("view change", "events", "webhookendpoint", "webhookdelivery"),
    "events.enable_webhookendpoint",
    "events.resend_webhookdelivery",
    *_can("view change", "django_celery_beat", "periodictask"),
    *_can("view", "django_celery_beat", "periodictasks"),
    *_can("view add change", "django_celery_beat", "intervalschedule", "crontabschedule"),
    *_can("view add change", "django_celery_beat", "solarschedule", "clockedschedule"),
    *_can("view add change delete", "payments", "routingrule"),
    *_can("view", "gateways", "processorwebhookevent"),
)

ROLES: dict[str, tuple[str, ...]] = {"Support": SUPPORT, "Finance": FINANCE, "Operations": OPERATIONS}


def _permissions(names: tuple[str, ...], using: str) -> list[Permission]:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = [
        permission
        for permission in Permission.objects.using(using).select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    missing = wanted - {(permission.content_type.app_label, permission.codename) for permission in found}
    if missing:
        raise LookupError(f"backoffice.roles names permissions that do not exist: {sorted(missing)}")
    return found


def roles_sync(*, using: str = "default") -> None:
    """Create every role's group and give it exactly the permissions of ``ROLES``, in one transaction.

    Idempotent. The permissions are created first if missing (Django creates an app's permissions in its
    own ``post_migrate``, which may come after this one); a name that matches no permission is an error.
    """
    for app_label in {name.split(".", 1)[0] for names in ROLES.values() for name in names}:
        create_permissions(apps.get_app_config(app_label), verbosity=0, using=using)
    with transaction.atomic(using=using):
        for role, names in ROLES.items():
            group, _ = Group.objects.using(using).get_or_create(name=role)
            group.permissions.set(_permissions(names, using))


def roles_sync_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver (connected for the back office's app only, so it runs once per migrate)."""
    roles_sync(using=using)
