"""The live chat in two real browsers on `postroom serve --demo`: a person of the demo
customer (the owner in English, the mailroom operator in French) asks the assistant
about a locked meter and gets the article, then asks for a person; the demo agent, in a
second browser context, takes the chat from the console and answers; the answer
reaches the customer live; the transcript is the case's thread."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import DemoTemplate, serve_demo, wait_signed_in

from postroom.core.app import Postroom
from postroom.core.cases.model import Actor
from postroom.core.config import Config
from postroom.core.demo import DEMO_CUSTOMER


def _open_zone(now: datetime) -> str | None:
    """A time zone where ``now`` is within a weekday's business hours (10:00 to 16:00),
    so that the hand-off reaches the queue whatever the hour of the test run."""
    for offset in range(-12, 13):
        name = f"Etc/GMT{-offset:+d}" if offset else "UTC"
        local = now.astimezone(ZoneInfo(name))
        if local.weekday() < 5 and 10 <= local.hour < 16:
            return name
    return None


def _people(
    template: DemoTemplate, tmp_path: Path, language: str
) -> tuple[tuple[str, str], tuple[str, str], str]:
    """A copy of the demo for ``tmp_path``; the demo customer's person who speaks
    ``language`` (the owner speaks English, the mailroom operator French), the demo
    agent, and the customer's number."""
    template.copy_to(tmp_path)
    config = Config.load({}, data_dir=tmp_path / "data")
    with Postroom.open(config=config) as postroom:
        customer = next(a for a in postroom.accounts.list(limit=100) if a.name == DEMO_CUSTOMER)
        zone = _open_zone(datetime.now(UTC))
        if zone is None:
            pytest.skip("it is a weekend everywhere: support answers no chat now")
        postroom.cases.set_account_profile(
            customer.number, time_zone=zone, by=Actor.staff(0, "e2e", role="supervisor")
        )

    speaker = "portal owner" if language == "en" else "portal operator"
    return template.person(speaker), template.person("staff agent"), customer.number


def _sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/account/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("form", has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    wait_signed_in(page)


LANGUAGES = {
    "en": ("My meter is locked", "/help/articles/meter-locked", "I want to talk to an agent",
           "Hello, Andrea from support here."),
    "fr": ("Ma machine est bloquée", "/help/articles/machine-bloquee", "je veux un conseiller",
           "Bonjour, Andrea du support."),
}  # fmt: skip


@pytest.mark.parametrize("language", ["en", "fr"])
def test_assistant_then_agent_and_the_transcript_in_the_case(
    tmp_path: Path, demo_template: DemoTemplate, browser, language: str
) -> None:
    people = _people(demo_template, tmp_path, language)
    (owner, owner_password), (agent, agent_password), number = people
    question, article, ask_person, answer = LANGUAGES[language]
    for server in serve_demo(tmp_path):
        locale = "fr-FR" if language == "fr" else "en-US"
        customer_context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": language}
        )
        customer = customer_context.new_page()
        errors: list[str] = []
        customer.on(
            "console", lambda m, seen=errors: seen.append(m.text) if m.type == "error" else None
        )
        _sign_in(customer, server.base, owner, owner_password)
        customer.goto(f"{server.base}/chat")
        customer.locator("main form button[type=submit]").click()
        customer.fill("#message", question)
        customer.press("#message", "Enter")
        customer.wait_for_selector(f"#chat-log li.chat-assistant:has-text('{article}')")
        customer.fill("#message", ask_person)
        customer.press("#message", "Enter")
        customer.wait_for_selector("#chat-log li.chat-assistant >> nth=1")

        agent_page = browser.new_context(locale="en-US").new_page()
        _sign_in(agent_page, server.base, agent, agent_password)
        agent_page.goto(f"{server.base}/console/chats")
        agent_page.locator("form[action$='/take'] button").first.click()
        assert "/console/chats/" in agent_page.url
        agent_page.fill("#message", answer)
        agent_page.press("#message", "Enter")

        # the answer reaches the customer without a reload (events, or polling)
        customer.wait_for_selector(f"#chat-log li.chat-agent:has-text('{answer}')", timeout=15_000)
        agent_page.reload()
        agent_page.locator("form[action$='/end'] button").click()
        agent_page.context.close()
        customer_context.close()

        config = Config.load({}, data_dir=server.data_dir)
        with Postroom.open(config=config) as postroom:
            chats = [c for c in postroom.cases.list(number) if question in c.description]
            assert len(chats) == 1
            assert chats[0].channel.value == "chat"
            thread = postroom.cases.get(number, chats[0].number).case.description
        assert question in thread
        assert "Assistant:" in thread
        assert answer in thread
        assert errors == []
