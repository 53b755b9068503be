"""The "price a piece" page in a real Chromium against ``postroom serve --demo``."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("POSTROOM_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.console_errors = []
        page.on(
            "console",
            lambda message: (
                page.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        yield page
        context.close()
        browser.close()


def test_a_clerk_prices_a_first_class_letter(demo_server, page, tmp_path):
    page.goto(demo_server.base + "/")
    page.get_by_role("link", name="Price a piece").click()
    page.wait_for_url(demo_server.base + "/rates/price")
    page.select_option("#service", "usps/first-class-letter")
    page.fill("#weight", "1.2")
    page.select_option("#unit", "oz")
    page.fill("#date", "2025-08-01")  # the demo server prices on today's date by default
    page.get_by_role("button", name="Price it").click()
    page.wait_for_selector("#quote-total")
    assert page.locator("#quote-total").inner_text() == "$1.03"
    assert "charged as 2 oz" in page.locator(".quote-service").inner_text()
    cheapest = page.locator("tr.cheapest")
    assert "$" in cheapest.inner_text()
    page.screenshot(path=str(tmp_path / "price-a-piece.png"), full_page=True)
    # a bad weight is answered next to its field, and the form keeps what was typed
    page.fill("#weight", "heavy")
    page.get_by_role("button", name="Price it").click()
    page.wait_for_selector("#weight-error")
    assert "Enter a weight" in page.locator("#weight-error").inner_text()
    assert page.locator("#date").input_value() == "2025-08-01"
    # the refused form answers 422, which Chromium logs; nothing else (no CSP violation)
    assert [e for e in page.console_errors if "status of 422" not in e] == []
