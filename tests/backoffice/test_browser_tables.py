"""Tables that fit a 1440 px screen, in a real browser (Debian's Chromium, as in ``test_browser``): a finance clerk's
open reconciliation exceptions, an operator's webhook deliveries, a support agent's audit trail searched by a
payment id. Each asserts that the table is no wider than the area it sits in (nothing off to the right) and that
the key columns are on screen; each step leaves a screenshot in ``test-output/screenshots/``.
"""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from events.models import Event, WebhookDelivery, WebhookEndpoint
from payments.locks import payment_lock
from payments.models import Refund
from payments.transitions import PAYMENTS, REFUNDS, transition
from reconciliation.models import ReconciliationException
from tests.backoffice.conftest import payment_row, staff_user
from tests.backoffice.test_browser import (  # noqa: F401 - fixtures: the browser, the groups
    CHROMIUM,
    SCREENSHOTS,
    Steps,
    chromium,
    log_in,
    staff_groups,
)
from tests.reconciliation.helpers import Line, charge_line, reconcile, today, write_report
from tests.reconciliation.helpers import payment as settled_payment

WIDTH = 1440

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/setup-browser (apt chromium)"),
]


@pytest.fixture
def wide_page(request, chromium, live_server, staff_groups):  # noqa: F811 - the fixtures imported above
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": WIDTH, "height": 1000}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


def assert_fits(page) -> dict:
    """The result table is no wider than its container, which is no wider than the window; returns the widths."""
    widths = page.evaluate(
        """() => {
            const table = document.querySelector('#result_list');
            const box = table.closest('.results') || table.parentElement;
            return {table: table.scrollWidth, container: box.clientWidth, window: document.documentElement.clientWidth,
                    page: document.documentElement.scrollWidth};
        }"""
    )
    assert widths["table"] <= widths["container"], widths
    assert widths["page"] <= widths["window"], widths
    return widths


def assert_on_screen(page, selector: str) -> None:
    """Every element matched is visible and inside the window, left to right."""
    cells = page.locator(selector)
    assert cells.count() > 0, selector
    for index in range(cells.count()):
        cell = cells.nth(index)
        assert cell.is_visible(), selector
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (selector, box)


def test_a_finance_clerk_sees_open_exceptions_with_their_amounts(wide_page, merchant, tmp_path):
    page = wide_page
    steps = Steps(page, "wide-finance-exceptions")
    staff_user("fay.finance", "Finance")
    merchant.name = "Compagnie Générale des Marchandises Livrées à Domicile"
    merchant.save()
    lines = []
    for number in range(6):
        paid = settled_payment(merchant, 10_000 + number * 1_234)
        lines.append(charge_line(paid, amount=9_000 + number * 1_000))
    lines.append(Line("charge", "ch_stranger_with_a_long_processor_id_0001", "pay_stranger", "USD", 700))
    reconcile(today(), write_report(tmp_path, today(), lines))
    assert ReconciliationException.objects.filter(status="open").count() == 7

    log_in(page, steps, "fay.finance")
    page.goto("/admin/reconciliation/reconciliationexception/")
    page.wait_for_selector("#result_list tbody tr")
    assert page.locator("#result_list tbody tr").count() == 7
    assert_fits(page)
    steps.shot("open-exceptions")
    for column in ("internal_display", "external_report_display", "reference_link", "age_display"):
        assert_on_screen(page, f"#result_list td.field-{column}")
    assert "112.34 USD" in page.inner_text("#result_list")  # the ledger amount of the second payment

    page.click("#result_list td.field-reference_link a >> nth=0")
    page.wait_for_selector("#audit-trail")
    assert "/admin/payments/payment/" in page.url
    steps.shot("reference-opens-the-payment")


