"""Tables and the repository of the live chat (SQLAlchemy Core). The queue lives in
the database, so that every ``postroom serve`` process sees the same one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.db import UtcDateTime, metadata
from postroom.core.knowledge.chat_model import Author, ChatMessage, ChatStatus, Conversation
from postroom.core.knowledge.model import Language

chat_conversations = sa.Table(
    "chat_conversations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token", sa.String(43), nullable=False, unique=True),
    sa.Column("customer_number", sa.String(10), nullable=False),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("misses", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    sa.Column("queued_at", UtcDateTime(), nullable=True),
    sa.Column("agent_id", sa.String(40), nullable=True),
    sa.Column("agent_name", sa.String(200), nullable=True),
    sa.Column("taken_at", UtcDateTime(), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("case_number", sa.String(40), nullable=True),
    sa.Column("customer_typing_at", UtcDateTime(), nullable=True),
    sa.Column("agent_typing_at", UtcDateTime(), nullable=True),
    sa.Index("ix_chat_conversations_queue", "status", "department", "queued_at"),
)

chat_messages = sa.Table(
    "chat_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("chat_conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author", sa.String(10), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_chat_messages_conversation", "conversation_id", "id"),
)


class ChatRepository(Protocol):
    def add(self, conversation: Conversation) -> Conversation: ...

    def by_token(self, token: str) -> Conversation | None: ...

    def by_id(self, conversation_id: int) -> Conversation | None: ...

    def update(self, conversation: Conversation) -> None: ...

    def seen(self, conversation_id: int, at: datetime, *, typing: bool | None = None) -> None:
        """The customer is there at ``at`` (and typing since then, or no longer typing;
        None leaves it). Writes only those columns, and only while the chat is open: a
        full write of a conversation read earlier would undo a hand-off or a close that
        committed in between."""
        ...

    def agent_typing(self, conversation_id: int, at: datetime | None) -> None: ...

    def release(self, conversation_id: int, agent_id: str) -> bool:
        """The agent's active conversation back to the queue, in one conditional
        write: False when it is not (or no longer) theirs and active."""
        ...

    def take(self, conversation_id: int, agent_id: str, agent_name: str, at: datetime) -> bool:
        """Give a waiting conversation to the agent in one conditional write: True for
        the one caller that wins, False for any other (taken, or no longer waiting)."""
        ...

    def add_message(self, message: ChatMessage) -> ChatMessage: ...

    def messages(self, conversation_id: int, after: int = 0) -> list[ChatMessage]: ...

    def customer_messages_since(self, conversation_id: int, since: datetime) -> int: ...

    def waiting(self, department: str | None) -> list[Conversation]:
        """The queue, longest waiting first."""
        ...

    def of_agent(self, agent_id: str) -> list[Conversation]: ...

    def left_since(self, before: datetime) -> list[Conversation]:
        """Open conversations whose customer was last seen before ``before``."""
        ...


def _conversation(m: Any) -> Conversation:
    return Conversation(
        id=int(m["id"]),
        token=str(m["token"]),
        customer_number=str(m["customer_number"]),
        customer_name=str(m["customer_name"]),
        language=Language(m["language"]),
        department=str(m["department"]),
        status=ChatStatus(m["status"]),
        misses=int(m["misses"]),
        created_at=m["created_at"],
        last_seen_at=m["last_seen_at"],
        queued_at=m["queued_at"],
        agent_id=m["agent_id"],
        agent_name=m["agent_name"],
        taken_at=m["taken_at"],
        closed_at=m["closed_at"],
        case_number=m["case_number"],
        customer_typing_at=m["customer_typing_at"],
        agent_typing_at=m["agent_typing_at"],
    )


def _values(c: Conversation) -> dict[str, Any]:
    return {
        "token": c.token,
        "customer_number": c.customer_number,
        "customer_name": c.customer_name,
        "language": c.language.value,
        "department": c.department,
        "status": c.status.value,
        "misses": c.misses,
        "created_at": c.created_at,
        "last_seen_at": c.last_seen_at,
        "queued_at": c.queued_at,
        "agent_id": c.agent_id,
        "agent_name": c.agent_name,
        "taken_at": c.taken_at,
        "closed_at": c.closed_at,
        "case_number": c.case_number,
        "customer_typing_at": c.customer_typing_at,
        "agent_typing_at": c.agent_typing_at,
    }


class ChatStore:
    """``ChatRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, conversation: Conversation) -> Conversation:
        result = self.connection.execute(
            sa.insert(chat_conversations)
            .values(_values(conversation))
            .returning(chat_conversations.c.id)
        )
        conversation.id = int(result.scalar_one())
        return conversation

    def by_token(self, token: str) -> Conversation | None:
        row = self.connection.execute(
            sa.select(chat_conversations).where(chat_conversations.c.token == token)
        ).first()
        return None if row is None else _conversation(row._mapping)

    def by_id(self, conversation_id: int) -> Conversation | None:
        row = self.connection.execute(
            sa.select(chat_conversations).where(chat_conversations.c.id == conversation_id)
        ).first()
        return None if row is None else _conversation(row._mapping)

    def update(self, conversation: Conversation) -> None:
        self.connection.execute(
            sa.update(chat_conversations)
            .where(chat_conversations.c.id == conversation.id)
            .values(_values(conversation))
        )

    def seen(self, conversation_id: int, at: datetime, *, typing: bool | None = None) -> None:
        t = chat_conversations
        values: dict[str, Any] = {"last_seen_at": at}
        if typing is not None:
            values["customer_typing_at"] = at if typing else None
        self.connection.execute(
            sa.update(t)
            .where(t.c.id == conversation_id, t.c.status != ChatStatus.CLOSED.value)
            .values(values)
        )

    def agent_typing(self, conversation_id: int, at: datetime | None) -> None:
        t = chat_conversations
        self.connection.execute(
            sa.update(t).where(t.c.id == conversation_id).values(agent_typing_at=at)
        )

    def release(self, conversation_id: int, agent_id: str) -> bool:
        t = chat_conversations
        done = self.connection.execute(
            sa.update(t)
            .where(
                t.c.id == conversation_id,
                t.c.agent_id == agent_id,
                t.c.status == ChatStatus.ACTIVE.value,
            )
            .values(status=ChatStatus.WAITING.value, agent_id=None, agent_name=None, taken_at=None)
        )
        return done.rowcount == 1

    def take(self, conversation_id: int, agent_id: str, agent_name: str, at: datetime) -> bool:
        t = chat_conversations
        done = self.connection.execute(
            sa.update(t)
            .where(t.c.id == conversation_id, t.c.status == ChatStatus.WAITING.value)
            .values(
                status=ChatStatus.ACTIVE.value,
                agent_id=agent_id,
                agent_name=agent_name,
                taken_at=at,
            )
        )
        return done.rowcount == 1

    def add_message(self, message: ChatMessage) -> ChatMessage:
        result = self.connection.execute(
            sa.insert(chat_messages)
            .values(
                conversation_id=message.conversation_id,
                author=message.author.value,
                name=message.name,
                body=message.body,
                at=message.at,
            )
            .returning(chat_messages.c.id)
        )
        return ChatMessage(
            int(result.scalar_one()),
            message.conversation_id,
            message.author,
            message.name,
            message.body,
            message.at,
        )

    def messages(self, conversation_id: int, after: int = 0) -> list[ChatMessage]:
        t = chat_messages
        rows = self.connection.execute(
            sa.select(t)
            .where(t.c.conversation_id == conversation_id, t.c.id > after)
            .order_by(t.c.id)
        )
        return [
            ChatMessage(
                int(r.id), int(r.conversation_id), Author(r.author), str(r.name), str(r.body), r.at
            )
            for r in rows
        ]

    def customer_messages_since(self, conversation_id: int, since: datetime) -> int:
        t = chat_messages
        return int(
            self.connection.execute(
                sa.select(sa.func.count()).where(
                    t.c.conversation_id == conversation_id,
                    t.c.author == Author.CUSTOMER.value,
                    t.c.at >= since,
                )
            ).scalar_one()
        )

    def waiting(self, department: str | None) -> list[Conversation]:
        t = chat_conversations
        query = sa.select(t).where(t.c.status == ChatStatus.WAITING.value)
        if department is not None:
            query = query.where(t.c.department == department)
        rows = self.connection.execute(query.order_by(t.c.queued_at, t.c.id))
        return [_conversation(r._mapping) for r in rows]

    def of_agent(self, agent_id: str) -> list[Conversation]:
        t = chat_conversations
        rows = self.connection.execute(
            sa.select(t)
            .where(t.c.agent_id == agent_id, t.c.status == ChatStatus.ACTIVE.value)
            .order_by(t.c.taken_at)
        )
        return [_conversation(r._mapping) for r in rows]

    def left_since(self, before: datetime) -> list[Conversation]:
        t = chat_conversations
        rows = self.connection.execute(
            sa.select(t)
            .where(t.c.status != ChatStatus.CLOSED.value, t.c.last_seen_at < before)
            .order_by(t.c.id)
        )
        return [_conversation(r._mapping) for r in rows]
