"""/products in a real browser on `postroom serve --demo`: the demo customer's owner signs
in, finds the demo meter's contracts, registers a product and asks to move it."""

from __future__ import annotations

from conftest import wait_signed_in
from playwright.sync_api import expect


def test_an_owner_sees_contracts_registers_a_product_and_asks_to_move_it(demo_owner, page) -> None:
    base = demo_owner.server.base
    page.goto(f"{base}/products")
    assert "/account/sign-in" in page.url
    page.fill("input[name=email]", demo_owner.email)
    page.fill("input[name=password]", demo_owner.password)
    page.locator("form", has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    wait_signed_in(page)
    page.goto(f"{base}/products")
    expect(page.locator("h1")).to_have_text("My products", use_inner_text=True)
    expect(page.get_by_text("350 Fifth Avenue")).to_be_visible()
    assert page.locator("table tbody tr").count() == 2  # the lease and the maintenance

    page.get_by_role("link", name="Register a product").click()
    page.get_by_label("Product code", exact=True).fill("PR-VPSD1")
    page.get_by_label("Serial number", exact=True).fill("PR-E2E-1")
    page.get_by_label("Street address").fill("5 Rue de la Paix")
    page.get_by_label("Postal code", exact=True).fill("75002")
    page.get_by_label("City", exact=True).fill("Paris")
    page.get_by_label("Country", exact=True).select_option("FR")
    page.get_by_role("button", name="Register the product").click()
    expect(page.locator("h1")).to_have_text("Product registered", use_inner_text=True)
    assert page.locator("code.secret").inner_text().startswith("prm_")

    page.get_by_role("link", name="See the product").click()
    page.get_by_role("link", name="Change installation address").click()
    page.get_by_label("Street address").fill("8 Boulevard Haussmann")
    page.get_by_label("Postal code", exact=True).fill("75009")
    page.get_by_label("City", exact=True).fill("Paris")
    page.get_by_label("Moving date").fill("2099-01-01")  # too far ahead: refused by the field
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_text("Choose a moving date from today to a year ahead.")).to_be_visible()
    tomorrow = page.evaluate("new Date(Date.now() + 86400000).toISOString().slice(0, 10)")
    page.get_by_label("Moving date").fill(tomorrow)
    page.get_by_role("button", name="Send the request").click()
    assert page.url.endswith("/products/PR-E2E-1")
    expect(page.get_by_text("8 Boulevard Haussmann")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("requested", use_inner_text=True)
    assert page.console_errors == []
