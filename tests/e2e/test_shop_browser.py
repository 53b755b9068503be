"""/shop in a real browser on `postroom serve --demo`: the demo customer's owner orders
two supplies by card and watches the order page follow it to shipped (staff move it on
in the data center meanwhile), in English and in French."""

from __future__ import annotations

import re

import pytest
from conftest import wait_signed_in
from playwright.sync_api import expect

from postroom.core.app import Postroom
from postroom.core.config import Config

#: axe-core's impacts that fail the test (minor and moderate ones are reported only).
BLOCKING_IMPACTS = {"serious", "critical"}


@pytest.fixture(scope="module")
def axe():
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="the accessibility check needs axe-playwright-python (it ships axe-core)",
    )
    return axe_module.Axe()


def check_accessibility(axe, page) -> None:
    """Fail on any serious or critical axe-core violation of the page shown."""
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in axe.run(page).response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], f"{page.url}: {blocking}"


#: What each language calls the page's parts.
TEXTS = {
    "en": {
        "add": "Add to cart",
        "order": re.compile(r"Place the order"),
        "paid": "Paid",
        "shipped": "Shipped",
        "fits": "Fits your meter",
    },
    "fr": {
        "add": "Ajouter au panier",
        "order": re.compile(r"Passer la commande"),
        "paid": "Payée",
        "shipped": "Expédiée",
        "fits": "Compatible avec votre machine",
    },
}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_owner_orders_two_supplies_and_sees_the_order_ship(
    demo_owner, page, axe, language: str
) -> None:
    texts = TEXTS[language]
    base = demo_owner.server.base
    page.goto(f"{base}/account/sign-in")
    page.fill("input[name=email]", demo_owner.email)
    page.fill("input[name=password]", demo_owner.password)
    page.locator("form", has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    wait_signed_in(page)
    page.goto(f"{base}/shop")
    page.select_option("#lang", language)  # the owner reads the portal in this language
    page.locator("form.language button[type=submit]").click()
    page.goto(f"{base}/shop")
    check_accessibility(axe, page)
    ink = page.locator("section.shop-item", has=page.get_by_text("INK-VPSD1", exact=True))
    expect(ink).to_contain_text(texts["fits"], use_inner_text=True)
    ink.get_by_role("button", name=texts["add"]).click()
    page.goto(f"{base}/shop")
    seal = page.locator("section.shop-item", has=page.get_by_text("SEAL-1L", exact=True))
    seal.locator("input[name=quantity]").fill("2")
    seal.get_by_role("button", name=texts["add"]).click()
    # the click returns once the cart's answer starts, not once its rows are on the page
    expect(page).to_have_url(re.compile(r"/shop/cart$"))
    expect(page.locator("table.cart tbody tr")).to_have_count(2)
    check_accessibility(axe, page)
    page.get_by_role("button", name=texts["order"]).click()
    assert "/shop/orders/SO-" in page.url
    status = page.locator("#order-status")
    expect(status).to_have_text(texts["paid"], use_inner_text=True)
    number = page.url.rsplit("/", 1)[-1]
    check_accessibility(axe, page)

    # the warehouse prepares and ships it, in the data center's own process
    config = Config.load({}, data_dir=demo_owner.server.data_dir)
    with Postroom.open(config=config) as postroom:
        postroom.shop.set_status(number, "picking", staff="Warehouse")
        postroom.shop.set_status(
            number, "shipped", staff="Warehouse", tracking_number="1Z999AA10123456784"
        )
    # the page follows by itself (static/shop-order.js), no reload
    page.wait_for_function(
        "expected => document.getElementById('order-status').textContent === expected",
        arg=texts["shipped"],
        timeout=15_000,
    )
    expect(page.locator("#order-tracking-number")).to_have_text(
        "1Z999AA10123456784", use_inner_text=True
    )
    expect(page.locator(".order-steps li.done")).to_have_count(4)
    page.reload()  # and a plain reload shows the same
    expect(status).to_have_text(texts["shipped"], use_inner_text=True)
    # the card order's invoice, issued paid by the card
    page.locator("a[href*='/billing/invoices/INV-']").click()
    expect(page.locator(".status-paid")).to_have_text(texts["paid"], use_inner_text=True)
    expect(page.locator("dl.facts")).to_contain_text("4242", use_inner_text=True)
    page.goto(f"{base}/shop/addons")
    check_accessibility(axe, page)
    page.goto(f"{base}/shop/orders")
    check_accessibility(axe, page)
    assert page.console_errors == []
