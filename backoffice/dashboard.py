"""Reads for the back office's home page (the dashboard): aggregate figures, per panel, for the staff who may see them.

Every figure is an aggregate computed by the database: a ``GROUP BY`` over a bounded window (the last
``WINDOW_DAYS`` days by day, the last 24 hours by hour) on an indexed timestamp, or over a queue that a partial
index keeps small (pending deliveries, unpublished events, processing payments, open exceptions, pending and in
transit payouts). No query returns a row per object, so the page costs the same whether the platform holds a
thousand payments or a million (``make bench-dashboard``, docs/performance.md). Each panel is a fixed number of
queries.

Which panels a user sees follows the permissions of their role (``backoffice.roles``), never the group's name:
Support sees payments, refunds and disputes, and payouts; Finance also reconciliation and the ledger check;
Operations the webhooks and outbox, and the resolver and beat schedules, and nothing about money. A superuser
holds every permission and sees every panel.

Each panel's figures are cached for ``BACKOFFICE_DASHBOARD_CACHE_SECONDS`` (30 s by default; 0 turns the cache
off) in Django's cache, shared by every staff member and web process: a dashboard left open in ten browsers costs
the database one computation per panel per period. The cache is optional (``core.failsoft``): without Redis the
figures are computed on every view. The figures therefore lag the database by at most that long; every list page
behind a panel reads the database live.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.failsoft import CACHE
from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ledger.models import LedgerCheckRun
from payments.models import DISPUTE_OPEN_STATUSES, Dispute, Payment, PaymentStatus, Refund, RefundStatus
from payouts.models import Payout, PayoutStatus
from reconciliation.models import ExceptionType, ReconciliationException, ReconciliationRun

# The window of the charts by day: today (UTC) and the 29 days before it.
WINDOW_DAYS = 30
# The window of the charts by hour: this hour and the 23 before it.
WINDOW_HOURS = 24
# How many decline codes and payout failure codes a panel lists.
TOP_CODES = 8
# A dispute whose evidence is due within this long is "due soon".
DISPUTE_DUE_SOON = timedelta(days=3)
# The ages an open reconciliation exception is counted in: (label, younger than).
EXCEPTION_AGES = (("under 1 day", timedelta(days=1)), ("1–3 days", timedelta(days=3)), ("3–7 days", timedelta(days=7)))
EXCEPTION_AGE_OLDEST = "7 days and more"

# Payment statuses in the order the charts stack them (outcomes first).
PAYMENT_STATUSES = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REQUIRES_CAPTURE,
    PaymentStatus.PROCESSING,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.REQUIRES_CONFIRMATION,
    PaymentStatus.CANCELED,
    PaymentStatus.FAILED,
)
PAYOUT_STATUSES = tuple(PayoutStatus)

# The beat schedules whose last run the operations panel shows (names of config.schedules.SCHEDULES' tasks).
WATCHED_TASKS = (
    ("events.drain_outbox", "Outbox drain"),
    ("events.deliver_due", "Webhook retries"),
    ("payments.resolve_processing", "Resolver"),
)

# Panel → the permissions a user needs (all of them) to see it.
PANELS: dict[str, tuple[str, ...]] = {
    "payments": ("payments.view_payment",),
    "refunds_disputes": ("payments.view_payment", "payments.view_refund", "payments.view_dispute"),
    "payouts": ("payouts.view_payout",),
    "reconciliation": ("reconciliation.view_reconciliationexception", "reconciliation.view_reconciliationrun"),
    "ledger": ("ledger.view_ledgercheckrun",),
    "webhooks": ("events.view_webhookdelivery", "events.view_event"),
    "resolver": ("django_celery_beat.view_periodictask",),
}


def panels_for(user) -> list[str]:
    """The panels ``user`` may see, in the page's order."""
    return [name for name, perms in PANELS.items() if user.has_perms(perms)]


