"""The live chat's use cases on in-memory fakes (no I/O): the hand-off into the queue,
one taker, the transcript as a case, leaving a message out of hours, abandoned chats."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest
from knowledge_fakes import FakeArticles, FakeDatabase, FakeIndex

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound
from postroom.core.knowledge.assistant import Assistant, MeterInspection
from postroom.core.knowledge.chat import Agent, ChatService
from postroom.core.knowledge.chat_model import Author, ChatMessage, ChatStatus, Conversation
from postroom.core.knowledge.model import make_draft
from postroom.core.knowledge.service import KnowledgeService
from postroom.core.money import Money


@attrs.define
class FakeChats:
    """``ChatRepository`` on the fake database's state (rolled back with it)."""

    db: FakeDatabase

    @property
    def store(self) -> dict[str, list]:
        return self.db.state.chats

    def add(self, conversation: Conversation) -> Conversation:
        conversation.id = len(self.store["conversations"]) + 1
        self.store["conversations"].append(attrs.evolve(conversation))
        return conversation

    def _find(self, test) -> Conversation | None:
        found = [c for c in self.store["conversations"] if test(c)]
        return attrs.evolve(found[0]) if found else None

    def by_token(self, token: str) -> Conversation | None:
        return self._find(lambda c: c.token == token)

    def by_id(self, conversation_id: int) -> Conversation | None:
        return self._find(lambda c: c.id == conversation_id)

    def update(self, conversation: Conversation) -> None:
        rows = self.store["conversations"]
        rows[conversation.id - 1] = attrs.evolve(conversation)

    def seen(self, conversation_id: int, at: datetime, *, typing: bool | None = None) -> None:
        row = self.store["conversations"][conversation_id - 1]
        if row.status != ChatStatus.CLOSED:
            row.last_seen_at = at
            if typing is not None:
                row.customer_typing_at = at if typing else None

    def agent_typing(self, conversation_id: int, at: datetime | None) -> None:
        self.store["conversations"][conversation_id - 1].agent_typing_at = at

    def release(self, conversation_id: int, agent_id: str) -> bool:
        row = self.store["conversations"][conversation_id - 1]
        if row.status != ChatStatus.ACTIVE or row.agent_id != agent_id:
            return False
        row.status, row.agent_id, row.agent_name, row.taken_at = (
            ChatStatus.WAITING, None, None, None,
        )  # fmt: skip
        return True

    def take(self, conversation_id: int, agent_id: str, agent_name: str, at: datetime) -> bool:
        row = self.store["conversations"][conversation_id - 1]
        if row.status != ChatStatus.WAITING:
            return False
        row.status, row.agent_id, row.agent_name, row.taken_at = (
            ChatStatus.ACTIVE, agent_id, agent_name, at,
        )  # fmt: skip
        return True

    def add_message(self, message: ChatMessage) -> ChatMessage:
        stored = attrs.evolve(message, id=len(self.store["messages"]) + 1)
        self.store["messages"].append(stored)
        return stored

    def messages(self, conversation_id: int, after: int = 0) -> list[ChatMessage]:
        return [
            m
            for m in self.store["messages"]
            if m.conversation_id == conversation_id and m.id > after
        ]

    def customer_messages_since(self, conversation_id: int, since: datetime) -> int:
        return sum(
            1
            for m in self.messages(conversation_id)
            if m.author == Author.CUSTOMER and m.at >= since
        )

    def waiting(self, department: str | None) -> list[Conversation]:
        rows = [
            c
            for c in self.store["conversations"]
            if c.status == ChatStatus.WAITING and department in (None, c.department)
        ]
        return sorted(rows, key=lambda c: (c.queued_at, c.id))

    def of_agent(self, agent_id: str) -> list[Conversation]:
        return [
            c
            for c in self.store["conversations"]
            if c.agent_id == agent_id and c.status == ChatStatus.ACTIVE
        ]

    def left_since(self, before: datetime) -> list[Conversation]:
        return [
            c
            for c in self.store["conversations"]
            if c.status != ChatStatus.CLOSED and c.last_seen_at < before
        ]


@attrs.define
class FakeDesk:
    """``CaseDesk`` and ``SupportHours``: cases kept in a list; open or closed on demand."""

    open_now: bool = True
    cases: list[tuple[str, str, str]] = attrs.field(factory=list)

    def open_chat_case(
        self, customer_number: str, name: str, subject: str, transcript: str, department: str
    ) -> str:
        self.cases.append((subject, transcript, department))
        return f"CS-{len(self.cases):06d}"

    def open_at(self, customer_number: str, moment: datetime) -> bool:
        return self.open_now


