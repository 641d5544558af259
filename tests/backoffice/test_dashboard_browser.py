"""The dashboard in a real browser at 1440 px (Debian's Chromium driven by Playwright, as tests/backoffice/
test_browser.py): each role signs in and lands on its panels; the screenshots go to test-output/screenshots/."""

import datetime
import random

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ledger.models import LedgerCheckRun
from payments.models import Dispute, Payment, Refund
from reconciliation.models import ReconciliationException, ReconciliationRun
from tests.backoffice.conftest import PASSWORD, payment_row, staff_user
from tests.backoffice.test_browser import (  # noqa: F401 - the fixtures
    SCREENSHOTS,
    Steps,
    chromium,
    log_in,
    pytestmark,
    staff_groups,
)
from tests.reconciliation.helpers import payout

DECLINES = ["insufficient_funds", "do_not_honor", "expired_card", "incorrect_cvc", "lost_card"]


def demo_dataset(merchant, now) -> None:
    """A month of a small merchant's activity: about 400 payments in USD and EUR, refunds, disputes, payouts,
    reconciliation exceptions, a ledger check, webhook deliveries and their attempts (seeded: the same each run)."""
    rng = random.Random(17)
    for n in range(400):
        # Busier lately, and a tenth of them in the last 24 hours.
        days_ago = rng.random() if n % 10 == 0 else 29.9 * rng.random() ** 1.3
        created = now - datetime.timedelta(days=days_ago)
        roll = rng.random()
        currency = "EUR" if rng.random() < 0.25 else "USD"
        amount = rng.choice([1_500, 2_900, 4_900, 9_900, 12_500, 25_000])
        if roll < 0.78:
            fields = {"status": "succeeded"}
        elif roll < 0.9:
            code = rng.choice(DECLINES) if rng.random() < 0.8 else None
            fields = {
                "status": "failed",
                "amount_captured": 0,
                "processor_charge_id": None,
                "decline_code": code,
                "failure_code": "card_declined" if code else "processing_error",
            }
        elif roll < 0.94:
            fields = {"status": "requires_capture", "amount_captured": 0}
        elif roll < 0.97:
            fields = {"status": "canceled", "amount_captured": 0}
        else:
            fields = {"status": "requires_confirmation", "amount_captured": 0, "processor_charge_id": None}
        payment = payment_row(merchant, amount=amount, currency=currency, **fields)
        Payment.objects.filter(pk=payment.pk).update(created=created)
        if fields["status"] == "succeeded" and n % 12 == 0:
            refund = Refund.objects.create(
                payment=payment,
                merchant=merchant,
                amount=amount // 2,
                currency=currency,
                status="succeeded",
                requested_by="api:demo",
            )
            Refund.objects.filter(pk=refund.pk).update(created=created + datetime.timedelta(hours=5))
        if fields["status"] == "succeeded" and n % 45 == 3:
            dispute = Dispute.objects.create(
                payment=payment,
                merchant=merchant,
                processor_dispute_id=f"dp_demo_{n}",
                amount=amount,
                currency=currency,
                status="needs_response" if n % 2 else "lost",
                evidence_due_by=now + datetime.timedelta(days=n % 5),
            )
            Dispute.objects.filter(pk=dispute.pk).update(created=created + datetime.timedelta(days=1))
    for amount, status in ((40_000, "paid"), (25_000, "paid"), (18_000, "in_transit"), (9_000, "pending")):
        payout(merchant, amount, status)
    payout(merchant, 5_000, "failed")

    run = ReconciliationRun.objects.create(
        processor="sandbox", settlement_date=(now - datetime.timedelta(days=1)).date(), status="succeeded", lines=1_204
    )
    ReconciliationRun.objects.filter(pk=run.pk).update(matched=1_196)
    for k, (kind, age_days) in enumerate(
        [
            ("amount_mismatch", 0.2),
            ("amount_mismatch", 2),
            ("missing_internal", 0.5),
            ("missing_external", 4),
            ("fee_mismatch", 9),
            ("fee_mismatch", 1.5),
            ("status_mismatch", 12),
            ("amount_mismatch", 0.1),
        ]
    ):
        ReconciliationException.objects.create(
            run=run,
            processor="sandbox",
            settlement_date=run.settlement_date,
            type=kind,
            line_type="charge",
            match_key=f"pay_demo_{k}",
            created=now - datetime.timedelta(days=age_days),
        )
    LedgerCheckRun.objects.create(
        started=now - datetime.timedelta(hours=7),
        finished=now - datetime.timedelta(hours=7) + datetime.timedelta(seconds=41),
        ok=True,
        results={"ok": True, "checks": [{"name": name, "status": "passed"} for name in ("entries_balance", "totals")]},
    )

    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://example.com/hooks", events=["*"])
    Event.objects.filter(published_at__isnull=True).update(published_at=now)
    number = 0
    for hour in range(24):
        for _ in range(rng.randint(4, 14)):
            number += 1
            started = now - datetime.timedelta(hours=hour, minutes=rng.randint(0, 59))
            event = Event.objects.create(
                merchant=merchant, type="payment.succeeded", payload="{}", created=started, published_at=started
            )
            ok = rng.random() > (0.35 if 5 <= hour <= 7 else 0.03)
            delivery = WebhookDelivery.objects.create(
                event=event,
                endpoint=endpoint,
                status="succeeded" if ok else "pending",
                next_attempt_at=started + datetime.timedelta(minutes=2),
                completed_at=started if ok else None,
            )
            WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=started, succeeded=ok)


@pytest.fixture
def dashboard_page(chromium, live_server, staff_groups):  # noqa: F811 - the fixtures imported above
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_each_role_lands_on_its_dashboard_at_1440_px(dashboard_page, merchant, settings):
    settings.BACKOFFICE_DASHBOARD_CACHE_SECONDS = 0
    page = dashboard_page
    demo_dataset(merchant, timezone.now())
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    staff_user("fay.finance", "Finance")
    staff_user("olga.ops", "Operations")

    for username, expected, absent in (
        (
            "root",
            ["Payments", "Refunds and disputes", "Payouts", "Reconciliation", "Ledger check", "Resolver and schedules"],
            [],
        ),
        ("fay.finance", ["Payments", "Reconciliation", "Ledger check"], ["Webhooks and the outbox"]),
        ("olga.ops", ["Webhooks and the outbox", "Resolver and schedules"], ["Refunds and disputes", "Payouts"]),
    ):
        page.context.clear_cookies()
        steps = Steps(page, f"dashboard-{username.split('.')[-1]}")
        log_in(page, steps, username)  # its "dashboard" screenshot is the whole page at 1440 px
        headings = page.locator(".dashboard-panel > h2").all_inner_texts()
        assert all(title in headings for title in expected), headings
        assert not [title for title in absent if title in headings], headings
        # Nothing wider than the window: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440
        # Every chart is named for assistive technology and has its figures as a table.
        for chart in page.locator("svg.chart").all():
            assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-labelledby")
        page.locator("#all-sections").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"dashboard-{username.split('.')[-1]}-sections.png"))
        if username == "root":
            page.goto("/admin/")
            page.click("#figure-decline-codes details summary")
            assert page.locator("#figure-decline-codes table").is_visible()
            page.locator("#figure-decline-codes").screenshot(path=str(SCREENSHOTS / "dashboard-figures-table.png"))
