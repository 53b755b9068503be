"""The "price a piece" page in a real Chromium against ``postroom serve --demo``."""

from playwright.sync_api import expect


def test_a_clerk_prices_a_first_class_letter(demo_site, page, tmp_path):
    page.goto(demo_site.base + "/")
    page.get_by_role("link", name="Price a piece").click()
    page.wait_for_url(demo_site.base + "/rates/price")
    page.select_option("#service", "usps/first-class-letter")
    page.fill("#weight", "1.2")
    page.select_option("#unit", "oz")
    page.fill("#date", "2025-08-01")  # the demo server prices on today's date by default
    page.get_by_role("button", name="Price it").click()
    page.wait_for_selector("#quote-total")
    expect(page.locator("#quote-total")).to_have_text("$1.03", use_inner_text=True)
    expect(page.locator(".quote-service")).to_contain_text("charged as 2 oz", use_inner_text=True)
    cheapest = page.locator("tr.cheapest")
    expect(cheapest).to_contain_text("$", use_inner_text=True)
    page.screenshot(path=str(tmp_path / "price-a-piece.png"), full_page=True)
    # a bad weight is answered next to its field, and the form keeps what was typed
    page.fill("#weight", "heavy")
    page.get_by_role("button", name="Price it").click()
    page.wait_for_selector("#weight-error")
    expect(page.locator("#weight-error")).to_contain_text("Enter a weight", use_inner_text=True)
    assert page.locator("#date").input_value() == "2025-08-01"
    # the refused form answers 422, which Chromium logs; nothing else (no CSP violation)
    assert [e for e in page.console_errors if "status of 422" not in e] == []