def day_window(now: datetime) -> tuple[datetime, list[date]]:
    """The first instant of the window by day (midnight UTC, ``WINDOW_DAYS - 1`` days before today) and its days."""
    today = timezone.localdate(now, UTC)
    first = today - timedelta(days=WINDOW_DAYS - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, [first + timedelta(days=offset) for offset in range(WINDOW_DAYS)]


def hour_window(now: datetime) -> tuple[datetime, list[datetime]]:
    """The first instant of the window by hour (``WINDOW_HOURS - 1`` hours before this hour) and its hours."""
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = this_hour - timedelta(hours=WINDOW_HOURS - 1)
    return start, [start + timedelta(hours=offset) for offset in range(WINDOW_HOURS)]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- Payments ------------------------------------------------------------------------------------


@dataclass
class CurrencyVolume:
    """One currency's payments in the window: count and amount by status, and what was captured."""

    currency: str
    count: int = 0
    amount_by_status: dict[str, int] = field(default_factory=dict)
    captured: int = 0
    by_day: dict[str, list[int]] = field(default_factory=dict)  # status → amount per day of the window


@dataclass
class PaymentFigures:
    days: list[date]
    hours: list[datetime]
    count_by_day: dict[str, list[int]]  # status → payments created that day
    count_by_hour: dict[str, list[int]]
    currencies: list[CurrencyVolume]  # most payments first
    # Authorised: succeeded, requires_capture, or canceled after an authorisation; declined: failed.
    authorised_by_day: list[int]
    declined_by_day: list[int]
    authorised_30d: int
    declined_30d: int
    authorised_24h: int
    declined_24h: int
    declines: list[tuple[str, int]]  # (decline code, or failure code without one; how many), most first
    total_30d: int
    succeeded_30d: int
    total_24h: int

    @property
    def authorisation_rate_30d(self) -> float | None:
        return rate(self.authorised_30d, self.authorised_30d + self.declined_30d)

    @property
    def authorisation_rate_24h(self) -> float | None:
        return rate(self.authorised_24h, self.authorised_24h + self.declined_24h)

    @property
    def authorisation_rate_by_day(self) -> list[float | None]:
        return [rate(a, a + d) for a, d in zip(self.authorised_by_day, self.declined_by_day, strict=True)]

    def volume(self, currency: str) -> CurrencyVolume | None:
        return next((volume for volume in self.currencies if volume.currency == currency), None)


class DayUTC(TruncDate):
    """The day (UTC) of a timestamp. On PostgreSQL the time zone is written as a literal, not a parameter, so the
    expression is the one the statistics of backoffice 0005 describe whether values are bound on the server or not
    (a ``$1`` in its place would not match them)."""

    def __init__(self, expression):
        super().__init__(expression, tzinfo=UTC)

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return f"({sql} AT TIME ZONE 'UTC')::date", params


_AUTHORISED = Q(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE]) | Q(
    status=PaymentStatus.CANCELED, authorized_at__isnull=False
)


def payments_by_day(start: datetime):
    """The heaviest statement of the page: the payments created since ``start``, by day (UTC), status, currency and
    failure code, with their amounts and how many were authorised."""
    return (
        Payment.objects.filter(created__gte=start)
        .annotate(day=DayUTC("created"))
        .values("day", "status", "currency", "decline_code", "failure_code")
        .annotate(
            count=Count("pk"),
            amount=Sum("amount"),
            captured=Sum("amount_captured"),
            authorised=Count("pk", filter=_AUTHORISED),
        )
        .order_by()
    )


