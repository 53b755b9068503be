"""A new customer's first visit in a real Chromium (Debian's, driven by Playwright) on one
`postroom serve --demo` that mails through a real SMTP server on loopback: register,
receive the verification email, verify, sign in to the dashboard, register equipment,
invite a colleague, sign out. Once in English, once in French, with axe-core checking
every page for serious and critical accessibility violations."""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import urlsplit

import attrs
import pytest
from conftest import serve_demo
from playwright.sync_api import expect

from postroom.core.app import Postroom
from postroom.core.config import Config

#: axe-core's impacts that fail the test (minor and moderate ones are reported only).
BLOCKING_IMPACTS = {"serious", "critical"}
PASSWORD = "a long and quiet harbour lantern"


@attrs.frozen
class Journey:
    """What differs between the English and the French visit."""

    language: str
    email: str
    colleague: str
    dashboard: str
    products: str
    registered: str
    users: str
    verify_subject: str
    invite_subject: str


JOURNEYS = [
    Journey(
        "en",
        "ann@acme-mail.example",
        "carl@acme-mail.example",
        dashboard="Dashboard",
        products="Register a product",
        registered="Product registered",
        users="Users of your account",
        verify_subject="Confirm your email address",
        invite_subject="You are invited to postroom",
    ),
    Journey(
        "fr",
        "amelie@courrier.example",
        "claude@courrier.example",
        dashboard="Tableau de bord",
        products="Enregistrer un produit",
        registered="Produit enregistré",
        users="Utilisateurs de votre compte",
        verify_subject="Confirmez votre adresse e-mail",
        invite_subject="Vous êtes invité(e) sur postroom",
    ),
]


@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory, module_smtp_server):
    """One `postroom serve --demo` for the module, sending its email by SMTP."""
    yield from serve_demo(tmp_path_factory.mktemp("journey"), **module_smtp_server.env)


@pytest.fixture(scope="module")
def outbox_tick(mailing_server, module_smtp_server):
    """The worker's ``outbox.deliver`` job run now on the server's database (the server's
    own worker runs it once a minute: too slow a beat for a test to wait on)."""
    config = Config.load({}, data_dir=mailing_server.data_dir, **module_smtp_server.settings)
    with Postroom.open(config=config) as worker:
        yield worker.outbox.deliver_due


@pytest.fixture(scope="module")
def axe():
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="the accessibility check needs axe-playwright-python (it ships axe-core)",
    )
    return axe_module.Axe()


def check_accessibility(axe, page, checked: list[str]) -> None:
    """Fail on any serious or critical axe-core violation of the page shown."""
    results = axe.run(page)
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], f"{page.url}: {blocking}"
    checked.append(urlsplit(page.url).path)


def mail_to(smtp, tick, address: str, seen: int) -> EmailMessage:
    """The first message to ``address`` after the first ``seen`` messages."""
    tick()
    count = seen + 1
    while True:
        messages = smtp.wait_for(count, timeout=30)
        for message in messages[seen:]:
            if address in message["To"]:
                return message
        count = len(messages) + 1


def link_in(message: EmailMessage, path: str) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", body.get_content())
    assert match is not None, body.get_content()
    return match.group(1)


@pytest.mark.parametrize("journey", JOURNEYS, ids=[j.language for j in JOURNEYS])
def test_a_new_customer_registers_verifies_equips_invites_and_signs_out(
    mailing_server, module_smtp_server, outbox_tick, browser, axe, journey: Journey, tmp_path
) -> None:
    base = mailing_server.base
    smtp = module_smtp_server
    context = browser.new_context(locale=f"{journey.language}-{journey.language.upper()}")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    checked: list[str] = []
    try:
        page.goto(f"{base}/")
        assert page.locator("html").get_attribute("lang") == journey.language
        check_accessibility(axe, page, checked)

        page.goto(f"{base}/account/register")
        check_accessibility(axe, page, checked)
        page.fill("input[name=email]", journey.email)
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=security_question]", "First mailroom?")
        page.fill("input[name=security_answer]", "Dock 4")
        page.fill("input[name=name]", "Ann Archer")
        page.fill("input[name=company]", "Acme Mail")
        page.fill("input[name=phone]", "+1 202 555 0143")
        seen = len(smtp.received)
        page.locator("form", has=page.locator("input[name=security_answer]")).locator(
            "button[type=submit]"
        ).click()
        page.wait_for_url(f"{base}/account/registered")
        check_accessibility(axe, page, checked)

        verification = mail_to(smtp, outbox_tick, journey.email, seen)
        assert verification["Subject"] == journey.verify_subject  # in the visitor's language
        page.goto(base + link_in(verification, "/account/verify/"))
        check_accessibility(axe, page, checked)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/account/sign-in.*"))

        check_accessibility(axe, page, checked)
        page.fill("input[name=email]", journey.email)
        page.fill("input[name=password]", PASSWORD)
        page.locator("main form", has=page.locator("input[name=password]")).locator(
            "button[type=submit]"
        ).click()
        page.wait_for_url(f"{base}/dashboard")
        expect(page.locator("h1")).to_have_text(journey.dashboard, use_inner_text=True)
        check_accessibility(axe, page, checked)
        page.screenshot(path=str(tmp_path / f"dashboard-{journey.language}.png"), full_page=True)

        page.goto(f"{base}/products/register")
        expect(page.locator("h1")).to_have_text(journey.products, use_inner_text=True)
        check_accessibility(axe, page, checked)
        serial = f"PR-E2E-{journey.language.upper()}1"
        page.fill("input[name=product_code]", "PR-VPSD1")
        page.fill("input[name=serial]", serial)
        page.fill("input[name=line1]", "350 Fifth Avenue")
        page.fill("input[name=postal_code]", "10118")
        page.fill("input[name=city]", "New York")
        page.select_option("select[name=country]", "US")
        page.locator("main form button[type=submit]").click()
        expect(page.locator("h1")).to_have_text(journey.registered, use_inner_text=True)
        check_accessibility(axe, page, checked)
        page.goto(f"{base}/dashboard")
        expect(page.get_by_text(serial).first).to_be_visible()  # the dashboard lists the meter

        page.goto(f"{base}/account/users")
        expect(page.locator("h1")).to_have_text(journey.users, use_inner_text=True)
        check_accessibility(axe, page, checked)
        seen = len(smtp.received)
        page.fill("input[name=email]", journey.colleague)
        page.select_option("select[name=role]", "user")
        page.locator("form[action$='/account/users/invite'] button[type=submit]").click()
        expect(page.get_by_text(journey.colleague).first).to_be_visible()
        invitation = mail_to(smtp, outbox_tick, journey.colleague, seen)
        # the invitee has no language yet: the invitation is in the inviter's (the form's
        # default)
        assert invitation["Subject"] == journey.invite_subject
        assert link_in(invitation, "/account/invitation/")

        page.locator(".session form button[type=submit]").click()
        page.goto(f"{base}/dashboard")
        assert "/account/sign-in" in page.url  # signed out: the dashboard asks again
        check_accessibility(axe, page, checked)
        assert errors == []
    finally:
        context.close()
    assert len(checked) >= 9, checked