def test_an_operator_sees_webhook_deliveries(wide_page, merchant):
    page = wide_page
    steps = Steps(page, "wide-operations-deliveries")
    staff_user("olga.ops", "Operations")
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant,
        url="https://hooks.example-merchant-with-a-long-domain-name.com/integrations/payments/v2/webhooks/receive",
        events=["*"],
        secret="whsec_test",
    )
    now = timezone.now()
    for number, status in enumerate(["pending", "failed", "succeeded", "pending", "canceled", "succeeded"]):
        event = Event.objects.create(merchant=merchant, type="payment.succeeded", payload="{}", created=now)
        WebhookDelivery.objects.create(
            event=event,
            endpoint=endpoint,
            status=status,
            attempt_count=number,
            next_attempt_at=now + datetime.timedelta(minutes=number),
            completed_at=None if status == "pending" else now,
            last_status_code=500 if status in ("failed", "pending") else 200,
            last_error="HTTPSConnectionPool(host='hooks.example…', port=443): Read timed out. (read timeout=10)"
            if status != "succeeded"
            else "",
        )

    log_in(page, steps, "olga.ops")
    page.goto("/admin/events/webhookdelivery/")
    page.wait_for_selector("#result_list tbody tr")
    assert page.locator("#result_list tbody tr").count() == 6
    assert_fits(page)
    steps.shot("deliveries")
    for column in ("status", "tries", "last_result", "when_display", "endpoint_url"):
        assert_on_screen(page, f"#result_list td.field-{column}")
    title = page.get_attribute("#result_list td.field-endpoint_url span >> nth=0", "title")
    assert endpoint.url in title  # cut in the cell, whole in its title


def test_a_support_agent_searches_the_audit_trail_by_a_payment_id(wide_page, merchant):
    page = wide_page
    steps = Steps(page, "wide-support-audit-trail")
    staff_user("sam.support", "Support")
    payment = payment_row(merchant, status="requires_capture", amount_captured=0)
    other = payment_row(merchant)
    with transaction.atomic():
        transition(payment_lock(payment.id), "cancel", trail=PAYMENTS, actor="staff:fay.finance", reason_code=None)
    audit_record(
        actor="staff:fay.finance",
        action="staff.cancel",
        obj=payment,
        before={"status": "requires_capture", "amount_capturable": 10_000},
        after={"status": "canceled", "amount_capturable": 0, "cancellation_reason": "requested_by_customer"},
        reason="The customer called to cancel the order before it shipped; confirmed by email the same day.",
    )
    refund = Refund.objects.create(
        payment=other, merchant=merchant, amount=2_500, currency="USD", requested_by="staff:sam.support"
    )
    with transaction.atomic():
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        transition(locked, "succeed", trail=REFUNDS, actor="processor:sandbox", processor_refund_id="rf_1")

    log_in(page, steps, "sam.support")
    page.click("a[href='/admin/backoffice/audittrail/']")
    page.wait_for_selector("#result_list tbody tr")
    assert page.locator("#result_list tbody tr").count() == 3  # both kinds of line, in one list
    steps.shot("audit-trail")
    page.fill("#searchbar", payment.id)
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list tbody tr")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert [rows.nth(n).locator("td.field-action").inner_text() for n in range(2)] == ["staff.cancel", "payment.cancel"]
    assert_fits(page)
    for column in ("created_link", "action", "object_link", "change_display", "reason_short"):
        assert_on_screen(page, f"#result_list td.field-{column}")
    assert "status: requires_capture → canceled" in page.inner_text("#result_list")
    steps.shot("searched-by-payment-id")

    page.click("#result_list td.field-created_link a >> nth=0")
    page.wait_for_selector("div.field-after_display")
    assert "requested_by_customer" in page.inner_text("div.field-after_display")  # the whole after, on the page
    steps.shot("the-line")
    page.go_back()
    page.click("#result_list td.field-object_link a >> nth=0")
    page.wait_for_selector("#audit-trail")
    assert payment.id in page.url.replace("_5F", "_")
    steps.shot("the-payment")


def test_a_support_agent_sees_the_payments_list_whole(wide_page, merchant):
    """The payments list's columns (id, merchant, amount, status, card, customer, created) fit 1440 px, with a long
    merchant name and a long customer email."""
    page = wide_page
    steps = Steps(page, "wide-support-payments")
    staff_user("sam.support", "Support")
    merchant.name = "A merchant with a name much longer than a column should be"
    merchant.save(update_fields=["name"])
    for number in range(5):
        payment_row(merchant, customer_email=f"someone.with.a.long.address.{number}@example-shop.com")
    log_in(page, steps, "sam.support")
    page.goto("/admin/payments/payment/")
    steps.shot("list")
    assert_fits(page)
    for column in ("amount_display", "status_display", "created_column"):
        assert_on_screen(page, f"#result_list td.field-{column}")
