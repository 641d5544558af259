"""The admin's home page: each panel of ``backoffice.dashboard`` the user may see, as figures, charts and links.

``StaffAdminSite.index`` adds ``dashboard_context(request)`` to Django's index (whose list of every section stays
below the panels, under "All sections"). This module only presents: the figures come from the selectors of
``backoffice.dashboard``, the charts from ``backoffice.charts``.
"""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.core.exceptions import BadRequest
from django.urls import reverse

from backoffice import charts
from backoffice.admin.base import when
from backoffice.charts import Chart, Series
from backoffice.dashboard import (
    PAYMENT_STATUSES,
    PAYOUT_STATUSES,
    Dashboard,
    dashboard_for,
)
from core.money import format_amount, is_known_currency, to_major
from payments.models import DisputeStatus, RefundStatus
from reconciliation.models import ExceptionType

DAY_LABEL = "%d %b"
HOUR_LABEL = "%H:00"


@dataclass
class Tile:
    """One figure at a glance: ``value`` with a label, a detail line, a link to the list behind it, and a tone
    (``good``, ``warn``, ``bad`` or "") that colours it."""

    label: str
    value: str
    detail: str = ""
    url: str = ""
    tone: str = ""


@dataclass
class Panel:
    id: str
    title: str
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    # Lines of text under the charts (the latest reconciliation runs, the ledger's failed checks…): (text, url).
    notes: list[tuple[str, str]] = field(default_factory=list)
    # Links to the other currencies of a chart by currency: (currency, url, current).
    currency_links: list[tuple[str, str, bool]] = field(default_factory=list)


