"""The case study's report in a real browser (Debian's Chromium driven by Playwright), opened from the admin.

As in tests/backoffice/test_browser.py: Playwright never downloads a browser (``.ci/setup-browser`` installs
Debian's ``chromium``; the test launches ``/usr/bin/chromium``), and the screenshots go to
``test-output/screenshots/`` (``casestudy-report-*.png``), to be looked at: the page must read at a glance.
"""

from pathlib import Path

import pytest

from casestudy.report import render_html
from tests.casestudy.report_results import RESULTS
from tests.staff import PASSWORD, staff_user, totp_code, totp_device

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run .ci/setup-browser (apt chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture
def page(live_server, transactional_db):
    # Playwright's sync API keeps an event loop in this thread, which Django would take for async code: the
    # ORM calls of this test are plain sync calls, so Django is told so while the browser runs.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()


def test_staff_open_the_report_from_the_admin_and_read_it_at_a_glance(page, settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the live server runs in this process: it serves this test's report
    render_html(RESULTS, tmp_path / "reports")
    user = staff_user("sam.support")
    blocked, failed = [], []
    page.on("console", lambda message: blocked.append(message.text) if "Refused" in message.text else None)
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)

    page.goto("/admin/")
    page.fill("#id_username", "sam.support")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", totp_code(totp_device(user)))
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    link = page.locator("#reports-module a", has_text="Case study")
    assert link.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "casestudy-report-01-admin-index.png"))
    link.click()

    page.wait_for_url("**/admin/casestudy/report/")
    headline = page.locator("#headline")
    assert headline.is_visible()
    assert headline.inner_text() == "naive: 37 customers charged twice, balance drift 48,100; refined: 0"
    assert page.locator("#also-failed").is_visible()
    # The headline is the first thing read: large, and above the fold.
    box = headline.bounding_box()
    assert box["y"] + box["height"] < 300
    assert float(headline.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
    for chart in ("chart-failures", "chart-latency", "chart-faults"):
        svg = page.locator(f"#{chart} svg")
        assert svg.is_visible(), chart
        size = svg.bounding_box()
        assert size["width"] > 1000 and size["height"] > 150, (chart, size)  # drawn across the page, not a sliver
    assert page.locator("#chart-failures").bounding_box()["y"] < 400  # the failures are drawn above the fold too
    # The bars carry their numbers, which the browser drew as text.
    assert page.locator("#chart-failures svg text", has_text="48,100").count() == 1
    assert page.locator("#comparison td.bad").count() == 6
    page.screenshot(path=str(SCREENSHOTS / "casestudy-report-02-top.png"))
    page.screenshot(path=str(SCREENSHOTS / "casestudy-report-03-whole.png"), full_page=True)
    assert not blocked, blocked  # nothing refused by the page's Content-Security-Policy
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []  # nothing missing
