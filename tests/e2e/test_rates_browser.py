"""The "price a piece" page in a real Chromium against ``postroom serve --demo``."""


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