def _url(name: str, **query) -> str:
    url = reverse(f"admin:{name}")
    return f"{url}?{urlencode(query)}" if query else url


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _age(since: datetime | None, now: datetime) -> str:
    """``since`` as an age: "4 min", "3 h", "2 d" (— when there is none)."""
    if since is None:
        return "—"
    seconds = max((now - since).total_seconds(), 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _when(moment: datetime | None) -> str:
    """The one date format of the back office: ``2026-11-30 19:56 UTC``."""
    return "never" if moment is None else when(moment)


def _money_list(moneys, *, limit: int = 3) -> str:
    """``1,200.00 USD · 80.00 EUR`` (the largest first), or "none"."""
    shown = [format_amount(m.amount, m.currency) for m in moneys[:limit]]
    if len(moneys) > limit:
        shown.append(f"and {len(moneys) - limit} more currencies")
    return " · ".join(shown) or "none"


def _count(n: int) -> str:
    return f"{n:,}"


def _payouts(n: int) -> str:
    return f"{n:,} payout" + ("" if n == 1 else "s")


def payments_panel(board: Dashboard, currency: str | None) -> Panel:
    figures = board.payments
    days = [day.strftime(DAY_LABEL) for day in figures.days]
    hours = [hour.strftime(HOUR_LABEL) for hour in figures.hours]
    panel = Panel("payments", "Payments")
    changelist = "payments_payment_changelist"
    panel.tiles = [
        Tile("Payments, 24 h", _count(figures.total_24h), f"{_count(figures.total_30d)} in 30 days", _url(changelist)),
        Tile(
            "Authorisation rate, 24 h",
            _percent(figures.authorisation_rate_24h),
            f"{_count(figures.authorised_24h)} authorised, {_count(figures.declined_24h)} declined",
            tone=_rate_tone(figures.authorisation_rate_24h, good=0.9, bad=0.75),
        ),
        Tile(
            "Authorisation rate, 30 days",
            _percent(figures.authorisation_rate_30d),
            f"{_count(figures.authorised_30d)} authorised, {_count(figures.declined_30d)} declined",
            tone=_rate_tone(figures.authorisation_rate_30d, good=0.9, bad=0.75),
        ),
        Tile(
            "Failed, 30 days",
            _count(figures.declined_30d),
            "declines and processing errors",
            _url(changelist, status__exact="failed"),
        ),
    ]
    status_series = [Series(str(status), f"s-{status}", figures.count_by_day[status]) for status in PAYMENT_STATUSES]
    panel.charts.append(
        charts.columns(
            "payments-by-day",
            "Payments per day, by status (30 days)",
            days,
            status_series,
            label_every=5,
            description=f"Payments created per day over the last 30 days: {figures.total_30d:,} in all.",
        )
    )
    if figures.currencies:
        known = [volume.currency for volume in figures.currencies]
        shown = currency if currency in known else known[0]
        volume = figures.volume(shown)
        panel.charts.append(
            charts.columns(
                "volume-by-day",
                f"Volume per day in {shown}, by status (30 days)",
                days,
                [
                    Series(str(status), f"s-{status}", volume.by_day.get(status, [0] * len(days)))
                    for status in PAYMENT_STATUSES
                ],
                # The series are in minor units; the axis shows major units, the tooltips and table the amounts.
                fmt=lambda v, shown=shown: charts.compact(float(to_major(int(v), shown))),
                fmt_exact=lambda v, shown=shown: format_amount(int(v), shown),
                label_every=5,
                description=(
                    f"Amounts of the {shown} payments created per day over the last 30 days; succeeded: "
                    f"{format_amount(volume.amount_by_status.get('succeeded', 0), shown)}."
                ),
            )
        )
        if len(known) > 1:
            panel.currency_links = [(code, f"?{urlencode({'currency': code})}", code == shown) for code in known[:8]]
    panel.charts.append(
        charts.line(
            "authorisation-rate",
            "Authorisation rate per day (30 days)",
            days,
            figures.authorisation_rate_by_day,
            label_every=5,
            description=(
                "Authorised payments out of those authorised or declined, per day; over 30 days: "
                f"{_percent(figures.authorisation_rate_30d)}."
            ),
        )
    )
    panel.charts.append(
        charts.columns(
            "payments-by-hour",
            "Payments per hour, by status (24 hours, UTC)",
            hours,
            [Series(str(status), f"s-{status}", figures.count_by_hour[status]) for status in PAYMENT_STATUSES],
            label_every=3,
            description=f"Payments created per hour over the last 24 hours: {figures.total_24h:,} in all.",
        )
    )
    if figures.declines:
        panel.charts.append(
            charts.bars(
                "decline-codes",
                "Top decline codes (30 days)",
                [code for code, _ in figures.declines],
                [Series("failed payments", "s-failed", [count for _, count in figures.declines])],
                description="The most frequent reasons of failed payments: "
                + ", ".join(f"{code} {count:,}" for code, count in figures.declines),
            )
        )
    return panel


def _rate_tone(value: float | None, *, good: float, bad: float, lower_is_better: bool = False) -> str:
    if value is None:
        return ""
    if lower_is_better:
        return "good" if value <= good else "bad" if value >= bad else "warn"
    return "good" if value >= good else "bad" if value <= bad else "warn"


def refunds_disputes_panel(board: Dashboard) -> Panel:
    figures = board.refunds_disputes
    days = [day.strftime(DAY_LABEL) for day in board.payments.days] if board.payments else None
    panel = Panel("refunds-disputes", "Refunds and disputes")
    panel.tiles = [
        Tile(
            "Refund rate, 30 days",
            _percent(figures.refund_rate),
            f"{_count(figures.refunds_30d)} refunds of {_count(figures.succeeded_payments_30d)} succeeded payments",
            _url("payments_refund_changelist"),
        ),
        Tile(
            "Refunded, 30 days",
            _money_list(figures.refunds_by_currency),
            f"{_count(figures.refunds_by_status.get(RefundStatus.PENDING, 0))} pending, "
            f"{_count(figures.refunds_by_status.get(RefundStatus.FAILED, 0))} failed",
            _url("payments_refund_changelist", status__exact="pending"),
        ),
        Tile(
            "Dispute rate, 30 days",
            _percent(figures.dispute_rate),
            f"{_count(figures.disputes_30d)} disputes opened; {_money_list(figures.disputes_by_currency)}",
            _url("payments_dispute_changelist"),
            tone=_rate_tone(figures.dispute_rate, good=0.005, bad=0.009, lower_is_better=True),
        ),
        Tile(
            "Disputes open",
            _count(figures.disputes_open),
            f"{_count(figures.disputes_due_soon)} due within 3 days, {_count(figures.disputes_overdue)} overdue",
            _url("payments_dispute_changelist"),
            tone="bad" if figures.disputes_overdue else "warn" if figures.disputes_due_soon else "",
        ),
    ]
    if days is not None:
        panel.charts.append(
            charts.columns(
                "refunds-disputes-by-day",
                "Refunds and disputes per day (30 days)",
                days,
                [
                    Series("refunds", "s-refund", figures.refunds_by_day),
                    Series("disputes", "s-dispute", figures.disputes_by_day),
                ],
                label_every=5,
                description=(
                    f"Refunds ({figures.refunds_30d:,}) and disputes ({figures.disputes_30d:,}) created per day over "
                    "the last 30 days."
                ),
            )
        )
    if figures.disputes_by_status:
        statuses = [s for s in DisputeStatus.values if figures.disputes_by_status.get(s)]
        panel.charts.append(
            charts.bars(
                "disputes-by-status",
                "Disputes opened in 30 days, by status",
                statuses,
                [Series("disputes", "s-dispute", [figures.disputes_by_status[s] for s in statuses])],
            )
        )
    return panel


def payouts_panel(board: Dashboard) -> Panel:
    figures = board.payouts
    panel = Panel("payouts", "Payouts")
    changelist = "payouts_payout_changelist"
    panel.tiles = [
        Tile(
            "Pending",
            _money_list(figures.pending),
            f"{_payouts(sum(m.count for m in figures.pending))}; oldest {_age(figures.oldest_pending, board.now)}",
            _url(changelist, status__exact="pending"),
        ),
        Tile(
            "In transit",
            _money_list(figures.in_transit),
            _payouts(sum(m.count for m in figures.in_transit)),
            _url(changelist, status__exact="in_transit"),
        ),
        Tile(
            "Paid, 30 days",
            _money_list(figures.paid),
            _payouts(sum(m.count for m in figures.paid)),
            _url(changelist, status__exact="paid"),
        ),
        Tile(
            "Failed, 30 days",
            _count(figures.failed_30d),
            ", ".join(f"{code} {count:,}" for code, count in figures.failures) or "none",
            _url(changelist, status__exact="failed"),
            tone="bad" if figures.failed_30d else "",
        ),
    ]
    if figures.by_status:
        statuses = [s for s in PAYOUT_STATUSES if figures.by_status.get(s)]
        panel.charts.append(
            charts.bars(
                "payouts-by-status",
                "Payouts created in 30 days, by status",
                [str(s) for s in statuses],
                [Series("payouts", "s-payout", [figures.by_status[s] for s in statuses])],
            )
        )
    return panel


AGE_CLASSES = ("age-0", "age-1", "age-2", "age-3")


def reconciliation_panel(board: Dashboard) -> Panel:
    figures = board.reconciliation
    panel = Panel("reconciliation", "Reconciliation")
    changelist = "reconciliation_reconciliationexception_changelist"
    oldest_bucket = sum(counts[-1] for counts in figures.open_by_type.values())
    panel.tiles = [
        Tile(
            "Open exceptions",
            _count(figures.open_total),
            f"oldest {_age(figures.oldest_open, board.now)}",
            _url(changelist),
            tone="good" if not figures.open_total else "bad" if oldest_bucket else "warn",
        )
    ]
    for run in figures.latest_runs[:1]:
        panel.tiles.append(
            Tile(
                "Latest run",
                f"{run.settlement_date:%Y-%m-%d}",
                f"{run.processor}: {run.status}, {run.matched:,} of {run.lines:,} lines matched, "
                f"{run.exceptions_found:,} exceptions",
                _url("reconciliation_reconciliationrun_changelist"),
                tone="bad" if run.status == "failed" else "",
            )
        )
    if figures.open_by_type:
        labels = {value: label for value, label in ExceptionType.choices}
        types = list(figures.open_by_type)
        panel.charts.append(
            charts.bars(
                "exceptions-by-type-and-age",
                "Open exceptions by type and age",
                [labels.get(t, t) for t in types],
                [
                    Series(age, AGE_CLASSES[k], [figures.open_by_type[t][k] for t in types])
                    for k, age in enumerate(figures.ages)
                ],
                description=f"{figures.open_total:,} open exceptions, by type, coloured by age.",
            )
        )
    panel.notes = [
        (
            f"{run.settlement_date:%Y-%m-%d} {run.processor}: {run.status}, {run.lines:,} lines, "
            f"{run.matched:,} matched, {run.exceptions_found:,} exceptions (finished {_when(run.finished)})",
            "",
        )
        for run in figures.latest_runs
    ]
    return panel


def ledger_panel(board: Dashboard) -> Panel:
    figures = board.ledger
    panel = Panel("ledger", "Ledger check")
    changelist = "ledger_ledgercheckrun_changelist"
    if figures.run_id is None:
        panel.tiles = [Tile("Newest check", "none yet", "ledger_check runs every night", _url(changelist), "warn")]
        return panel
    panel.tiles = [
        Tile(
            "Newest check",
            "passed" if figures.ok else "FAILED",
            f"{_when(figures.started)}, {figures.checks} checks"
            + (f", {len(figures.skipped)} skipped" if figures.skipped else ""),
            reverse("admin:ledger_ledgercheckrun_change", args=[figures.run_id]),
            "good" if figures.ok else "bad",
        ),
        Tile("Age", _age(figures.started, board.now), "runs nightly", _url(changelist)),
    ]
    panel.notes = [(f"Failed: {name} ({failures:,} failures)", "") for name, failures in figures.failed]
    return panel


def webhooks_panel(board: Dashboard) -> Panel:
    figures = board.webhooks
    panel = Panel("webhooks", "Webhooks and the outbox")
    deliveries = "events_webhookdelivery_changelist"
    outbox_age = _age(figures.oldest_unpublished, board.now)
    panel.tiles = [
        Tile(
            "Deliveries due",
            _count(figures.due),
            f"{_count(figures.pending)} pending; oldest due {_age(figures.oldest_due, board.now)}",
            _url(deliveries, status__exact="pending"),
            tone=_backlog_tone(figures.oldest_due, board.now),
        ),
        Tile(
            "Failed for good, 24 h",
            _count(figures.failed_24h),
            f"{_count(figures.disabled_endpoints)} endpoints disabled",
            _url(deliveries, status__exact="failed"),
            tone="bad" if figures.failed_24h else "good",
        ),
        Tile(
            "Attempts failing, 24 h",
            _percent(figures.attempt_failure_rate),
            f"of {_count(figures.attempts_24h)} attempts",
            _url(deliveries),
            tone=_rate_tone(figures.attempt_failure_rate, good=0.05, bad=0.2, lower_is_better=True),
        ),
        Tile(
            "Outbox: events not yet sent out",
            _count(figures.unpublished),
            f"oldest {outbox_age}",
            _url("events_event_changelist"),
            tone=_backlog_tone(figures.oldest_unpublished, board.now),
        ),
    ]
    panel.charts.append(
        charts.columns(
            "webhook-attempts-by-hour",
            "Webhook attempts per hour (24 hours, UTC)",
            [hour.strftime(HOUR_LABEL) for hour in figures.hours],
            [
                Series("succeeded", "s-succeeded", figures.attempts_succeeded_by_hour),
                Series("failed", "s-failed", figures.attempts_failed_by_hour),
            ],
            label_every=3,
            description=(
                f"{figures.attempts_24h:,} attempts in the last 24 hours, "
                f"{_percent(figures.attempt_failure_rate)} of them failed."
            ),
        )
    )
    return panel


def _backlog_tone(oldest: datetime | None, now: datetime) -> str:
    """Nothing waiting is good; waiting a minute is a warning; five minutes is bad."""
    if oldest is None:
        return "good"
    waited = (now - oldest).total_seconds()
    return "bad" if waited >= 300 else "warn" if waited >= 60 else "good"


def resolver_panel(board: Dashboard) -> Panel:
    figures = board.resolver
    panel = Panel("resolver", "Resolver and schedules")
    panel.tiles = [
        Tile(
            "Payments with an unknown outcome",
            _count(figures.processing),
            f"{_count(figures.processing_overdue)} older than {figures.resolve_after_seconds} s; oldest "
            f"{_age(figures.oldest_processing, board.now)}",
            tone="bad" if figures.processing_overdue else "good",
        ),
        Tile("Wallet payments awaiting the customer", _count(figures.requires_action)),
        Tile(
            "Refunds pending",
            _count(figures.refunds_pending),
            f"oldest {_age(figures.oldest_refund_pending, board.now)}",
            tone=_backlog_tone(figures.oldest_refund_pending, board.now) if figures.refunds_pending else "good",
        ),
    ]
    for schedule in figures.schedules:
        if schedule.enabled is None:
            tone, detail = "bad", "no such schedule"
        elif not schedule.enabled:
            tone, detail = "bad", "switched off"
        else:
            tone, detail = _backlog_tone(schedule.last_run_at, board.now), f"last run {_when(schedule.last_run_at)}"
            if schedule.last_run_at is None:
                tone = "warn"
        panel.tiles.append(
            Tile(
                schedule.label,
                f"{_age(schedule.last_run_at, board.now)} ago" if schedule.last_run_at else "never",
                detail,
                _url("django_celery_beat_periodictask_changelist", task=schedule.task),
                tone,
            )
        )
    return panel


def dashboard_context(request) -> dict:
    """The index page's ``dashboard``: the panels the user may see, in order. ``?currency=EUR`` picks the currency
    of the volume chart (an unknown code is a 400)."""
    currency = request.GET.get("currency")
    if currency is not None and not is_known_currency(currency):
        raise BadRequest("currency must be an ISO 4217 code, such as USD")
    board = dashboard_for(request.user)
    builders = {
        "payments": lambda: payments_panel(board, currency),
        "refunds_disputes": lambda: refunds_disputes_panel(board),
        "payouts": lambda: payouts_panel(board),
        "reconciliation": lambda: reconciliation_panel(board),
        "ledger": lambda: ledger_panel(board),
        "webhooks": lambda: webhooks_panel(board),
        "resolver": lambda: resolver_panel(board),
    }
    return {
        "dashboard": {
            "panels": [builders[name]() for name in board.panels],
            "now": _when(board.now),
            "window_days": 30,
        }
    }