def payment_figures(now: datetime) -> PaymentFigures:
    """Payments created in the window: two queries, one by day (with currency, amounts and failure codes), one by
    hour (counts); both a range scan of ``created`` (indexed)."""
    start, days = day_window(now)
    hour_start, hours = hour_window(now)
    day_index = {day: i for i, day in enumerate(days)}
    hour_index = {hour: i for i, hour in enumerate(hours)}
    count_by_day = {status: [0] * len(days) for status in PAYMENT_STATUSES}
    authorised_by_day, declined_by_day = [0] * len(days), [0] * len(days)
    currencies: dict[str, CurrencyVolume] = {}
    declines: dict[str, int] = defaultdict(int)
    for row in payments_by_day(start):
        i = day_index.get(row["day"])
        if i is None:  # created in the future (a clock ahead): not in the window
            continue
        status, count = row["status"], row["count"]
        count_by_day.setdefault(status, [0] * len(days))[i] += count
        authorised_by_day[i] += row["authorised"]
        if status == PaymentStatus.FAILED:
            declined_by_day[i] += count
            declines[row["decline_code"] or row["failure_code"] or "unknown"] += count
        volume = currencies.setdefault(row["currency"], CurrencyVolume(row["currency"]))
        volume.count += count
        volume.amount_by_status[status] = volume.amount_by_status.get(status, 0) + row["amount"]
        volume.captured += row["captured"]
        volume.by_day.setdefault(status, [0] * len(days))[i] += row["amount"]

    count_by_hour = {status: [0] * len(hours) for status in PAYMENT_STATUSES}
    authorised_24h = declined_24h = 0
    hourly = (
        Payment.objects.filter(created__gte=hour_start)
        .annotate(hour=TruncHour("created", tzinfo=UTC))
        .values("hour", "status")
        .annotate(count=Count("pk"), authorised=Count("pk", filter=_AUTHORISED))
        .order_by()
    )
    for row in hourly:
        i = hour_index.get(row["hour"])
        if i is None:
            continue
        count_by_hour.setdefault(row["status"], [0] * len(hours))[i] += row["count"]
        authorised_24h += row["authorised"]
        if row["status"] == PaymentStatus.FAILED:
            declined_24h += row["count"]

    return PaymentFigures(
        days=days,
        hours=hours,
        count_by_day=count_by_day,
        count_by_hour=count_by_hour,
        currencies=sorted(currencies.values(), key=lambda volume: (-volume.count, volume.currency)),
        authorised_by_day=authorised_by_day,
        declined_by_day=declined_by_day,
        authorised_30d=sum(authorised_by_day),
        declined_30d=sum(declined_by_day),
        authorised_24h=authorised_24h,
        declined_24h=declined_24h,
        declines=sorted(declines.items(), key=lambda item: (-item[1], item[0]))[:TOP_CODES],
        total_30d=sum(sum(counts) for counts in count_by_day.values()),
        succeeded_30d=sum(count_by_day[PaymentStatus.SUCCEEDED]),
        total_24h=sum(sum(counts) for counts in count_by_hour.values()),
    )


# --- Refunds and disputes ------------------------------------------------------------------------


@dataclass
class MoneyByCurrency:
    currency: str
    count: int = 0
    amount: int = 0


@dataclass
class RefundDisputeFigures:
    # Refunds created in the window, by status, and the amounts of the pending and succeeded ones by currency.
    refunds_by_status: dict[str, int]
    refunds_by_currency: list[MoneyByCurrency]
    refunds_by_day: list[int]
    # Disputes opened in the window, by status, and their amounts by currency.
    disputes_by_status: dict[str, int]
    disputes_by_currency: list[MoneyByCurrency]
    disputes_by_day: list[int]
    # Open now (any age): how many, how many with evidence due within DISPUTE_DUE_SOON, how many overdue.
    disputes_open: int
    disputes_due_soon: int
    disputes_overdue: int
    # Rates against the payments that succeeded in the window (PaymentFigures.succeeded_30d).
    succeeded_payments_30d: int

    @property
    def refunds_30d(self) -> int:
        return self.refunds_by_status.get(RefundStatus.PENDING, 0) + self.refunds_by_status.get(
            RefundStatus.SUCCEEDED, 0
        )

    @property
    def disputes_30d(self) -> int:
        return sum(self.disputes_by_status.values())

    @property
    def refund_rate(self) -> float | None:
        return rate(self.refunds_30d, self.succeeded_payments_30d)

    @property
    def dispute_rate(self) -> float | None:
        return rate(self.disputes_30d, self.succeeded_payments_30d)


