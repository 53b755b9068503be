"""The portal in a real Chromium (Debian's, driven by Playwright; no browser download)."""

from playwright.sync_api import expect


def test_a_visitor_switches_the_portal_to_french(demo_site, page, tmp_path):
    page.goto(demo_site.base + "/")
    expect(page.locator("h1")).to_have_text("Welcome to postroom", use_inner_text=True)
    page.select_option("#lang", "fr")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url(demo_site.base + "/")
    expect(page.locator("h1")).to_have_text("Bienvenue sur postroom", use_inner_text=True)
    assert page.locator("html").get_attribute("lang") == "fr"
    page.reload()  # the choice is remembered
    expect(page.locator("h1")).to_have_text("Bienvenue sur postroom", use_inner_text=True)
    page.screenshot(path=str(tmp_path / "portal-fr.png"), full_page=True)


def test_the_stylesheet_loads_under_the_content_security_policy(demo_site, page):
    page.goto(demo_site.base + "/")
    brand_colour = page.locator(".brand").evaluate("element => getComputedStyle(element).color")
    assert brand_colour == "rgb(11, 92, 173)"
    assert page.console_errors == []
