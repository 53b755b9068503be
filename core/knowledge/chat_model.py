"""Live chat: conversations and their messages, values and pure rules, no I/O.

A conversation starts with the virtual assistant. When the assistant hands off, it
waits in its department's queue; an agent takes it (one agent: the first to take it)
and answers; it ends closed — by either side, or abandoned — and its whole transcript,
the assistant's turns included, becomes a support case on the chat channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import ValidationError
from postroom.core.knowledge.model import Language, Product
from postroom.core.text import check_no_control

MAX_MESSAGE = 4000
#: At most this many customer messages in a conversation per minute.
MESSAGES_PER_MINUTE = 20
#: A customer not seen for this long has left: the chat is closed as abandoned.
ABANDONED_AFTER = timedelta(minutes=10)
#: A typing indicator lasts this long after the last keystroke reported.
TYPING_FOR = timedelta(seconds=8)


class ChatStatus(StrEnum):
    ASSISTANT = "assistant"  # the virtual assistant answers
    WAITING = "waiting"  # in its department's queue
    ACTIVE = "active"  # an agent answers
    CLOSED = "closed"


class Author(StrEnum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"


#: The support department of each help-centre product (the cases area's departments).
DEPARTMENT_OF_PRODUCT = {
    Product.METERS: "equipment",
    Product.SOFTWARE: "software",
    Product.SHIPPING: "shipping",
    Product.BILLING: "billing",
}
DEFAULT_DEPARTMENT = "equipment"


@attrs.define
class Conversation:
    id: int
    token: str
    customer_number: str
    customer_name: str
    language: Language
    department: str
    status: ChatStatus
    misses: int
    created_at: datetime
    last_seen_at: datetime
    queued_at: datetime | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    case_number: str | None = None
    customer_typing_at: datetime | None = None
    agent_typing_at: datetime | None = None

    def waited(self, now: datetime) -> timedelta:
        """How long it has waited in the queue (so far, or until taken)."""
        if self.queued_at is None:
            return timedelta(0)
        return (self.taken_at or now) - self.queued_at

    def agent_typing(self, now: datetime) -> bool:
        return self.agent_typing_at is not None and now - self.agent_typing_at < TYPING_FOR

    def customer_typing(self, now: datetime) -> bool:
        return self.customer_typing_at is not None and now - self.customer_typing_at < TYPING_FOR


@attrs.frozen
class ChatMessage:
    id: int
    conversation_id: int
    author: Author
    name: str
    body: str
    at: datetime


@attrs.frozen
class QueueEntry:
    conversation: Conversation
    position: int
    waited: timedelta


def parse_message(value: object) -> str:
    clean = value.strip() if isinstance(value, str) else ""
    if not clean:
        raise ValidationError("write a message", code="empty_message")
    if len(clean) > MAX_MESSAGE:
        raise ValidationError(
            f"a message is at most {MAX_MESSAGE} characters", code="message_too_long"
        )
    return check_no_control(clean.replace("\r\n", "\n"), "message", multiline=True)


def transcript(messages: list[ChatMessage]) -> str:
    """The conversation as the case's thread shows it: one turn a paragraph."""
    labels = {
        Author.CUSTOMER: "Customer",
        Author.ASSISTANT: "Assistant",
        Author.AGENT: "Agent",
        Author.SYSTEM: "postroom",
    }
    return "\n\n".join(
        f"[{m.at.strftime('%Y-%m-%d %H:%M:%S')} UTC] {labels[m.author]}"
        f"{f' ({m.name})' if m.name else ''}: {m.body}"
        for m in messages
    )