class NoFacts:
    def postage_balance(self, customer_number: str) -> Money | None:
        return None

    def inspections(self, customer_number: str) -> list[MeterInspection]:
        return []

    def parcel_status(self, customer_number: str, tracking_number: str) -> str | None:
        return None


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T15:00:00+00:00")


@pytest.fixture
def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
def chat(clock: FrozenClock, desk: FakeDesk) -> ChatService:
    db = FakeDatabase()
    kb = KnowledgeService(
        db,
        clock,
        repository=lambda _: FakeArticles(db),
        index=lambda _: FakeIndex(db),
        reader=FakeIndex(db),
    )
    kb.write(
        make_draft(
            family="meter-locked", slug="meter-locked", language="en",
            title="The meter is locked", body="A locked meter refuses to print.",
            product="billing", topic="inspections",
        ),
        "ana@staff",
    )  # fmt: skip
    kb.publish("meter-locked")
    return ChatService(
        db, clock, Assistant(kb, NoFacts()), desk, desk, repository=lambda _: FakeChats(db)
    )


ANA, BO = Agent("1", "Ana"), Agent("2", "Bo")


def test_the_assistant_answers_then_hands_off_to_the_articles_department(
    chat: ChatService,
) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    answered = chat.say("1000000001", c.token, "my meter is locked")
    assert answered[1].author == Author.ASSISTANT
    chat.say("1000000001", c.token, "agent")
    waiting = chat.get("1000000001", c.token)
    assert (waiting.status, waiting.department) == (ChatStatus.WAITING, "billing")
    assert [e.position for e in chat.queue("billing")] == [1]


def test_one_of_two_agents_takes_the_chat(chat: ChatService) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    chat.say("1000000001", c.token, "agent")
    chat.take(c.id, ANA)
    with pytest.raises(Conflict) as error:
        chat.take(c.id, BO)
    assert error.value.code == "chat_taken"
    with pytest.raises(NotFound):
        chat.answer(c.id, BO, "mine now")
    chat.release(c.id, ANA)
    assert chat.take(c.id, BO).agent_name == "Bo"


def test_a_poll_that_read_the_chat_before_the_hand_off_leaves_it_in_the_queue(
    chat: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    read_by_the_poll = chat.get("1000000001", c.token)
    chat.say("1000000001", c.token, "agent")  # the hand-off commits meanwhile
    monkeypatch.setattr(chat, "get", lambda *_: read_by_the_poll)
    chat.messages("1000000001", c.token)
    chat.typing("1000000001", c.token)
    monkeypatch.undo()
    assert chat.get("1000000001", c.token).status == ChatStatus.WAITING
    assert [e.conversation.id for e in chat.queue()] == [c.id]


def test_an_agent_leaving_a_chat_the_customer_just_closed_does_not_reopen_it(
    chat: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    chat.say("1000000001", c.token, "agent")
    taken = chat.take(c.id, ANA)
    chat.close("1000000001", c.token)
    monkeypatch.setattr(chat, "_agents", lambda *_: taken)
    assert chat.release(c.id, ANA).status == ChatStatus.CLOSED
    monkeypatch.undo()
    assert chat.queue() == []


def test_the_transcript_with_the_assistants_turns_becomes_one_case(
    chat: ChatService, desk: FakeDesk
) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    chat.say("1000000001", c.token, "my meter is locked")
    chat.say("1000000001", c.token, "agent")
    chat.take(c.id, ANA)
    chat.answer(c.id, ANA, "Let us sync it.")
    number = chat.close("1000000001", c.token)
    assert chat.end(c.id, ANA) == number  # already closed: the same case
    [(subject, transcript, _department)] = desk.cases
    assert subject == "my meter is locked"
    assert "Assistant:" in transcript
    assert "Agent (Ana): Let us sync it." in transcript


def test_out_of_hours_the_customer_leaves_a_message(chat: ChatService, desk: FakeDesk) -> None:
    desk.open_now = False
    c = chat.start("1000000001", "Olivia", "en")
    [_, reply] = chat.say("1000000001", c.token, "agent")
    assert "Leave a message" in reply.body
    assert chat.queue() == []
    chat.leave_message("1000000001", c.token, "Please call me back.")
    assert "Please call me back." in desk.cases[0][1]


def test_an_abandoned_chat_is_closed_once_into_a_case(
    chat: ChatService, desk: FakeDesk, clock: FrozenClock
) -> None:
    c = chat.start("1000000001", "Olivia", "en")
    chat.say("1000000001", c.token, "agent")
    clock.advance(timedelta(minutes=11))
    assert chat.close_abandoned() == 1
    assert chat.close_abandoned() == 0
    assert len(desk.cases) == 1
    assert "abandoned" in desk.cases[0][1]
