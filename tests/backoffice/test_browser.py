"""The back office in a real browser: Debian's Chromium driven by Playwright, against a live server and the sandbox.

Playwright never downloads a browser here: ``.ci/setup-browser`` installs Debian's
``chromium`` and these tests launch ``/usr/bin/chromium``, 1440 px wide (a laptop's screen). Each step leaves a
screenshot in ``test-output/screenshots/``.
"""

import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import User

from backoffice import services
from backoffice.models import RefundRequest
from gateways.registry import processor as processor_named
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Dispute, Refund
from payouts.models import Payout
from tests.backoffice.conftest import (
    PASSWORD,
    requires_processor_disputes,
    requires_processor_refunds,
    sandbox_payment,
    staff_user,
)
from tests.backoffice.test_refund_rules import disputed_row
from tests.payouts.test_payouts import add_account, fund
from tests.staff import totp_code, totp_device

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"
WIDTH = 1440
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/setup-browser (apt chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

groups_migration = importlib.import_module("backoffice.migrations.0002_staff_groups")


@pytest.fixture
def staff_groups(transactional_db):
    """The groups again: a transactional test before this one may have flushed what the migrations wrote."""
    groups_migration.grant(global_apps, None)


@pytest.fixture(scope="module")
def chromium():
    # Playwright's sync API keeps an event loop in this thread, which Django would take for async code: the
    # ORM calls of these tests are plain sync calls, so Django is told so while the browser runs.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(request, chromium, live_server, staff_groups):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": WIDTH, "height": 1000}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


class Steps:
    """Screenshots named after the scenario and a step counter."""

    def __init__(self, page, scenario: str):
        self.page, self.scenario, self.number = page, scenario, 0

    def shot(self, name: str) -> None:
        self.number += 1
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.scenario}-{self.number:02d}-{name}.png"), full_page=True)


