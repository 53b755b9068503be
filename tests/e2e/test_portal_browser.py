"""The portal in a real Chromium (Debian's, driven by Playwright; no browser download)."""


def test_a_visitor_switches_the_portal_to_french(demo_site, page, tmp_path):
    page.goto(demo_site.base + "/")
    assert page.locator("h1").inner_text() == "Welcome to postroom"
    page.select_option("#lang", "fr")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url(demo_site.base + "/")
    assert page.locator("h1").inner_text() == "Bienvenue sur postroom"
    assert page.locator("html").get_attribute("lang") == "fr"
    page.reload()  # the choice is remembered
    assert page.locator("h1").inner_text() == "Bienvenue sur postroom"
    page.screenshot(path=str(tmp_path / "portal-fr.png"), full_page=True)


def test_the_stylesheet_loads_under_the_content_security_policy(demo_site, page):
    page.goto(demo_site.base + "/")
    brand_colour = page.locator(".brand").evaluate("element => getComputedStyle(element).color")
    assert brand_colour == "rgb(11, 92, 173)"
    assert page.console_errors == []
