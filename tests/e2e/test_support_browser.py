"""Support in a real Chromium (Debian's, driven by Playwright) on one `postroom serve
--demo`: a customer opens a case on the web form; an agent in a second browser context
finds it in its department's queue, takes it and answers with a canned reply filled
in; the customer reads the answer and closes the case. Once in English, once in French,
with axe-core checking every page for serious and critical accessibility violations.

Set ``POSTROOM_SCREENSHOTS`` to a folder to keep a full-page screenshot of each page."""

from __future__ import annotations

import os
import re
from pathlib import Path
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
    customer: str  # the demo person who opens the case (their profile's language)
    agent: str
    supervisor: str
    department: str
    subject: str
    waiting: str
    closed: str
    greeting: str


JOURNEYS = [
    Journey(
        "en",
        customer="owner",
        agent="agnes@vendor.example",
        supervisor="sue@vendor.example",
        department="Mailing equipment",
        subject="Meter shows error E42",
        waiting="Waiting on customer",
        closed="Closed",
        greeting="Hello",
    ),
    Journey(
        "fr",
        customer="operator",
        agent="fabienne@vendor.example",
        supervisor="sylvie@vendor.example",
        department="Matériel d\u2019affranchissement",
        subject="La machine affiche l\u2019erreur E42",
        waiting="En attente du client",
        closed="Clos",
        greeting="Bonjour",
    ),
]


@pytest.fixture(scope="module")
def support_server(tmp_path_factory, demo_template):
    """`postroom serve --demo` with two agents (English, French), a supervisor and a
    canned reply; yields the server and the demo's customer people."""
    root = tmp_path_factory.mktemp("support")
    demo_template.copy_to(root)
    people = {who: demo_template.person(f"portal {who}") for who in ("owner", "operator")}
    config = Config.load({}, data_dir=root / "data")
    with Postroom.open(config=config, migrate_schema=True) as postroom:
        for email, role, name, language in (
            ("agnes@vendor.example", "agent", "Agnes Agent", "en"),
            ("fabienne@vendor.example", "agent", "Fabienne Agente", "fr"),
            ("sue@vendor.example", "supervisor", "Sue Supervisor", "en"),
            ("sylvie@vendor.example", "supervisor", "Sylvie Superviseure", "fr"),
        ):
            link = postroom.identity.invite_staff(email, role)
            postroom.identity.accept_invitation(
                link.token,
                name=name,
                password=PASSWORD,
                security_question="First desk?",
                security_answer="Dock 4",
                phone="+1 212 555 0100",
                language=language,
            )
        postroom.canned_replies.add(
            "First answer",
            "Hello {customer_name}, about case {case_number}: please restart the meter.",
            "Bonjour {customer_name}, pour le dossier {case_number} : redémarrez la machine.",
        )
    for server in serve_demo(root):
        yield server, people


@pytest.fixture(scope="module")
def axe():
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="the accessibility check needs axe-playwright-python (it ships axe-core)",
    )
    return axe_module.Axe()


class Checker:
    """axe-core on each page shown, and a screenshot when asked for."""

    def __init__(self, axe, language: str) -> None:
        self.axe = axe
        self.language = language
        self.checked: list[str] = []
        folder = os.environ.get("POSTROOM_SCREENSHOTS")
        self.folder = Path(folder) if folder else None

    def __call__(self, page, name: str) -> None:
        assert page.locator("html").get_attribute("lang") == self.language
        results = self.axe.run(page)
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]
        assert blocking == [], f"{page.url}: {blocking}"
        self.checked.append(urlsplit(page.url).path)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(self.folder / f"{self.language}-{name}.png"), full_page=True)


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/account/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    submit(
        page,
        page.locator("form", has=page.locator("input[name=password]")).locator(
            "button[type=submit]"
        ),
    )


def submit(page, button) -> None:
    """Click a form's button and wait for the page it leads to (after any redirect)."""
    with page.expect_navigation():
        button.click()


def new_page(browser, language: str, errors: list[str]):
    context = browser.new_context(locale=f"{language}-{language.upper()}")
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page


