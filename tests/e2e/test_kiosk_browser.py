"""The kiosk price page in a real Chromium against ``postroom serve --demo``: touch sizes,
the on-screen keypad, a priced piece, French."""


def test_a_customer_prices_a_letter_on_the_kiosk_by_touch(demo_server, page, tmp_path):
    page.set_viewport_size({"width": 1080, "height": 1920})  # a portrait mailroom terminal
    page.goto(demo_server.base + "/kiosk/price")
    page.get_by_text("First-Class Mail letter (metered)").click()
    # the weight typed on the on-screen keypad: 1 . 2 (each key a server round trip)
    for key in ("1", ".", "2"):
        page.locator(f'button[name="key"][value="{key}"]').click()
        page.wait_for_load_state()
    assert page.locator("#weight").input_value() == "1.2"
    page.locator("label.toggle", has_text="oz").click()
    page.get_by_text("Certified Mail", exact=True).click()
    # touch targets: every button, tile and toggle is at least 48 px high
    for selector in ("button.price-button", ".tile span", ".toggle span", ".keypad button"):
        for box in (el.bounding_box() for el in page.locator(selector).all()):
            assert box is not None
            assert box["height"] >= 48, selector
    page.locator("button.price-button").click()
    page.wait_for_selector("#quote-total")
    # the demo server prices today's mail: 0.74 + 0.29 for 2 oz and 5.30 Certified Mail
    # while the 2025-07-13 list is in force
    total = page.locator("#quote-total").inner_text()
    assert total == "$6.33"
    assert "charged as 2 oz" in page.locator(".quote-service").inner_text()
    lines = page.locator(".quote-lines tbody tr").all_inner_texts()
    assert any("Certified Mail" in line and "$5.30" in line for line in lines)
    page.screenshot(path=str(tmp_path / "kiosk-price.png"), full_page=True)
    # one touch for French: the same page, French names and a French total
    page.get_by_role("button", name="Français").click()
    page.wait_for_url(demo_server.base + "/kiosk/price")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_text("Lettre First-Class Mail (affranchissement machine)").count() == 1
    assert page.console_errors == []
