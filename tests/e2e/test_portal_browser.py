"""The portal in a real Chromium (Debian's, driven by Playwright; no browser download)."""

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


def test_a_visitor_switches_the_portal_to_french(demo_server, page, tmp_path):
    page.goto(demo_server.base + "/")
    assert page.locator("h1").inner_text() == "Welcome to postroom"
    page.select_option("#lang", "fr")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url(demo_server.base + "/")
    assert page.locator("h1").inner_text() == "Bienvenue sur postroom"
    assert page.locator("html").get_attribute("lang") == "fr"
    page.reload()  # the choice is remembered
    assert page.locator("h1").inner_text() == "Bienvenue sur postroom"
    page.screenshot(path=str(tmp_path / "portal-fr.png"), full_page=True)


def test_the_stylesheet_loads_under_the_content_security_policy(demo_server, page):
    page.goto(demo_server.base + "/")
    brand_colour = page.locator(".brand").evaluate("element => getComputedStyle(element).color")
    assert brand_colour == "rgb(11, 92, 173)"
    assert page.console_errors == []