@pytest.mark.parametrize("journey", JOURNEYS, ids=[j.language for j in JOURNEYS])
def test_a_customer_opens_a_case_an_agent_answers_the_customer_reads_and_closes(
    support_server, browser, axe, journey: Journey
) -> None:
    server, people = support_server
    base = server.base
    email, password = people[journey.customer]
    check = Checker(axe, journey.language)
    errors: list[str] = []
    customer_context, customer = new_page(browser, journey.language, errors)
    agent_context, agent = new_page(browser, journey.language, errors)
    try:
        # the customer opens a case on the web form
        sign_in(customer, base, email, password)
        customer.goto(f"{base}/support/new")
        check(customer, "support-new")
        customer.locator("select[name=department]").select_option(label=journey.department)
        customer.locator("input[name=subject]").fill(journey.subject)
        customer.locator("textarea[name=description]").fill("E42 <b>since</b> this morning.")
        customer.locator("select[name=meter]").select_option("PR-DEMO-0001")
        submit(customer, customer.locator("form.portal-form button[type=submit]"))
        heading = customer.locator("h1").inner_text()
        number = re.search(r"C-\d{4}-\d{6}", heading).group(0)
        assert journey.subject in heading
        expect(customer.get_by_text("E42 <b>since</b> this morning.")).to_be_visible()  # as text
        check(customer, "support-case-open")

        # an agent, in a second browser, finds it in the department's queue
        sign_in(agent, base, journey.agent, PASSWORD)
        assert urlsplit(agent.url).path == "/console"
        check(agent, "console-mine")
        # (the routing may have given it to the demo's equipment agent: the department's
        # queue shows it whoever has it)
        agent.goto(f"{base}/console?view=department&department=equipment")
        expect(agent.locator("h1")).to_have_text(journey.department, use_inner_text=True)
        check(agent, "console-department")
        submit(agent, agent.get_by_role("link", name=number))
        expect(agent.locator("h1")).to_contain_text(number, use_inner_text=True)
        expect(agent.get_by_text("PR-DEMO-0001").first).to_be_visible()  # the customer's meter
        check(agent, "console-case")

        # takes it, inserts the canned reply, sends it and waits on the customer
        submit(agent, agent.locator(f"form[action='/console/cases/{number}/take'] button"))
        agent.locator("#canned-lang").select_option(journey.language)
        submit(agent, agent.locator("form:has(select[name=canned]) button"))
        body = agent.locator("textarea[name=reply-body]").input_value()
        assert body.startswith(journey.greeting)
        assert number in body
        agent.locator("select[name=reply-status]").select_option("waiting_on_customer")
        submit(agent, agent.locator(f"form[action='/console/cases/{number}/reply'] button.primary"))
        agent.locator("textarea[name=note-body]").fill("Internal: firmware 2.1 suspected.")
        submit(agent, agent.locator(f"form[action='/console/cases/{number}/note'] button"))
        assert agent.locator(".thread li.internal-note").count() == 1
        check(agent, "console-case-answered")

        # the customer reads the answer (never the note) and closes the case
        customer.goto(f"{base}/support")
        check(customer, "support-list")
        submit(customer, customer.get_by_role("link", name=number))
        expect(customer.get_by_text(journey.waiting).first).to_be_visible()
        expect(customer.get_by_text(body.splitlines()[0])).to_be_visible()
        assert "firmware 2.1" not in customer.content()
        submit(customer, customer.locator(f"form[action='/support/{number}/close'] button"))
        expect(customer.locator("dl.facts dd").first).to_have_text(
            journey.closed, use_inner_text=True
        )
        check(customer, "support-case-closed")
        customer.goto(f"{base}/dashboard")
        check(customer, "dashboard")
        for path, name in (
            ("/support/trace", "support-trace"),
            ("/support/claim", "support-claim"),
        ):
            customer.goto(f"{base}{path}")
            check(customer, name)

        # the console's other pages
        for path, name in (
            ("/console/log", "console-log"),
            ("/console/reports", "console-reports"),
            ("/console/canned", "console-canned"),
            ("/console?view=all", "console-all"),
        ):
            agent.goto(f"{base}{path}")
            check(agent, name)
            if name == "console-reports":
                assert agent.locator("svg.chart").count() == 5

        # the supervisors' pages
        supervisor_context, supervisor = new_page(browser, journey.language, errors)
        sign_in(supervisor, base, journey.supervisor, PASSWORD)
        supervisor.goto(f"{base}/console/cases/{number}")
        context_line = supervisor.locator(".case-context p.muted").first.inner_text()
        account = re.search(r"\d{10}", context_line).group(0)
        for path, name in (
            ("/console?view=priority", "console-priority"),
            ("/console/desks", "console-desks"),
            (f"/console/accounts/{account}", "console-account"),
            ("/console/canned/new", "console-canned-new"),
        ):
            supervisor.goto(f"{base}{path}")
            check(supervisor, name)
        supervisor_context.close()
        assert errors == []
    finally:
        customer_context.close()
        agent_context.close()
