"""/billing in a real browser on `postroom serve --demo`, in English and in French: the
demo customer's owner opens an open invoice, reads its PDF, and pays it with a double
click that is charged once."""

from __future__ import annotations

import io

import pytest
from conftest import wait_signed_in
from playwright.sync_api import expect
from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.demo import DEMO_CUSTOMER

TEXTS = {
    "en": {
        "billing": "Billing",
        "open": "Open",
        "paid": "Paid",
        "thanks": "is paid",
        "due": "Due date",
    },
    "fr": {
        "billing": "Facturation",
        "open": "À payer",
        "paid": "Payée",
        "thanks": "est payée",
        "due": "Date d'échéance",
    },
}


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


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_owner_opens_an_invoice_pdf_and_pays_it_once(demo_owner, page, axe, language) -> None:
    text = TEXTS[language]
    base = demo_owner.server.base
    page.goto(f"{base}/billing")
    assert "/account/sign-in" in page.url
    page.fill("input[name=email]", demo_owner.email)
    page.fill("input[name=password]", demo_owner.password)
    page.locator("form", has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    wait_signed_in(page)
    page.goto(f"{base}/billing")
    if language == "fr":
        page.select_option("#lang", "fr")
        page.locator("form.language button").click()
    expect(page.locator("h1")).to_have_text(text["billing"], use_inner_text=True)
    check_accessibility(axe, page)

    open_row = page.locator("table tbody tr", has=page.locator(".status-open")).first
    number = open_row.locator("a").inner_text()
    open_row.locator("a").click()
    expect(page.locator("h1")).to_contain_text(number, use_inner_text=True)
    expect(page.locator(".status")).to_have_text(text["open"], use_inner_text=True)
    check_accessibility(axe, page)

    # the PDF the button opens: the invoice's number and total, in the invoice's language
    pdf_link = page.get_by_role("link", name="PDF")
    response = page.request.get(base + pdf_link.get_attribute("href"))
    assert response.headers["content-type"] == "application/pdf"
    pdf_text = PdfReader(io.BytesIO(response.body())).pages[0].extract_text()
    assert number in pdf_text
    assert "Total due" in pdf_text  # the demo customer's documents are in English

    pay = page.locator("form button.primary")
    pay.dblclick()
    page.wait_for_url(f"**/billing/invoices/{number}")
    expect(page.locator(".flash").first).to_contain_text(text["thanks"], use_inner_text=True)
    expect(page.locator(".status")).to_have_text(text["paid"], use_inner_text=True)
    assert page.console_errors == []

    config = Config.load({}, data_dir=demo_owner.server.data_dir)
    with Postroom.open(config=config) as postroom:
        customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
        charged = [
            p for p in postroom.funding.payments(customer.number, limit=200) if p.kind == "invoice"
        ]
        paid = postroom.billing.get(customer.number, number)
        assert [p.id for p in charged].count(paid.payment_id) == 1
        attempts = [
            a
            for a in postroom.billing.payments(customer.number, limit=200)
            if a.invoice_number == number
        ]
        assert [a.status for a in attempts] == ["settled"]  # one attempt: charged once
