"""The platform's beat schedules, in one list, stored with django-celery-beat so Operations see them in the admin.

After every ``migrate`` (``post_migrate``, ``config.apps.PlatformConfig``) ``schedules_sync`` makes one
``PeriodicTask`` per entry, found by its name, with the entry's task, schedule, arguments, expiry and
description: change a schedule here, not in the admin. The one thing an operator's edit keeps is
``enabled``: a schedule switched off in the admin stays off across deployments (a new one starts on).
``expire_seconds`` drops a frequent task's message that no worker took in time, so a stopped worker does
not come back to a pile of stale copies (the next run does the same work). The data migrations that
created these rows before (events 0002 and 0004, payments 0006 and 0008, reconciliation 0002) are
history only.
"""

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Schedule:
    """One beat entry: every ``every`` ``period`` (an interval), or at ``hour``:``minute`` UTC daily (a crontab)."""

    name: str
    task: str
    description: str
    every: int | None = None
    period: str | None = None  # "seconds", "minutes", "hours" or "days"
    minute: str | None = None
    hour: str | None = None
    expire_seconds: int | None = None
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.every is None) == (self.minute is None):
            raise ValueError(f"{self.name}: give an interval (every, period) or a daily time (hour, minute)")


SCHEDULES = (
    Schedule(
        "events: drain the outbox",
        "events.drain_outbox",
        "Create webhook deliveries for newly recorded events (also queued right after each commit).",
        every=5,
        period="seconds",
        expire_seconds=30,
    ),
    Schedule(
        "events: deliver due webhooks",
        "events.deliver_due",
        "Re-queue webhook retries that are due and deliveries whose worker died.",
        every=10,
        period="seconds",
        expire_seconds=60,
    ),
    Schedule(
        "payments: resolve processing",
        "payments.resolve_processing",
        "Ask the processor about payments whose outcome is unknown.",
        every=30,
        period="seconds",
        expire_seconds=120,
    ),
    Schedule(
        "payments: expire authorizations",
        "payments.expire_authorizations",
        "Release authorisations not captured within 7 days.",
        every=1,
        period="hours",
    ),
    Schedule(
        "payments: prune idempotency keys",
        "payments.prune_idempotency_keys",
        "Delete idempotency keys older than 24 hours.",
        every=1,
        period="hours",
    ),
    Schedule(
        "payments: close overdue disputes",
        "payments.close_overdue_disputes",
        "Disputes past evidence_due_by without evidence are lost (accepted at the processor).",
        every=15,
        period="minutes",
    ),
    Schedule(
        "payments: expire wallet payments",
        "payments.expire_wallet_payments",
        "Void and cancel (expired) wallet payments not approved within PAYMENT_WALLET_EXPIRY_SECONDS.",
        every=1,
        period="minutes",
        expire_seconds=120,
    ),
    Schedule(
        "checkout: settle payment attempts",
        "checkout.sync_attempts",
        "Complete open checkout sessions whose wallet or bank-transfer payment has succeeded since, and free those "
        "whose payment failed (the customer may never come back to the page).",
        every=30,
        period="seconds",
        expire_seconds=120,
    ),
    Schedule(
        "checkout: expire sessions",
        "checkout.expire_sessions",
        "Expire open checkout sessions past expires_at (checkout.session.expired).",
        every=1,
        period="minutes",
        expire_seconds=120,
    ),
    Schedule(
        "payments: import exchange rates",
        "payments.import_fx_rates",
        "Import the processor's exchange rates (rates finance set by hand are kept).",
        every=1,
        period="hours",
        expire_seconds=1800,
    ),
    Schedule(
        "ledger: mature funds",
        "ledger.tasks.mature_funds",
        "Make captured funds available once their available_on has passed (pending → available).",
        every=settings.LEDGER_MATURE_FUNDS_EVERY_SECONDS,
        period="seconds",
        expire_seconds=120,
    ),
    Schedule(
        "payouts: sweep",
        "payouts.sweep",
        "Send pending payouts whose queued send was lost, resolve those whose send got no answer, and ask the "
        "processor about payouts in transit past their arrival date.",
        every=1,
        period="minutes",
        expire_seconds=120,
    ),
    Schedule(
        "payouts: pay out automatically",
        "payouts.pay_out_automatically",
        "Pay out the whole available balance of merchants on a daily or weekly payout schedule, once per period.",
        every=5,
        period="minutes",
        expire_seconds=240,
    ),
    Schedule(
        "ledger: nightly check",
        "ledger.tasks.ledger_check",
        "Prove the ledger invariants every night at 02:30 UTC; a failure is logged at ERROR.",
        minute="30",
        hour="2",
    ),
    Schedule(
        # 02:00 UTC: the previous UTC day's report is final by then.
        "reconciliation: reconcile the previous day",
        "reconciliation.reconcile_previous_day",
        "Fetch the processor's settlement report of the previous UTC day, match it against the ledger and "
        "record every difference as a reconciliation exception (02:00 UTC).",
        minute="0",
        hour="2",
    ),
)


def _interval(every: int, period: str, using: str):
    existing = IntervalSchedule.objects.using(using).filter(every=every, period=period).order_by("id").first()
    return existing or IntervalSchedule.objects.using(using).create(every=every, period=period)


def _daily_crontab(minute: str, hour: str, using: str):
    values = {"minute": minute, "hour": hour, "day_of_month": "*", "month_of_year": "*", "day_of_week": "*"}
    existing = CrontabSchedule.objects.using(using).filter(**values, timezone="UTC").order_by("id").first()
    return existing or CrontabSchedule.objects.using(using).create(**values, timezone="UTC")


def schedules_sync(*, using: str = "default") -> None:
    """Create or update one ``PeriodicTask`` per entry of ``SCHEDULES``, in one transaction. Idempotent.

    Every field comes from the list except ``enabled``, which is only set (on) when the row is created.
    Rows of schedules no longer in the list are left alone: removing one is a deliberate act in the admin.
    Saving a row tells a running beat (``DatabaseScheduler``) that its schedule changed.
    """
    with transaction.atomic(using=using):
        for schedule in SCHEDULES:
            if schedule.every is not None:
                timing = {"interval": _interval(schedule.every, schedule.period, using), "crontab": None}
            else:
                timing = {"crontab": _daily_crontab(schedule.minute, schedule.hour, using), "interval": None}
            fields = {
                "task": schedule.task,
                **timing,
                "kwargs": json.dumps(schedule.kwargs),
                "expire_seconds": schedule.expire_seconds,
                "description": schedule.description,
            }
            PeriodicTask.objects.using(using).update_or_create(
                name=schedule.name, defaults=fields, create_defaults={**fields, "enabled": True}
            )


def schedules_sync_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver (connected for django-celery-beat's app only, so it runs once per migrate)."""
    schedules_sync(using=using)
