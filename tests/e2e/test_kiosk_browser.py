"""The kiosk in a real Chromium against ``postroom serve --demo``: touch sizes, the
on-screen keypad, a priced piece, French, and a printed letter whose indicium verifies."""

from playwright.sync_api import expect

from postroom.core.app import Postroom
from postroom.core.clock import today
from postroom.core.config import Config
from postroom.core.meters.printing import verify_indicium


def test_a_customer_prices_a_letter_on_the_kiosk_by_touch(demo_site, page, tmp_path):
    page.set_viewport_size({"width": 1080, "height": 1920})  # a portrait mailroom terminal
    page.goto(demo_site.base + "/kiosk/price")
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
    expect(page.locator(".quote-service")).to_contain_text("charged as 2 oz", use_inner_text=True)
    lines = page.locator(".quote-lines tbody tr").all_inner_texts()
    assert any("Certified Mail" in line and "$5.30" in line for line in lines)
    page.screenshot(path=str(tmp_path / "kiosk-price.png"), full_page=True)
    # one touch for French: the same page, French names and a French total
    page.get_by_role("button", name="Français").click()
    page.wait_for_url(demo_site.base + "/kiosk/price")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_text("Lettre First-Class Mail (affranchissement machine)").count() == 1
    assert page.console_errors == []


def _sign_in(page, base: str, shots, operator: tuple[str, str]) -> None:
    """The operator signs in by touch: her name, then her PIN on the on-screen keypad."""
    name, pin = operator
    page.goto(base + "/kiosk/sign-in")
    page.locator("label.tile", has_text=name).click()
    for digit in pin:
        page.locator(f'.pin-keypad button[data-key="{digit}"]').click()
    assert page.locator("#pin").input_value() == pin
    assert page.locator("#pin").get_attribute("type") == "password"  # never shown
    for selector in (".tile span", ".pin-keypad button", "#sign-in-button"):
        for box in (el.bounding_box() for el in page.locator(selector).all()):
            assert box is not None
            assert box["height"] >= 48, selector
    page.screenshot(path=str(shots / "kiosk-sign-in.png"), full_page=True)
    page.locator("#sign-in-button").click()
    page.wait_for_url(base + "/kiosk/price")
    expect(page.locator("#signed-in-operator")).to_have_text(name, use_inner_text=True)


def test_an_operator_signs_in_by_touch_and_a_wrong_pin_is_refused(
    kiosk_server, kiosk_operator, page, tmp_path
):
    page.set_viewport_size({"width": 1080, "height": 1920})
    page.goto(kiosk_server.base + "/kiosk/sign-in")
    page.locator("#pin").fill("864209")
    page.locator("#sign-in-button").click()
    expect(page.locator("#sign-in-error")).to_have_text(
        "Unknown operator or wrong PIN.", use_inner_text=True
    )
    page.screenshot(path=str(tmp_path / "kiosk-sign-in-refused.png"), full_page=True)
    _sign_in(page, kiosk_server.base, tmp_path, kiosk_operator)
    page.locator("#sign-out").click()
    page.wait_for_url(kiosk_server.base + "/kiosk/sign-in")
    assert page.locator("#signed-in-operator").count() == 0
    # the browser logs the wrong PIN's 401 as a failed load; nothing else may fail
    assert [e for e in page.console_errors if "401 (UNAUTHORIZED)" not in e] == []


def test_a_customer_prints_a_letter_on_the_kiosk(kiosk_server, kiosk_operator, page, tmp_path):
    page.set_viewport_size({"width": 1080, "height": 1920})
    _sign_in(page, kiosk_server.base, tmp_path, kiosk_operator)
    page.goto(kiosk_server.base + "/kiosk/price")
    page.get_by_text("First-Class Mail letter (metered)").click()
    page.locator("#weight").fill("1")
    page.locator("label.toggle", has_text="oz").click()
    page.locator("button.price-button").first.click()
    page.wait_for_selector("#quote-total")
    total = page.locator("#quote-total").inner_text()
    # the account's cost centres, as big tiles; the print button is a big target too
    page.locator("label.tile", has_text="Sales").click()
    button = page.get_by_role("button", name="Print postage")
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= 48
    button.click()
    page.wait_for_selector("#indicium")
    expect(page.locator("#printed-postage")).to_have_text(total, use_inner_text=True)
    expect(page.locator("#printed-cost-center")).to_have_text("Sales", use_inner_text=True)
    # the image is shown (decoded by the browser) and the script showed the print button
    assert page.locator("#indicium").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("#print-button")).to_be_visible()
    src = page.locator("#indicium").get_attribute("src")
    assert src is not None
    image = page.request.get(kiosk_server.base + src)  # the browser's session: its piece
    assert image.ok
    serial = page.locator("#printed-serial").inner_text()
    config = Config.load({}, data_dir=kiosk_server.data_dir)
    with Postroom.open(config=config) as postroom:
        key = postroom.meters.get(serial).public_key_pem
        check = verify_indicium(image.body(), key, today=today(postroom.clock), serial=serial)
        assert check.valid, check.reason
        report = postroom.ledger.report(postroom.meters.get(serial).customer_account)
        assert report.by_cost_center[0][0] == "Sales"
        # booked to the operator who printed it
        assert any(kiosk_operator[0] in entry.reference for entry in report.entries)
    page.screenshot(path=str(tmp_path / "kiosk-printed-screen.png"), full_page=True)
    page.emulate_media(media="print")  # the print stylesheet keeps the indicium alone
    expect(page.locator("#print-button")).not_to_be_visible()
    expect(page.locator("#indicium")).to_be_visible()
    page.screenshot(path=str(tmp_path / "kiosk-printed.png"), full_page=True)
    assert page.console_errors == []
