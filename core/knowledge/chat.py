"""Use cases of the live chat (``pr.chat``); each runs in one unit of work.

A signed-in customer's conversation starts with the virtual assistant (``pr.assistant``).
Its hand-off puts the conversation in its department's queue; an agent takes it (a
conditional write: of two agents taking it at once, one wins and the other is told
``chat_taken``) and answers. Outside business hours the hand-off offers to leave a
message instead. Closing — by the customer, the agent, or the worker for a customer
gone for ``ABANDONED_AFTER`` — opens a support case on the chat channel whose first
message is the whole transcript, the assistant's turns included: no message is lost.
Messages are polled by id (``messages(after=...)``), which server-sent events and plain
polling both use.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from postroom.core.clock import Clock
from postroom.core.errors import Conflict, NotFound
from postroom.core.knowledge import chat_model, model
from postroom.core.knowledge.assistant import Assistant, Reply
from postroom.core.knowledge.chat_model import (
    DEFAULT_DEPARTMENT,
    DEPARTMENT_OF_PRODUCT,
    Author,
    ChatMessage,
    ChatStatus,
    Conversation,
    QueueEntry,
)
from postroom.core.knowledge.chat_store import ChatRepository, ChatStore
from postroom.core.knowledge.ports import Session, Transactions

RepositoryFactory = Callable[[Session], ChatRepository]


class CaseDesk(Protocol):
    """The support cases area, as the chat needs it (wired in ``core/app.py``)."""

    def open_chat_case(
        self, customer_number: str, name: str, subject: str, transcript: str, department: str
    ) -> str:
        """Open a case on the chat channel; returns its number."""
        ...


class SupportHours(Protocol):
    def open_at(self, customer_number: str, moment: datetime) -> bool:
        """Whether support answers live at ``moment`` (the customer's business hours)."""
        ...


@attrs.frozen
class Agent:
    id: str
    name: str


def _store(session: Session) -> ChatRepository:
    return ChatStore(session.connection)


class ChatService:
    """``pr.chat``."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        assistant: Assistant,
        cases: CaseDesk,
        hours: SupportHours,
        *,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._assistant = assistant
        self._cases = cases
        self._hours = hours
        self._repository = repository

    # -------------------------------------------------------------- the customer

    def start(self, customer_number: str, name: str, language: str) -> Conversation:
        lang = model.parse_language(language)
        now = self._clock.now()

        def work(uow: Session) -> Conversation:
            conversation = self._repository(uow).add(
                Conversation(
                    id=0,
                    token=secrets.token_urlsafe(32),
                    customer_number=customer_number,
                    customer_name=(name or "")[:200],
                    language=lang,
                    department=DEFAULT_DEPARTMENT,
                    status=ChatStatus.ASSISTANT,
                    misses=0,
                    created_at=now,
                    last_seen_at=now,
                )
            )
            uow.commit()
            return conversation

        return self._db.run(work)

    def get(self, customer_number: str, token: str) -> Conversation:
        """The customer's own conversation; another's (or none) is ``chat_not_found``."""
        found = self._db.run(lambda uow: self._repository(uow).by_token(token), readonly=True)
        if found is None or found.customer_number != customer_number:
            raise NotFound("no such chat", code="chat_not_found")
        return found

    def say(self, customer_number: str, token: str, text: str) -> builtins.list[ChatMessage]:
        """The customer writes; while the assistant has the conversation it answers
        (and may hand off). Returns the messages written."""
        body = chat_model.parse_message(text)
        conversation = self.get(customer_number, token)
        if conversation.status == ChatStatus.CLOSED:
            raise Conflict("this chat is closed", code="chat_closed")
        reply: Reply | None = None
        if conversation.status == ChatStatus.ASSISTANT:
            reply = self._assistant.answer(
                body[:2000],
                conversation.language,
                customer_number=customer_number,
                misses=conversation.misses,
            )
        now = self._clock.now()

        def work(uow: Session) -> builtins.list[ChatMessage]:
            repository = self._repository(uow)
            current = repository.by_id(conversation.id)
            assert current is not None
            if current.status == ChatStatus.CLOSED:
                raise Conflict("this chat is closed", code="chat_closed")
            if (
                repository.customer_messages_since(current.id, now - timedelta(minutes=1))
                >= chat_model.MESSAGES_PER_MINUTE
            ):
                raise Conflict("too many messages: wait a moment", code="chat_rate_limited")
            written = [
                repository.add_message(
                    ChatMessage(0, current.id, Author.CUSTOMER, current.customer_name, body, now)
                )
            ]
            current.last_seen_at = now
            current.customer_typing_at = None
            if reply is not None and current.status == ChatStatus.ASSISTANT:
                written.append(self._assistant_turn(repository, current, reply, now))
            repository.update(current)
            uow.commit()
            return written

        return self._db.run(work)

    def _assistant_turn(
        self, repository: ChatRepository, current: Conversation, reply: Reply, now: datetime
    ) -> ChatMessage:
        text = reply.text
        if reply.articles:
            text += "".join(f"\n- {a.title} (/help/articles/{a.slug})" for a in reply.articles)
            current.department = DEPARTMENT_OF_PRODUCT[reply.articles[0].product]
        current.misses = reply.misses
        if reply.handoff:
            if self._hours.open_at(current.customer_number, now):
                current.status = ChatStatus.WAITING
                current.queued_at = now
            else:
                text = _CLOSED_HOURS[current.language.value]
        return repository.add_message(ChatMessage(0, current.id, Author.ASSISTANT, "", text, now))

    def leave_message(self, customer_number: str, token: str, text: str) -> str:
        """Outside business hours (or instead of waiting): the message and the
        conversation become a case; returns its number."""
        conversation = self.get(customer_number, token)
        if conversation.status != ChatStatus.CLOSED:
            body = chat_model.parse_message(text)
            now = self._clock.now()

            def work(uow: Session) -> None:
                self._repository(uow).add_message(
                    ChatMessage(
                        0, conversation.id, Author.CUSTOMER, conversation.customer_name, body, now
                    )
                )
                uow.commit()

            self._db.run(work)
        return self._close(conversation.id, _LEFT_MESSAGE)

    def typing(self, customer_number: str, token: str) -> None:
        conversation = self.get(customer_number, token)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).seen(conversation.id, now, typing=True)
            uow.commit()

        self._db.run(work)

    def messages(
        self, customer_number: str, token: str, after: int = 0
    ) -> tuple[Conversation, builtins.list[ChatMessage], int | None]:
        """The conversation, its messages after id ``after``, and its place in the
        queue while it waits (1 = next). Counts as the customer being there."""
        conversation = self.get(customer_number, token)
        now = self._clock.now()

        def work(uow: Session) -> tuple[builtins.list[ChatMessage], int | None]:
            repository = self._repository(uow)
            found = repository.messages(conversation.id, after)
            position = None
            if conversation.status == ChatStatus.WAITING:
                queue = repository.waiting(conversation.department)
                position = next(
                    (i for i, c in enumerate(queue, 1) if c.id == conversation.id), None
                )
            repository.seen(conversation.id, now)
            uow.commit()
            return found, position

        found, position = self._db.run(work)
        return conversation, found, position

    def close(self, customer_number: str, token: str) -> str:
        """The customer ends the chat; returns the case number of its transcript."""
        conversation = self.get(customer_number, token)
        return self._close(conversation.id, _CLOSED_BY_CUSTOMER)

    # -------------------------------------------------------------- agents

    def queue(self, department: str | None = None) -> builtins.list[QueueEntry]:
        """Waiting conversations, longest first, with their wait so far."""
        now = self._clock.now()
        waiting = self._db.run(lambda uow: self._repository(uow).waiting(department), readonly=True)
        places: dict[str, int] = {}
        entries = []
        for conversation in waiting:
            places[conversation.department] = places.get(conversation.department, 0) + 1
            entries.append(
                QueueEntry(conversation, places[conversation.department], conversation.waited(now))
            )
        return entries

    def mine(self, agent: Agent) -> builtins.list[Conversation]:
        return self._db.run(lambda uow: self._repository(uow).of_agent(agent.id), readonly=True)

    def take(self, conversation_id: int, agent: Agent) -> Conversation:
        now = self._clock.now()

        def work(uow: Session) -> Conversation:
            repository = self._repository(uow)
            if not repository.take(conversation_id, agent.id, agent.name, now):
                found = repository.by_id(conversation_id)
                if found is None:
                    raise NotFound("no such chat", code="chat_not_found")
                raise Conflict(
                    f"this chat was taken by {found.agent_name or 'someone'}"
                    if found.agent_id
                    else "this chat is not waiting",
                    code="chat_taken",
                )
            repository.add_message(
                ChatMessage(0, conversation_id, Author.SYSTEM, agent.name, "joined", now)
            )
            taken = repository.by_id(conversation_id)
            assert taken is not None
            uow.commit()
            return taken

        return self._db.run(work)

    def for_agent(
        self, conversation_id: int, agent: Agent, after: int = 0
    ) -> tuple[Conversation, builtins.list[ChatMessage]]:
        """A conversation the agent took, with its messages; anyone else's is 404."""
        conversation = self._agents(conversation_id, agent)
        found = self._db.run(
            lambda uow: self._repository(uow).messages(conversation.id, after), readonly=True
        )
        return conversation, found

    def answer(self, conversation_id: int, agent: Agent, text: str) -> ChatMessage:
        body = chat_model.parse_message(text)
        conversation = self._agents(conversation_id, agent)
        if conversation.status != ChatStatus.ACTIVE:
            raise Conflict("this chat is closed", code="chat_closed")
        now = self._clock.now()

        def work(uow: Session) -> ChatMessage:
            repository = self._repository(uow)
            message = repository.add_message(
                ChatMessage(0, conversation.id, Author.AGENT, agent.name, body, now)
            )
            repository.agent_typing(conversation.id, None)
            uow.commit()
            return message

        return self._db.run(work)

    def agent_typing(self, conversation_id: int, agent: Agent) -> None:
        conversation = self._agents(conversation_id, agent)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).agent_typing(conversation.id, now)
            uow.commit()

        self._db.run(work)

    def end(self, conversation_id: int, agent: Agent) -> str:
        """The agent ends the chat; returns the case number of its transcript."""
        conversation = self._agents(conversation_id, agent)
        return self._close(conversation.id, _CLOSED_BY_AGENT)

    def release(self, conversation_id: int, agent: Agent) -> Conversation:
        """The agent leaves (disconnects): the chat goes back to the head of its queue."""
        conversation = self._agents(conversation_id, agent)
        now = self._clock.now()

        def work(uow: Session) -> Conversation:
            repository = self._repository(uow)
            if repository.release(conversation.id, agent.id):
                repository.add_message(
                    ChatMessage(0, conversation.id, Author.SYSTEM, agent.name, "left", now)
                )
                uow.commit()
            current = repository.by_id(conversation.id)
            assert current is not None
            return current

        return self._db.run(work)

    def _agents(self, conversation_id: int, agent: Agent) -> Conversation:
        found = self._db.run(
            lambda uow: self._repository(uow).by_id(conversation_id), readonly=True
        )
        if found is None or found.agent_id != agent.id:
            raise NotFound("no such chat", code="chat_not_found")
        return found

    # -------------------------------------------------------------- the end

    def close_abandoned(self) -> int:
        """The worker's job: close every chat whose customer has been gone for
        ``ABANDONED_AFTER``, its transcript kept as a case. Returns how many."""
        before = self._clock.now() - chat_model.ABANDONED_AFTER
        left = self._db.run(lambda uow: self._repository(uow).left_since(before), readonly=True)
        for conversation in left:
            self._close(conversation.id, _ABANDONED)
        return len(left)

    def _close(self, conversation_id: int, why: str) -> str:
        """Close the conversation once and open its case; a second close answers the
        first case. The case is opened before the conversation is marked closed, so a
        failure in between leaves it open (and the next close opens the case)."""
        now = self._clock.now()
        conversation = self._db.run(
            lambda uow: self._repository(uow).by_id(conversation_id), readonly=True
        )
        if conversation is None:
            raise NotFound("no such chat", code="chat_not_found")
        if conversation.case_number is not None:
            return conversation.case_number

        def note(uow: Session) -> builtins.list[ChatMessage]:
            repository = self._repository(uow)
            repository.add_message(ChatMessage(0, conversation_id, Author.SYSTEM, "", why, now))
            uow.commit()
            return repository.messages(conversation_id)

        messages = self._db.run(note)
        first = next((m.body for m in messages if m.author == Author.CUSTOMER), "Chat")
        number = self._cases.open_chat_case(
            conversation.customer_number,
            conversation.customer_name,
            " ".join(first.split())[:120],
            chat_model.transcript(messages),
            conversation.department,
        )

        def work(uow: Session) -> str:
            repository = self._repository(uow)
            current = repository.by_id(conversation_id)
            assert current is not None
            current.status = ChatStatus.CLOSED
            current.closed_at = now
            current.case_number = number
            repository.update(current)
            uow.commit()
            return number

        return self._db.run(work)


_CLOSED_HOURS = {
    "en": "Our support team is not available right now. Leave a message: it becomes a "
    "support case with this conversation, and we answer by email.",
    "fr": "Notre support n'est pas disponible pour le moment. Laissez un message : il "
    "devient une demande avec cette conversation, et nous répondons par e-mail.",
}
_LEFT_MESSAGE = "the customer left a message"
_CLOSED_BY_CUSTOMER = "closed by the customer"
_CLOSED_BY_AGENT = "closed by the agent"
_ABANDONED = "abandoned: the customer left"