def refund_dispute_figures(now: datetime, *, succeeded_payments_30d: int) -> RefundDisputeFigures:
    """Refunds and disputes created in the window (``created`` indexed), and the open disputes' deadlines
    (``dispute_open_due``, a partial index): three queries."""
    start, days = day_window(now)
    day_index = {day: i for i, day in enumerate(days)}
    refunds_by_status: dict[str, int] = defaultdict(int)
    refunds_by_currency: dict[str, MoneyByCurrency] = {}
    refunds_by_day = [0] * len(days)
    rows = (
        Refund.objects.filter(created__gte=start)
        .annotate(day=TruncDate("created", tzinfo=UTC))
        .values("day", "status", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    for row in rows:
        refunds_by_status[row["status"]] += row["count"]
        if row["status"] == RefundStatus.FAILED:
            continue
        money = refunds_by_currency.setdefault(row["currency"], MoneyByCurrency(row["currency"]))
        money.count += row["count"]
        money.amount += row["amount"]
        if (i := day_index.get(row["day"])) is not None:
            refunds_by_day[i] += row["count"]

    disputes_by_status: dict[str, int] = defaultdict(int)
    disputes_by_currency: dict[str, MoneyByCurrency] = {}
    disputes_by_day = [0] * len(days)
    rows = (
        Dispute.objects.filter(created__gte=start)
        .annotate(day=TruncDate("created", tzinfo=UTC))
        .values("day", "status", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    for row in rows:
        disputes_by_status[row["status"]] += row["count"]
        money = disputes_by_currency.setdefault(row["currency"], MoneyByCurrency(row["currency"]))
        money.count += row["count"]
        money.amount += row["amount"]
        if (i := day_index.get(row["day"])) is not None:
            disputes_by_day[i] += row["count"]

    open_disputes = Dispute.objects.filter(status__in=DISPUTE_OPEN_STATUSES).aggregate(
        open=Count("pk"),
        due_soon=Count("pk", filter=Q(evidence_due_by__gte=now, evidence_due_by__lt=now + DISPUTE_DUE_SOON)),
        overdue=Count("pk", filter=Q(evidence_due_by__lt=now)),
    )
    return RefundDisputeFigures(
        refunds_by_status=dict(refunds_by_status),
        refunds_by_currency=sorted(refunds_by_currency.values(), key=lambda m: (-m.count, m.currency)),
        refunds_by_day=refunds_by_day,
        disputes_by_status=dict(disputes_by_status),
        disputes_by_currency=sorted(disputes_by_currency.values(), key=lambda m: (-m.count, m.currency)),
        disputes_by_day=disputes_by_day,
        disputes_open=open_disputes["open"],
        disputes_due_soon=open_disputes["due_soon"],
        disputes_overdue=open_disputes["overdue"],
        succeeded_payments_30d=succeeded_payments_30d,
    )


# --- Payouts -------------------------------------------------------------------------------------


@dataclass
class PayoutFigures:
    # Payouts created in the window: status → how many.
    by_status: dict[str, int]
    # Now, whatever their age: pending (not sent yet) and in transit (sent, not arrived), by currency.
    pending: list[MoneyByCurrency]
    in_transit: list[MoneyByCurrency]
    # Paid in the window (created in it), by currency.
    paid: list[MoneyByCurrency]
    # Failures in the window: (failure code, how many), most first.
    failures: list[tuple[str, int]]
    oldest_pending: datetime | None

    @property
    def failed_30d(self) -> int:
        return self.by_status.get(PayoutStatus.FAILED, 0)


def payout_figures(now: datetime) -> PayoutFigures:
    """Payouts created in the window by status, currency and failure code (``created`` indexed), and the pending
    and in-transit ones of any age (partial indexes ``payout_pending``, ``payout_in_transit``): two queries."""
    start, _ = day_window(now)
    by_status: dict[str, int] = defaultdict(int)
    paid: dict[str, MoneyByCurrency] = {}
    failures: dict[str, int] = defaultdict(int)
    rows = (
        Payout.objects.filter(created__gte=start)
        .values("status", "currency", "failure_code")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    for row in rows:
        by_status[row["status"]] += row["count"]
        if row["status"] == PayoutStatus.PAID:
            money = paid.setdefault(row["currency"], MoneyByCurrency(row["currency"]))
            money.count += row["count"]
            money.amount += row["amount"]
        elif row["status"] == PayoutStatus.FAILED:
            failures[row["failure_code"] or "unknown"] += row["count"]

    queues: dict[str, dict[str, MoneyByCurrency]] = {PayoutStatus.PENDING: {}, PayoutStatus.IN_TRANSIT: {}}
    oldest_pending = None
    rows = (
        Payout.objects.filter(Q(status=PayoutStatus.PENDING) | Q(status=PayoutStatus.IN_TRANSIT))
        .values("status", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"), oldest=Min("created"))
        .order_by()
    )
    for row in rows:
        money = queues[row["status"]].setdefault(row["currency"], MoneyByCurrency(row["currency"]))
        money.count += row["count"]
        money.amount += row["amount"]
        if row["status"] == PayoutStatus.PENDING:
            oldest_pending = min(filter(None, (oldest_pending, row["oldest"])), default=None)

    def ordered(moneys: dict[str, MoneyByCurrency]) -> list[MoneyByCurrency]:
        return sorted(moneys.values(), key=lambda m: (-m.amount, m.currency))

    return PayoutFigures(
        by_status=dict(by_status),
        pending=ordered(queues[PayoutStatus.PENDING]),
        in_transit=ordered(queues[PayoutStatus.IN_TRANSIT]),
        paid=ordered(paid),
        failures=sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:TOP_CODES],
        oldest_pending=oldest_pending,
    )


# --- Reconciliation ------------------------------------------------------------------------------


@dataclass
class RunSummary:
    processor: str
    settlement_date: date
    status: str
    lines: int
    matched: int
    exceptions_found: int
    finished: datetime | None


@dataclass
class ReconciliationFigures:
    ages: list[str]  # the age buckets' labels, youngest first
    # Open exceptions: exception type → how many in each age bucket (the order of ``ages``).
    open_by_type: dict[str, list[int]]
    oldest_open: datetime | None
    latest_runs: list[RunSummary]

    @property
    def open_total(self) -> int:
        return sum(sum(counts) for counts in self.open_by_type.values())


def reconciliation_figures(now: datetime) -> ReconciliationFigures:
    """The open exceptions by type and age (index ``recon_exc_queue``: status, created), and the latest runs: two
    queries."""
    ages = [label for label, _ in EXCEPTION_AGES] + [EXCEPTION_AGE_OLDEST]
    buckets, younger = {}, None
    for label, age in EXCEPTION_AGES:
        since = now - age
        buckets[label] = Count(
            "pk", filter=Q(created__gt=since) & (Q() if younger is None else Q(created__lte=younger))
        )
        younger = since
    buckets[EXCEPTION_AGE_OLDEST] = Count("pk", filter=Q(created__lte=younger))
    aliases = {label: f"age_{i}" for i, label in enumerate(ages)}
    rows = (
        ReconciliationException.objects.filter(status=ReconciliationException.Status.OPEN)
        .values("type")
        .annotate(oldest=Min("created"), **{aliases[label]: aggregate for label, aggregate in buckets.items()})
        .order_by()
    )
    open_by_type: dict[str, list[int]] = {}
    oldest_open = None
    for row in rows:
        open_by_type[row["type"]] = [row[aliases[label]] for label in ages]
        oldest_open = min(filter(None, (oldest_open, row["oldest"])), default=None)
    ordered = {t: open_by_type[t] for t in ExceptionType.values if t in open_by_type}
    ordered.update({t: counts for t, counts in open_by_type.items() if t not in ordered})
    latest_runs = [
        RunSummary(
            processor=run.processor,
            settlement_date=run.settlement_date,
            status=run.status,
            lines=run.lines,
            matched=run.matched,
            exceptions_found=run.exceptions_found,
            finished=run.finished,
        )
        for run in ReconciliationRun.objects.order_by("-settlement_date", "processor")[:3]
    ]
    return ReconciliationFigures(ages=ages, open_by_type=ordered, oldest_open=oldest_open, latest_runs=latest_runs)


# --- The ledger check ----------------------------------------------------------------------------


@dataclass
class LedgerCheckFigures:
    run_id: int | None = None
    started: datetime | None = None
    finished: datetime | None = None
    ok: bool | None = None
    checks: int = 0
    failed: list[tuple[str, int]] = field(default_factory=list)  # (check, failures)
    skipped: list[str] = field(default_factory=list)


def ledger_check_figures(now: datetime) -> LedgerCheckFigures:
    """The newest ``LedgerCheckRun`` (one query; the table holds one row per night)."""
    run = LedgerCheckRun.objects.order_by("-started", "-id").first()
    if run is None:
        return LedgerCheckFigures()
    checks = (run.results or {}).get("checks", [])
    return LedgerCheckFigures(
        run_id=run.pk,
        started=run.started,
        finished=run.finished,
        ok=run.ok,
        checks=len(checks),
        failed=[(c.get("name", "?"), c.get("failures", 0)) for c in checks if c.get("status") == "failed"],
        skipped=[c.get("name", "?") for c in checks if c.get("status") == "skipped"],
    )


# --- Webhooks and the outbox ---------------------------------------------------------------------


@dataclass
class WebhookFigures:
    hours: list[datetime]
    # Attempts in the last 24 hours by hour: succeeded, failed.
    attempts_succeeded_by_hour: list[int]
    attempts_failed_by_hour: list[int]
    # Deliveries waiting (pending), those due now, and since when the oldest due one waits.
    pending: int
    due: int
    oldest_due: datetime | None
    # Deliveries that failed for good (every retry failed, or 410) in the last 24 hours.
    failed_24h: int
    disabled_endpoints: int
    # The outbox: events not yet turned into deliveries, and the oldest one's time.
    unpublished: int
    oldest_unpublished: datetime | None

    @property
    def attempts_24h(self) -> int:
        return sum(self.attempts_succeeded_by_hour) + sum(self.attempts_failed_by_hour)

    @property
    def attempt_failure_rate(self) -> float | None:
        return rate(sum(self.attempts_failed_by_hour), self.attempts_24h)


def webhook_figures(now: datetime) -> WebhookFigures:
    """Five queries: attempts of the last 24 hours by hour (``started_at``, a BRIN index on PostgreSQL), the pending
    deliveries (``delivery_due``), the deliveries failed in 24 hours (``delivery_failed``), the disabled endpoints
    and the unpublished events (``event_unpublished``); all partial indexes."""
    start, hours = hour_window(now)
    hour_index = {hour: i for i, hour in enumerate(hours)}
    succeeded, failed = [0] * len(hours), [0] * len(hours)
    rows = (
        WebhookAttempt.objects.filter(started_at__gte=start)
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values("hour", "succeeded")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in rows:
        if (i := hour_index.get(row["hour"])) is not None:
            (succeeded if row["succeeded"] else failed)[i] += row["count"]
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).aggregate(
        pending=Count("pk"),
        due=Count("pk", filter=Q(next_attempt_at__lte=now)),
        oldest_due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
    )
    failed_24h = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.FAILED, completed_at__gte=now - timedelta(hours=24)
    ).count()
    disabled = WebhookEndpoint.objects.filter(status=WebhookEndpoint.Status.DISABLED, deleted_at__isnull=True).count()
    outbox = Event.objects.filter(published_at__isnull=True).aggregate(count=Count("pk"), oldest=Min("created"))
    return WebhookFigures(
        hours=hours,
        attempts_succeeded_by_hour=succeeded,
        attempts_failed_by_hour=failed,
        pending=pending["pending"],
        due=pending["due"],
        oldest_due=pending["oldest_due"],
        failed_24h=failed_24h,
        disabled_endpoints=disabled,
        unpublished=outbox["count"],
        oldest_unpublished=outbox["oldest"],
    )


# --- The resolver and the beat schedules ---------------------------------------------------------


@dataclass
class ScheduleRun:
    task: str
    label: str
    enabled: bool | None  # None: no such schedule
    last_run_at: datetime | None


@dataclass
class ResolverFigures:
    # Payments whose outcome is unknown (``processing``): how many, how many the resolver should have taken
    # (older than PAYMENT_RESOLVE_AFTER_SECONDS), since when the oldest waits. Counts only: no amounts.
    processing: int
    processing_overdue: int
    oldest_processing: datetime | None
    # Wallet payments waiting for the customer, and refunds whose outcome is unknown.
    requires_action: int
    refunds_pending: int
    oldest_refund_pending: datetime | None
    resolve_after_seconds: int
    schedules: list[ScheduleRun]


def resolver_figures(now: datetime) -> ResolverFigures:
    """Three queries on partial indexes (``payment_processing``, ``payment_awaiting_action``, ``refund_pending``)
    and one for the watched beat schedules."""
    after = settings.PAYMENT_RESOLVE_AFTER_SECONDS
    processing = Payment.objects.filter(status=PaymentStatus.PROCESSING).aggregate(
        count=Count("pk"),
        overdue=Count("pk", filter=Q(processing_since__lt=now - timedelta(seconds=after))),
        oldest=Min("processing_since"),
    )
    requires_action = Payment.objects.filter(status=PaymentStatus.REQUIRES_ACTION).count()
    refunds = Refund.objects.filter(status=RefundStatus.PENDING).aggregate(count=Count("pk"), oldest=Min("created"))
    by_task: dict[str, tuple[bool, datetime | None]] = {}
    watched = PeriodicTask.objects.filter(task__in=[task for task, _ in WATCHED_TASKS])
    for task, is_enabled, last_run_at in watched.values_list("task", "enabled", "last_run_at"):
        was_enabled, last = by_task.get(task, (False, None))
        by_task[task] = (was_enabled or is_enabled, max(filter(None, (last, last_run_at)), default=None))
    schedules = [ScheduleRun(task, label, *by_task.get(task, (None, None))) for task, label in WATCHED_TASKS]
    return ResolverFigures(
        processing=processing["count"],
        processing_overdue=processing["overdue"],
        oldest_processing=processing["oldest"],
        requires_action=requires_action,
        refunds_pending=refunds["count"],
        oldest_refund_pending=refunds["oldest"],
        resolve_after_seconds=after,
        schedules=schedules,
    )


# --- The page ------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    now: datetime
    panels: list[str]
    payments: PaymentFigures | None = None
    refunds_disputes: RefundDisputeFigures | None = None
    payouts: PayoutFigures | None = None
    reconciliation: ReconciliationFigures | None = None
    ledger: LedgerCheckFigures | None = None
    webhooks: WebhookFigures | None = None
    resolver: ResolverFigures | None = None


def _cached(name: str, compute):
    """``compute()``, or what it returned less than BACKOFFICE_DASHBOARD_CACHE_SECONDS ago (per database)."""
    seconds = settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = f"backoffice:dashboard:v1:{connection.settings_dict['NAME']}:{name}"
    found = CACHE.call(lambda: cache.get(key), otherwise=None, degraded="the dashboard's figures are not cached")
    if found is not None:
        return found
    value = compute()
    CACHE.call(
        lambda: cache.set(key, value, seconds), otherwise=None, degraded="the dashboard's figures are not cached"
    )
    return value


def dashboard_for(user, *, now: datetime | None = None) -> Dashboard:
    """The figures of every panel ``user`` may see (``panels_for``), each computed once per cache period."""
    now = now or timezone.now()
    panels = panels_for(user)
    board = Dashboard(now=now, panels=panels)
    if "payments" in panels or "refunds_disputes" in panels:
        payments = _cached("payments", lambda: payment_figures(now))
        board.payments = payments if "payments" in panels else None
        if "refunds_disputes" in panels:
            board.refunds_disputes = _cached(
                "refunds_disputes",
                lambda: refund_dispute_figures(now, succeeded_payments_30d=payments.succeeded_30d),
            )
    computes = {
        "payouts": payout_figures,
        "reconciliation": reconciliation_figures,
        "ledger": ledger_check_figures,
        "webhooks": webhook_figures,
        "resolver": resolver_figures,
    }
    for name, compute in computes.items():
        if name in panels:
            setattr(board, name, _cached(name, lambda compute=compute: compute(now)))
    return board