def log_in(page, steps: Steps, username: str) -> None:
    """Password, then the code of the user's authenticator (a TOTP device, enrolled here), as staff sign in."""
    code = totp_code(totp_device(User.objects.get(username=username)))
    page.goto("/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code)
    steps.shot("login")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    steps.shot("dashboard")


def message(page, level: str) -> str:
    return page.inner_text(f"ul.messagelist li.{level}")


def test_staff_sign_in_needs_the_authenticator_code(browser_page):
    page = browser_page
    steps = Steps(page, "sign-in-second-factor")
    user = staff_user("sam.support", "Support")
    page.goto("/admin/")
    page.fill("#id_username", "sam.support")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    assert "manage.py staff_totp_enroll sam.support" in page.inner_text("p.errornote")  # no device yet
    steps.shot("not-enrolled")

    device = totp_device(user)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", f"{(int(totp_code(device)) + 1) % 1_000_000:06d}")
    page.click("input[type=submit]")
    assert "That code is not valid" in page.inner_text("p.errornote")
    assert page.locator("#user-tools").count() == 0
    steps.shot("wrong-code")

    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", totp_code(device))
    steps.shot("right-code")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    assert "Payments" in page.inner_text("#content-main")
    steps.shot("dashboard")


def test_five_wrong_passwords_lock_the_sign_in_out(browser_page):
    page = browser_page
    steps = Steps(page, "sign-in-lockout")
    user = staff_user("sam.support", "Support")
    page.goto("/admin/")
    for _ in range(5):
        page.fill("#id_username", "sam.support")
        page.fill("#id_password", "not the password")
        page.fill("#id_otp_token", "000000")
        page.click("input[type=submit]")
    assert "Too many failed sign-in attempts for sam.support" in page.inner_text("p.errornote")
    assert "15 minutes" in page.inner_text("#content-main")
    steps.shot("locked-out")
    page.click("text=Back to the sign-in page")
    page.fill("#id_username", "sam.support")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", totp_code(totp_device(user)))
    page.click("input[type=submit]")
    assert "Too many failed sign-in attempts" in page.inner_text("p.errornote")  # the right password too
    assert page.locator("#user-tools").count() == 0
    steps.shot("still-locked-out")


@requires_processor_refunds
def test_support_finds_a_payment_by_last4_and_refunds_part_of_it(browser_page, api_client, sandbox):
    page = browser_page
    steps = Steps(page, "support-refund")
    staff_user("sam.support", "Support")
    sandbox_payment(api_client, amount=2_500, token="tok_visa")
    payment = sandbox_payment(api_client, amount=4_000, token="tok_mastercard", description="Order 1881")

    log_in(page, steps, "sam.support")
    page.click("a[href='/admin/payments/payment/']")
    page.fill("#searchbar", "4444")
    page.press("#searchbar", "Enter")
    page.wait_for_selector(f"#result_list span[title='{payment.pk}']")
    assert page.locator("#result_list tbody tr").count() == 1
    steps.shot("search-by-last4")

    page.click(f"#result_list span[title='{payment.pk}']")
    page.wait_for_selector("#audit-trail")
    assert "mastercard" in page.content() and "tok_mastercard" not in page.content()
    steps.shot("payment-page")

    page.click("a[data-action=refund]")
    page.fill("#id_amount", "15.00")
    page.select_option("#id_reason", "requested_by_customer")
    page.fill("#id_note", "One of two items returned")
    steps.shot("refund-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    refund = Refund.objects.get(payment=payment)
    assert f"Refund {refund.id} of 15.00 USD created: succeeded" in message(page, "success")
    assert (refund.amount, refund.requested_by) == (1_500, "staff:sam.support")
    steps.shot("refunded")


@requires_processor_refunds
def test_finance_approves_a_large_refund_requested_by_another_user(browser_page, api_client, sandbox):
    page = browser_page
    steps = Steps(page, "finance-approval")
    support = staff_user("sam.support", "Support")
    staff_user("fay.finance", "Finance")
    payment = sandbox_payment(api_client, amount=150_000)
    request = services.staff_refund(
        payment=payment, amount=120_000, reason="fraudulent", note="Card reported stolen", user=support
    ).request

    log_in(page, steps, "fay.finance")
    page.goto("/admin/backoffice/refundrequest/")
    page.wait_for_selector(f"#result_list a:text('{request.pk}')")
    steps.shot("pending-requests")
    page.click(f"#result_list a:text('{request.pk}')")
    page.wait_for_selector("a[data-action=approve]")
    steps.shot("request-page")
    page.click("a[data-action=approve]")
    page.fill("#id_note", "Confirmed with the issuer")
    steps.shot("approve-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    request.refresh_from_db()
    assert request.status == "approved" and request.refund.amount == 120_000
    assert f"Approved: refund {request.refund_id} of 1,200.00 USD created: succeeded" in message(page, "success")
    steps.shot("approved")
    assert RefundRequest.objects.get(pk=request.pk).decided_by.username == "fay.finance"


@requires_processor_disputes
def test_support_submits_evidence_for_a_dispute(browser_page, api_client, sandbox):
    page = browser_page
    steps = Steps(page, "dispute-evidence")
    staff_user("sam.support", "Support")
    payment = sandbox_payment(api_client, amount=6_000)
    answer = processor_named("sandbox").open_dispute(
        processor_charge_id=payment.processor_charge_id, reason="product_not_received"
    )
    dispute = dispute_apply_processor_dispute(answer=answer, actor="processor:test")

    log_in(page, steps, "sam.support")
    page.goto("/admin/payments/dispute/")
    page.wait_for_selector(f"#result_list a:text('{dispute.pk}')")
    steps.shot("dispute-queue")
    page.click(f"#result_list a:text('{dispute.pk}')")
    page.click("a[data-action=evidence]")
    page.fill("#id_customer_communication", "The customer confirmed receipt by email on 3 May.")
    page.fill("#id_shipping_documentation", "Carrier tracking 1Z999AA10123456784: delivered, signed.")
    steps.shot("evidence-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    assert "is now under_review" in message(page, "success")
    assert Dispute.objects.get(pk=dispute.pk).status == "under_review"
    steps.shot("evidence-submitted")


# --- Everyday paths at 1440 px (issue 17: forms and pages that fit a person) ---------------------------


def fits_sideways(page, selector: str) -> dict:
    """How wide ``selector`` is against its scrolling box and the window: nothing should be off to the right."""
    return page.evaluate(
        """(selector) => {
            const table = document.querySelector(selector);
            const box = table.closest('.results') || table.parentElement;
            return {
                table_right: Math.ceil(table.getBoundingClientRect().right),
                box_scroll: box.scrollWidth,
                box_width: box.clientWidth,
                page_scroll: document.documentElement.scrollWidth,
                window: window.innerWidth,
            };
        }""",
        selector,
    )


@requires_processor_refunds
def test_support_opens_a_payment_and_refunds_part_of_it_in_major_units(browser_page, api_client, sandbox):
    page = browser_page
    steps = Steps(page, "support-major-units")
    staff_user("sam.support", "Support")
    payment = sandbox_payment(api_client, amount=4_000, token="tok_mastercard", description="Order 2207")

    log_in(page, steps, "sam.support")
    assert page.locator("text=View site").count() == 0  # no link to a page that does not exist
    page.goto(f"/admin/payments/payment/?q={payment.pk}")
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1 and "Succeeded" in row.inner_text() and "40.00 USD" in row.inner_text()
    steps.shot("list")
    page.click(f"#result_list span[title='{payment.pk}']")
    page.wait_for_selector("#audit-trail")
    steps.shot("payment-page")

    page.click("a[data-action=refund]")
    assert page.input_value("#id_amount") == "40.00"  # what is left, in dollars
    assert "Amount (USD)" in page.inner_text("label[for=id_amount]")
    assert page.input_value("#id_reason") == ""  # no reason is chosen for the agent
    page.fill("#id_amount", "15.5")
    page.fill("#id_note", "One of two items returned")
    page.click("input[name=_confirm]")
    assert "This field is required." in page.inner_text(".field-reason")  # a reason must be picked
    assert not Refund.objects.filter(payment=payment).exists()
    steps.shot("reason-required")
    page.fill("#id_amount", "15.5")
    page.select_option("#id_reason", "requested_by_customer")
    steps.shot("refund-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    refund = Refund.objects.get(payment=payment)
    assert refund.amount == 1_550
    assert f"Refund {refund.id} of 15.50 USD created: succeeded" in message(page, "success")
    assert "Partially refunded" in page.inner_text(".field-status_display")
    assert "succeeded" in page.inner_text(".field-api_status")
    steps.shot("partially-refunded")


@requires_processor_refunds
def test_finance_approves_another_users_request_and_pays_a_merchant_out_by_hand(
    browser_page, api_client, sandbox, merchant
):
    page = browser_page
    steps = Steps(page, "finance-everyday")
    support = staff_user("sam.support", "Support")
    finance = staff_user("fay.finance", "Finance")
    payment = sandbox_payment(api_client, amount=150_000)
    theirs = services.staff_refund(
        payment=payment, amount=120_000, reason="fraudulent", note="Card reported stolen", user=support
    ).request
    other = sandbox_payment(api_client, amount=90_000)
    mine = services.staff_refund(
        payment=other, amount=60_000, reason="duplicate", note="Charged twice", user=finance
    ).request

    log_in(page, steps, "fay.finance")
    page.goto(f"/admin/backoffice/refundrequest/{mine.pk}/change/")
    assert "You made this request" in page.inner_text("#content-main")
    assert page.locator("a[data-action=approve], a[data-action=reject]").count() == 0
    steps.shot("own-request-no-buttons")

    page.goto(f"/admin/backoffice/refundrequest/{theirs.pk}/change/")
    page.click("a[data-action=approve]")
    page.fill("#id_note", "Confirmed with the issuer")
    steps.shot("approve-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    theirs.refresh_from_db()
    assert theirs.status == "approved" and theirs.refund.amount == 120_000
    steps.shot("approved")

    fund(merchant, 500_000)
    add_account(api_client)
    page.goto(f"/admin/payouts/payout/add/?merchant={merchant.pk}")
    assert "Available now" in page.inner_text("#content-main")
    page.fill("#id_amount", "1,234.50")
    page.fill("#id_description", "Early payout")
    page.fill("#id_reason", "Merchant asked by phone")
    steps.shot("payout-form")
    page.click("input[name=_confirm]")
    page.wait_for_selector("ul.messagelist li.success")
    payout = Payout.objects.get(merchant=merchant)
    assert (payout.amount, payout.currency, payout.requested_by) == (123_450, "USD", "staff:fay.finance")
    assert f"Payout {payout.id} of 1,234.50 USD" in message(page, "success")
    assert "1,234.50 USD" in page.inner_text(".field-amount_display")
    steps.shot("payout-created")


def test_the_disputes_queue_fits_1440_px(browser_page, merchant):
    page = browser_page
    steps = Steps(page, "disputes-queue")
    staff_user("sam.support", "Support")
    merchant.name = "Northwind Outdoor Equipment & Apparel Ltd"
    merchant.save(update_fields=["name"])
    for amount in (1_234_567, 9_999, 250_000):
        disputed_row(merchant, amount=amount, amount_captured=amount)
    overdue = disputed_row(merchant, amount=4_200, amount_captured=4_200)
    Dispute.objects.filter(payment=overdue).update(
        evidence_due_by=overdue.created - timedelta(days=1), reason="product_not_received"
    )

    log_in(page, steps, "sam.support")
    page.goto("/admin/payments/dispute/")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 4
    steps.shot("queue")
    measured = fits_sideways(page, "#result_list")
    assert measured["box_scroll"] <= measured["box_width"], measured
    assert measured["page_scroll"] <= measured["window"] and measured["table_right"] <= measured["window"], measured
    header = page.inner_text("#result_list thead")
    for column in ("AMOUNT", "STATUS", "EVIDENCE DUE BY"):
        assert column in header.upper()
    assert "overdue" in page.inner_text("#result_list")


def test_support_finds_a_payment_by_the_customers_email_in_one_search(browser_page, api_client, sandbox):
    """Issue 17's "done when": the beginning of an email, typed in the list's one search box, in other capitals."""
    page = browser_page
    steps = Steps(page, "support-search-by-email")
    staff_user("sam.support", "Support")
    wanted = sandbox_payment(
        api_client,
        amount=2_500,
        customer_email="Jane.Roe@Example.com",
        customer_name="Jane Roe",
        description="Blue wool sweater",
        metadata={"order_id": "ORD-77881"},
    )
    sandbox_payment(api_client, amount=1_000, customer_email="john@example.org", description="Red scarf")

    log_in(page, steps, "sam.support")
    page.goto("/admin/payments/payment/")
    page.fill("#searchbar", "jane.roe@")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    # The list shows the id short (its whole in the title) and the email whole when it fits.
    assert rows.count() == 1 and page.locator(f"#result_list span[title='{wanted.pk}']").count() == 1
    assert "Jane.Roe@Example.com" in rows.inner_text()
    assert page.locator("#result_list td.field-customer_column").is_visible()
    steps.shot("found-by-email")
    measured = fits_sideways(page, "#result_list")
    assert measured["page_scroll"] <= measured["window"], measured
    page.fill("#searchbar", "ORD-77881")  # the merchant's order number, a metadata value
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click(f"#result_list span[title='{wanted.pk}']")
    page.wait_for_selector("#audit-trail")
    assert "Jane Roe" in page.inner_text("body")
    steps.shot("payment-page-with-customer")
