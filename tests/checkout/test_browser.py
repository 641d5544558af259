"""The hosted checkout in a real browser: Debian's Chromium driven by Playwright, the platform on pytest-django's
live server, the sandbox processor as a real process (its card field in a cross-origin iframe).

As in tests/backoffice/test_browser.py, Playwright never downloads a browser (``.ci/setup-browser`` installs
Debian's ``chromium``; these tests launch ``/usr/bin/chromium``) and each step leaves a screenshot in
``test-output/screenshots/`` (``checkout-*.png``), to be looked at. The merchant's site is a small HTTP server of
the test's own. After the payments, the platform's whole database (every text column
of every table) and the logs captured during the test must not hold a card number.
"""

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection

from checkout.models import CheckoutSession
from payments.models import Payment
from tests.checkout.helpers import create_session

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CARD_NUMBERS = ("4242424242424242", "4000000000000002")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/setup-browser (apt chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture(scope="module")
def chromium():
    # Playwright's sync API keeps an event loop in this thread, which Django would take for async code: the
    # ORM calls of these tests are plain sync calls, so Django is told so while the browser runs.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


class Customer:
    """A customer's browser on a phone-sized screen (375 px wide), recording screenshots and CSP violations."""

    def __init__(self, chromium, scenario: str):
        self.context = chromium.new_context(viewport={"width": 375, "height": 812})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.scenario, self.number = scenario, 0
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))

    def shot(self, name: str) -> None:
        self.number += 1
        path = SCREENSHOTS / f"checkout-{self.scenario}-{self.number:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def type_card(self, number: str, *, submit_with_enter: bool = False) -> None:
        field = self.page.frame_locator("#card-frame")
        field.locator("#number").fill(number)
        field.locator("#expiry").fill("12/34")
        field.locator("#cvc").fill("123")
        self.shot("card-typed")
        if submit_with_enter:
            field.locator("#cvc").press("Enter")  # the keyboard alone pays
        else:
            field.locator("#pay-card").click()

    def fits_the_screen(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    def close(self) -> None:
        violations = [text for text in self.console if "Content Security Policy" in text]
        self.context.close()
        assert not violations, violations


class MerchantPage(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        body = b"<!doctype html><title>Shop</title><h1>Thank you (the merchant's page)</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def shop():
    """The merchant's own site: its success and cancel pages."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), MerchantPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def checkout_site(transactional_db, live_server, sandbox, settings, caplog):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    settings.CHECKOUT_PUBLIC_URL = live_server.url
    caplog.set_level(logging.DEBUG)
    return live_server


@pytest.fixture
def new_session(api_client, shop):
    def create(**fields) -> dict:
        return create_session(
            api_client,
            amount=4250,
            description="Two pots of tea",
            success_url=f"{shop}/thanks",
            cancel_url=f"{shop}/cart",
            **fields,
        )

    return create


def assert_no_card_number_stored_or_logged(caplog, sandbox) -> None:
    """Every text column of every table of the platform's database, and every log line captured, by value."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            columns = [
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
                if column.type_code in (25, 1043, 1042, 114, 3802, 17)  # text, varchar, char, json, jsonb, bytea
                or connection.vendor != "postgresql"
            ]
            if not columns:
                continue
            quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 - introspected
            for row in cursor.fetchall():
                text = " ".join(
                    bytes(value).decode("latin-1") if isinstance(value, memoryview) else str(value) for value in row
                )
                for number in CARD_NUMBERS:
                    assert number not in text, f"{number} in {table}"
                    assert " ".join(number[i : i + 4] for i in range(0, 16, 4)) not in text, f"{number} in {table}"
    assert len(tables) > 20
    logged = caplog.text
    for number in CARD_NUMBERS:
        assert number not in logged
        assert number not in sandbox.log_text()


def test_a_customer_pays_by_card_in_the_processors_field(chromium, checkout_site, new_session, shop, sandbox, caplog):
    session = new_session(payment_method_types=["card", "bank_transfer", "wallet"])
    customer = Customer(chromium, "card")
    page = customer.page
    page.goto(session["url"])
    assert page.inner_text("#merchant") == "Test merchant" and page.inner_text("#amount") == "42.50 USD"
    assert page.locator("#card-frame").get_attribute("title")  # the iframe is named for screen readers
    page.frame_locator("#card-frame").locator("#number").wait_for()
    assert customer.fits_the_screen()
    customer.shot("page")
    customer.type_card("4242 4242 4242 4242")
    page.wait_for_url(f"{shop}/thanks?session_id={session['id']}")
    customer.shot("merchant-success")
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment.status == "succeeded" and row.payment.card_last4 == "4242"
    customer.close()
    assert_no_card_number_stored_or_logged(caplog, sandbox)


def test_a_declined_card_then_a_good_one(chromium, checkout_site, new_session, shop, sandbox, caplog):
    session = new_session()
    customer = Customer(chromium, "decline-retry")
    page = customer.page
    page.goto(session["url"])
    customer.type_card("4000 0000 0000 0002")
    page.locator("#error").wait_for()
    assert "Your card was declined." in page.inner_text("#error")
    assert customer.fits_the_screen()
    customer.shot("declined")
    assert CheckoutSession.objects.get(pk=session["id"]).status == "open"
    customer.type_card("4242424242424242", submit_with_enter=True)
    page.wait_for_url(f"{shop}/thanks?session_id={session['id']}")
    customer.shot("merchant-success")
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment.card_last4 == "4242"
    assert sorted(Payment.objects.values_list("card_last4", "status")) == [("0002", "failed"), ("4242", "succeeded")]
    customer.close()
    assert_no_card_number_stored_or_logged(caplog, sandbox)


def test_a_customer_pays_with_the_wallet(chromium, checkout_site, new_session, shop, sandbox, caplog):
    session = new_session(payment_method_types=["wallet", "card"])
    customer = Customer(chromium, "wallet")
    page = customer.page
    page.goto(session["url"])
    customer.shot("page")
    page.click("#pay-wallet")
    page.wait_for_url(f"{sandbox.base_url}/wallet/**")
    customer.shot("wallet-approval")
    page.click("button.approve")
    page.wait_for_url(f"{shop}/thanks?session_id={session['id']}")
    customer.shot("merchant-success")
    row = CheckoutSession.objects.get(pk=session["id"])
    assert row.status == "complete" and row.payment.payment_method_type == "wallet"
    customer.close()
    assert_no_card_number_stored_or_logged(caplog, sandbox)


def test_a_bank_transfer_without_javascript_shows_processing(chromium, checkout_site, new_session, shop, sandbox):
    session = new_session(payment_method_types=["bank_transfer"])
    context = chromium.new_context(viewport={"width": 375, "height": 812}, java_script_enabled=False)
    page = context.new_page()
    page.goto(session["url"])
    page.fill("#holder_name", "Ada Lovelace")
    page.fill("#routing_number", "110000000")
    page.fill("#account_number", "000123456789")
    page.click("#pay-bank")
    page.locator("#processing").wait_for()
    assert "we'll confirm when your bank settles" in page.inner_text("#processing").lower()
    page.screenshot(path=str(SCREENSHOTS / "checkout-bank-nojs-01-processing.png"), full_page=True)
    context.close()
    assert CheckoutSession.objects.get(pk=session["id"]).attempt_payment.status == "processing"
