"""The live chat on a real store with the support cases area: the assistant answers,
hands off into the department's queue (in the database), one of two agents takes the
chat, the transcript becomes a case on the chat channel; outside business hours the
customer leaves a message; floods, strangers and abandoned chats get a clear outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.knowledge.chat import Agent
from postroom.core.knowledge.chat_model import Author, ChatStatus

# Monday 2 March 2026, 10:00 in New York: US support is open
OPEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# the same day at 23:00 in New York: closed
CLOSED = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
ANA = Agent("101", "Ana Agent")
BO = Agent("102", "Bo Agent")


@pytest.fixture
def customer(shipped_articles: Postroom, clock: FrozenClock) -> str:
    postroom = shipped_articles
    clock.set(OPEN)
    return postroom.accounts.create("Acme Mailroom", "US", "USD").number


def test_assistant_handoff_take_answer_and_the_transcript_becomes_the_case(
    postroom: Postroom, customer: str
) -> None:
    chat = postroom.chat
    conversation = chat.start(customer, "Olivia Owner", "en")
    first = chat.say(customer, conversation.token, "My meter is locked and will not print")
    assert first[1].author == Author.ASSISTANT
    assert "/help/articles/meter-locked" in first[1].body
    chat.say(customer, conversation.token, "I want to talk to an agent")
    waiting = chat.get(customer, conversation.token)
    assert waiting.status == ChatStatus.WAITING
    assert waiting.department == "equipment"
    [entry] = chat.queue("equipment")
    assert entry.position == 1
    _, _, position = chat.messages(customer, conversation.token)
    assert position == 1

    assert chat.take(waiting.id, ANA).agent_name == "Ana Agent"
    with pytest.raises(Conflict) as error:
        chat.take(waiting.id, BO)
    assert error.value.code == "chat_taken"
    with pytest.raises(NotFound):
        chat.answer(waiting.id, BO, "I have it too")  # not Bo's chat

    chat.answer(waiting.id, ANA, "Hello, let us sync the meter together.")
    chat.say(customer, conversation.token, "Thank you <script>alert(1)</script>")
    _, seen, _ = chat.messages(customer, conversation.token, after=first[1].id)
    assert [m.author for m in seen][-2:] == [Author.AGENT, Author.CUSTOMER]

    number = chat.end(waiting.id, ANA)
    assert chat.close(customer, conversation.token) == number  # closing again: same case
    case = postroom.cases.get(customer, number).case
    assert case.channel.value == "chat"
    assert "Assistant:" in case.description  # the assistant's turns are in the thread
    assert "My meter is locked" in case.description
    assert "Agent (Ana Agent): Hello, let us sync" in case.description
    with pytest.raises(Conflict):
        chat.say(customer, conversation.token, "one more thing")


def test_outside_business_hours_the_customer_leaves_a_message(
    postroom: Postroom, customer: str, clock: FrozenClock
) -> None:
    clock.set(CLOSED)
    conversation = postroom.chat.start(customer, "Olivia Owner", "fr")
    written = postroom.chat.say(customer, conversation.token, "je veux parler à un conseiller")
    assert "Laissez un message" in written[-1].body
    assert postroom.chat.get(customer, conversation.token).status == ChatStatus.ASSISTANT
    assert postroom.chat.queue() == []
    number = postroom.chat.leave_message(
        customer, conversation.token, "Ma machine PR-0042 est bloquée depuis lundi."
    )
    case = postroom.cases.get(customer, number).case
    assert "PR-0042 est bloquée" in case.description


def test_another_customers_chat_is_404(postroom: Postroom, customer: str) -> None:
    other = postroom.accounts.create("Other Mailroom", "US", "USD").number
    conversation = postroom.chat.start(customer, "Olivia Owner", "en")
    for call in (
        lambda: postroom.chat.say(other, conversation.token, "hello"),
        lambda: postroom.chat.messages(other, conversation.token),
        lambda: postroom.chat.close(other, conversation.token),
        lambda: postroom.chat.get(customer, "not-a-token"),
    ):
        with pytest.raises(NotFound):
            call()


def test_a_flood_is_rate_limited_and_bad_messages_refused(
    postroom: Postroom, customer: str
) -> None:
    conversation = postroom.chat.start(customer, "Olivia Owner", "en")
    postroom.chat.say(customer, conversation.token, "agent")  # waiting: no assistant turns
    for i in range(19):  # 20 in a minute, the first one included
        postroom.chat.say(customer, conversation.token, f"hello {i}")
    with pytest.raises(Conflict) as error:
        postroom.chat.say(customer, conversation.token, "hello again")
    assert error.value.code == "chat_rate_limited"
    for text, code in (("", "empty_message"), ("x" * 100_000, "message_too_long")):
        with pytest.raises(ValidationError) as refused:
            postroom.chat.say(customer, conversation.token, text)
        assert refused.value.code == code


def test_an_abandoned_chat_and_an_agent_who_leaves_lose_nothing(
    postroom: Postroom, customer: str, clock: FrozenClock
) -> None:
    chat = postroom.chat
    conversation = chat.start(customer, "Olivia Owner", "en")
    chat.say(customer, conversation.token, "my refund was rejected, agent please")
    waiting = chat.get(customer, conversation.token)
    chat.take(waiting.id, ANA)
    assert chat.release(waiting.id, ANA).status == ChatStatus.WAITING  # Ana disconnects
    assert chat.take(waiting.id, BO).agent_name == "Bo Agent"
    clock.advance(timedelta(minutes=11))
    assert chat.close_abandoned() == 1
    closed = chat.get(customer, conversation.token)
    assert closed.status == ChatStatus.CLOSED
    case = postroom.cases.get(customer, closed.case_number or "").case
    assert "my refund was rejected" in case.description
    assert "abandoned" in case.description
    assert chat.close_abandoned() == 0


def test_postroom_chat_queue_lists_the_waiting_chats(
    postroom: Postroom, customer: str, cli_env: dict[str, str]
) -> None:
    from click.testing import CliRunner

    from postroom.frontends.cli import cli

    conversation = postroom.chat.start(customer, "Olivia Owner", "en")
    postroom.chat.say(customer, conversation.token, "agent please")
    result = CliRunner(env=cli_env).invoke(cli, ["chat", "queue", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["customer_number"], row["position"]) == (customer, 1)
