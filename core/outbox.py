"""The notification outbox: messages to people, durable and retried.

A use case that tells someone about a change writes the message with ``Outbox.add`` in
the same transaction as the change, so the message exists exactly when the change
committed. After the commit the use case hands the message to the notifiers at once
(``deliver``); whatever no notifier took then (every notifier failed, or the process
died between the commit and the delivery) the worker's ``outbox.deliver`` job sends
later, with exponential backoff from the injectable clock. After ``max_attempts`` the
message is ``failed`` and listed for an admin (``postroom notifications --failed``),
who can send it again (``postroom notifications retry``).

Delivery is at least once: a notifier may get one message twice (a crash after it took
the message, before that was recorded), so every message carries a stable ``id`` a
notifier can dedupe on. Each notifier serving the channel gets the message; one that
took it is recorded and not sent it again when another one is retried.

A ``customer:<number>`` message goes to every addressee the ``AddressBook`` knows for
that customer account at delivery time, each in their own language when the message
has a translation into it; each (notifier, addressee) pair is recorded once it took its
copy. A customer without addressees gets the message unresolved (the log notifier
keeps its trace; an email notifier has nobody to write to).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import Clock
from postroom.core.config import Config
from postroom.core.db import Database, UnitOfWork, UtcDateTime, insert, metadata
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.plugins import PluginManager
from postroom.core.ports import (
    AddressBook,
    Addressee,
    Attachment,
    BatchNotifier,
    Notification,
    Notifier,
    Translation,
)

log = logging.getLogger(__name__)

#: How long a claimed message is left alone before another delivery may take it
#: (a worker that died mid-delivery): longer than any notifier should take.
CLAIM_LEASE = timedelta(minutes=5)
#: The first retry waits this long; each further one twice as long, up to MAX_DELAY.
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
#: After this many failed attempts a message is ``failed`` (about 14 hours of tries).
MAX_ATTEMPTS = 10
#: Delivered messages are kept this long (a trace of what people were told), then purged.
KEEP_DELIVERED = timedelta(days=90)
#: A recipient ``customer:<number>`` means the people of that customer account.
CUSTOMER_PREFIX = "customer:"

outbox_messages = sa.Table(
    "outbox_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("language", sa.String(16), nullable=False, server_default="en"),
    # JSON object: language -> {"subject", "body", "html"}
    sa.Column("translations", sa.Text, nullable=False, server_default="{}"),
    sa.Column("data", sa.Text, nullable=False),  # JSON object of text values
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("delivered_to", sa.Text, nullable=False),  # JSON list of notifier names
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # JSON list of {filename, content_type, base64}: files an email carries
    sa.Column("attachments", sa.Text, nullable=False, server_default="[]"),
    sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),
)


#: A new message (built once: the values come with each execution).
_ADD = outbox_messages.insert()
#: One attempt's outcome, recorded for every message it is the same for (most often
#: each of a batch: delivered at its first attempt) in one statement.
_RECORD = (
    outbox_messages.update()
    .where(outbox_messages.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(
        status=sa.bindparam("b_status"),
        attempts=sa.bindparam("b_attempts"),
        next_attempt_at=sa.bindparam("b_next_attempt_at"),
        last_error=sa.bindparam("b_last_error"),
        delivered_to=sa.bindparam("b_delivered_to"),
        updated_at=sa.bindparam("b_updated_at"),
    )
)


class MessageStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def new_message_id() -> str:
    """A new outbox message's id (a caller that writes a message later, in a batch,
    knows its id at once)."""
    return "msg_" + uuid.uuid4().hex[:24]


def _row(
    notification: Notification, message_id: str, claimed: bool, now: datetime
) -> dict[str, Any]:
    return dict(
        id=message_id,
        kind=notification.kind[:60],
        channel=notification.channel[:20],
        recipient=notification.recipient[:200],
        subject=notification.subject[:300],
        body=notification.body,
        html=notification.html,
        language=notification.language[:16],
        translations=json.dumps(
            {
                language: attrs.asdict(translation)
                for language, translation in notification.translations.items()
            },
            sort_keys=True,
        ),
        data=json.dumps(dict(notification.data), sort_keys=True),
        attachments=json.dumps(
            [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "base64": base64.b64encode(a.content).decode("ascii"),
                }
                for a in notification.attachments
            ]
        ),
        status=MessageStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now + CLAIM_LEASE if claimed else now,
        last_error=None,
        delivered_to="[]",
        created_at=now,
        updated_at=now,
    )


@attrs.frozen
class OutboxMessage:
    """One stored message and where its delivery stands."""

    notification: Notification
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_to: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def id(self) -> str:
        assert self.notification.id is not None
        return self.notification.id

    @classmethod
    def just_claimed(cls, notification: Notification, now: datetime) -> OutboxMessage:
        """``notification`` as ``Outbox.add(..., claimed=True)`` wrote it, in the
        transaction that has just committed: nobody has tried it yet, and nobody else
        will before its claim's lease runs out."""
        return cls(
            notification=notification,
            status=MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=now + CLAIM_LEASE,
            last_error=None,
            delivered_to=(),
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> OutboxMessage:
        m = row._mapping
        return cls(
            notification=Notification(
                id=str(m["id"]),
                recipient=str(m["recipient"]),
                subject=str(m["subject"]),
                body=str(m["body"]),
                channel=str(m["channel"]),
                kind=str(m["kind"]),
                data=dict(json.loads(str(m["data"]))),
                language=str(m["language"]),
                html=None if m["html"] is None else str(m["html"]),
                translations={
                    language: Translation(
                        subject=str(t["subject"]), body=str(t["body"]), html=t.get("html")
                    )
                    for language, t in json.loads(str(m["translations"])).items()
                },
                attachments=tuple(
                    Attachment(
                        str(a["filename"]), str(a["content_type"]), base64.b64decode(a["base64"])
                    )
                    for a in json.loads(str(m["attachments"]))
                ),
            ),
            status=MessageStatus(str(m["status"])),
            attempts=int(m["attempts"]),
            next_attempt_at=m["next_attempt_at"],
            last_error=None if m["last_error"] is None else str(m["last_error"]),
            delivered_to=tuple(json.loads(str(m["delivered_to"]))),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


class NoAddressBook:
    """The address book of an installation that knows nobody's email address: every
    ``customer:<number>`` message stays unresolved."""

    def addresses(self, customer_number: str) -> Sequence[Addressee]:
        return ()


def _addressed(notification: Notification, addressee: Addressee) -> Notification:
    read = notification.in_language(addressee.language)
    return attrs.evolve(
        read,
        recipient=addressee.email,
        data={**read.data, "addressee_name": addressee.name},
    )


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1 min, 2, 4... up to 6 h."""
    delay: timedelta = FIRST_DELAY * 2 ** max(0, attempts - 1)
    return min(delay, MAX_DELAY)


class Outbox:
    """``pr.outbox``: write messages in a use case's transaction; deliver them after."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        plugins: PluginManager,
        config: Config,
        *,
        address_book: AddressBook | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._db = db
        self._clock = clock
        self._plugins = plugins
        self._config = config
        self.address_book: AddressBook = address_book or NoAddressBook()
        self.max_attempts = max_attempts
        self._sender: Handover | None = None

    # ----------------------------------------------------------------- writing

    def add(
        self, connection: Connection, notification: Notification, *, claimed: bool = False
    ) -> Notification:
        """Store ``notification`` on ``connection`` (inside the caller's transaction: it
        commits or rolls back with the change it reports). Returns it with its id.
        ``claimed``: the caller delivers it itself right after the commit
        (``deliver_claimed``); other deliveries leave it alone for a lease."""
        message_id = notification.id or new_message_id()
        connection.execute(_ADD, _row(notification, message_id, claimed, self._clock.now()))
        return attrs.evolve(notification, id=message_id)

    def add_all(
        self, connection: Connection, notifications: Sequence[tuple[Notification, bool]]
    ) -> None:
        """``add`` several notifications, each with its id and whether it is
        ``claimed``, in one statement (an executemany)."""
        if not notifications:
            return
        now = self._clock.now()
        insert(
            connection,
            _ADD,
            [
                _row(notification, notification.id or new_message_id(), claimed, now)
                for notification, claimed in notifications
            ],
        )

    def add_for_customer(
        self,
        connection: Connection,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        html: str | None = None,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> str:
        """``add`` an email message to a customer (``customer:<number>``; the customer's
        number goes into its data too); its id, for ``deliver`` after the commit."""
        message = self.add(
            connection,
            Notification(
                recipient=f"{CUSTOMER_PREFIX}{customer_number}",
                subject=subject,
                body=body,
                channel="email",
                kind=kind,
                data={"customer_number": customer_number, **data},
                html=html,
                language=language,
                translations=dict(translations or {}),
                attachments=tuple(attachments),
            ),
        )
        assert message.id is not None
        return message.id

    def send_now(self, notification: Notification) -> OutboxMessage:
        """Store ``notification`` on its own and try it at once (a message no change
        goes with, such as an admin's test email); where it stands after that try."""

        def work(uow: UnitOfWork) -> str:
            added = self.add(uow.connection, notification)
            uow.commit()
            assert added.id is not None
            return added.id

        message_id = self._db.run(work)
        self.deliver([message_id])
        return self.message(message_id)

    # ---------------------------------------------------------------- delivery

    def deliver(self, message_ids: Iterable[str]) -> int:
        """Deliver these messages now if they are due (right after the commit that wrote
        them); an id that is unknown, delivered or not due yet is passed over. Returns
        how many were delivered."""
        return sum(self._attempt(message_id) for message_id in dict.fromkeys(message_ids))

    def deliver_due(self, *, limit: int = 500) -> int:
        """The worker's job: one attempt at every pending message whose time has come;
        returns how many were delivered (0 on a second run at the same instant)."""
        now = self._clock.now()

        def due(uow: UnitOfWork) -> list[str]:
            t = outbox_messages
            rows = uow.connection.execute(
                sa.select(t.c.id)
                .where(t.c.status == MessageStatus.PENDING.value, t.c.next_attempt_at <= now)
                .order_by(t.c.next_attempt_at, t.c.id)
                .limit(limit)
            )
            return [str(r[0]) for r in rows]

        return self.deliver(self._db.run(due, readonly=True))

    def deliver_claimed(self, message_ids: Iterable[str]) -> int:
        """Deliver messages written with ``add(..., claimed=True)``, right after the
        commit that wrote them: they were claimed in that very transaction, so no
        transaction of its own claims them (one write less a message, for a sender of
        many, such as support's email channel). Those still pending are read in one
        transaction and their outcomes recorded in one. One not delivered now (a
        notifier failed, the process died) is retried by the worker once its lease runs
        out. Returns how many were delivered."""
        return self._deliver(self._pending(list(dict.fromkeys(message_ids))), self._notifiers())

    def hand_over(self, messages: Sequence[Notification]) -> None:
        """Claimed messages, as written (with their ids) by the transaction that has
        just committed: to the sender this process hands over to (``handing_over_to``:
        a ``BackgroundSender`` delivering in batches over one connection, or a delivery
        process), else delivered now. They are not read back: their claim keeps every
        other delivery away from them until its lease runs out."""
        now = self._clock.now()
        claimed = [OutboxMessage.just_claimed(m, now) for m in messages]
        sender = self._sender
        if sender is not None:
            sender.hand_over(claimed)
        else:
            self._deliver(claimed, self._notifiers())

    @contextmanager
    def handing_over_to(self, sender: Handover) -> Iterator[None]:
        """Hand what ``hand_over`` gets to ``sender`` during the block."""
        self._sender = sender
        try:
            yield
        finally:
            self._sender = None

    @contextmanager
    def background_sender(self, *, max_batch: int = 200) -> Iterator[BackgroundSender]:
        """Run a ``BackgroundSender`` for the block (``postroom mail import``, and a
        delivery process's own): what is handed over meanwhile is sent in batches; at
        the end of the block what is left is sent, then the sender stops."""
        sender = BackgroundSender(self, max_batch=max_batch)
        sender.start()
        try:
            with self.handing_over_to(sender):
                yield sender
        finally:
            sender.stop()

    def _pending(self, message_ids: Sequence[str]) -> list[OutboxMessage]:
        """The pending messages among ``message_ids``, read in one transaction."""
        if not message_ids:
            return []

        def read(uow: UnitOfWork) -> list[OutboxMessage]:
            t = outbox_messages
            rows = uow.connection.execute(
                sa.select(t).where(
                    t.c.id.in_(message_ids), t.c.status == MessageStatus.PENDING.value
                )
            )
            return [OutboxMessage.from_row(r) for r in rows]

        return self._db.run(read, readonly=True)

    def _deliver(self, messages: Sequence[OutboxMessage], notifiers: Sequence[Notifier]) -> int:
        """Send ``messages`` through ``notifiers``, and record every outcome in one
        transaction; how many were delivered."""
        outcomes = [(message, *self._sent(message, notifiers)) for message in messages]
        self._record(outcomes)
        return sum(1 for _message, _taken, errors in outcomes if not errors)

    def _attempt(self, message_id: str) -> bool:
        claimed = self._claim(message_id)
        if claimed is None:
            return False
        taken, errors = self._sent(claimed, self._notifiers())
        self._record([(claimed, taken, errors)])
        return not errors

    def _sent(
        self, claimed: OutboxMessage, notifiers: Sequence[Notifier]
    ) -> tuple[list[str], list[str]]:
        """Send ``claimed`` through every notifier of its channel that has not taken it
        yet: who took it (all of them so far), and the errors."""
        notification = claimed.notification
        taken = list(claimed.delivered_to)
        errors: list[str] = []
        try:
            copies = self._copies(notification)
        except Exception as error:  # the address book is down: try again later
            log.warning("no addressees for %s: %s", notification.id, error)
            return taken, [f"address book: {type(error).__name__}: {error}"]
        serving = [n for n in notifiers if notification.channel in n.channels]
        for notifier in serving:
            for address, copy in copies:
                done = notifier.name if address is None else f"{notifier.name}:{address}"
                if done in taken:
                    continue
                try:
                    notifier.send(copy)
                except Exception as error:  # a broken notifier is reported, never fatal
                    log.warning(
                        "notifier %s failed to send %s (%s) to %s: %s",
                        notifier.name,
                        notification.id,
                        notification.kind,
                        copy.recipient,
                        error,
                    )
                    errors.append(f"{done}: {type(error).__name__}: {error}")
                    continue
                taken.append(done)
        if not serving:
            errors.append(f"no notifier serves the {notification.channel} channel")
        return taken, errors

    def _copies(self, notification: Notification) -> list[tuple[str | None, Notification]]:
        """What the notifiers send for ``notification``: one copy per addressee of a
        ``customer:<number>`` message (with that address, in that addressee's language
        when the message has it), else the message itself (address None)."""
        if not notification.recipient.startswith(CUSTOMER_PREFIX):
            return [(None, notification)]
        number = notification.recipient.removeprefix(CUSTOMER_PREFIX)
        copies: dict[str, Notification] = {}
        for addressee in self.address_book.addresses(number):
            copies.setdefault(addressee.email, _addressed(notification, addressee))
        if not copies:
            return [(None, notification)]
        return list(copies.items())

    def _claim(self, message_id: str) -> OutboxMessage | None:
        """Take the message for one attempt: push its next attempt a lease ahead, so a
        concurrent delivery passes it over; None when it is not pending and due."""
        now = self._clock.now()

        def work(uow: UnitOfWork) -> OutboxMessage | None:
            t = outbox_messages
            claimed = uow.connection.execute(
                t.update()
                .where(
                    t.c.id == message_id,
                    t.c.status == MessageStatus.PENDING.value,
                    t.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + CLAIM_LEASE)
            ).rowcount
            if claimed != 1:
                return None
            row = uow.connection.execute(sa.select(t).where(t.c.id == message_id)).one()
            uow.commit()
            return OutboxMessage.from_row(row)

        return self._db.run(work)

    def _record(self, outcomes: Sequence[tuple[OutboxMessage, list[str], list[str]]]) -> None:
        """Record, in one transaction, each message's attempt: delivered, or its error
        and next attempt (``failed`` after the last one)."""
        now = self._clock.now()
        # the messages whose outcome is the same, with their ids
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for message, taken, errors in outcomes:
            row = {
                "b_delivered_to": json.dumps(taken),
                "b_updated_at": now,
                "b_status": MessageStatus.DELIVERED.value,
                "b_attempts": message.attempts,
                "b_next_attempt_at": now,
                "b_last_error": message.last_error,
            }
            if errors:
                attempts = message.attempts + 1
                row.update(b_attempts=attempts, b_last_error="; ".join(errors)[:500])
                if attempts >= self.max_attempts:
                    row.update(b_status=MessageStatus.FAILED.value)
                    log.error(
                        "message %s (%s) to %s failed %d times; left for an admin",
                        message.id,
                        message.notification.kind,
                        message.notification.recipient,
                        attempts,
                    )
                else:
                    row.update(
                        b_status=MessageStatus.PENDING.value,
                        b_next_attempt_at=now + retry_delay(attempts),
                    )
            same = rows.setdefault(tuple(row.values()), {**row, "b_ids": []})
            same["b_ids"].append(message.id)
        if not rows:
            return

        def work(uow: UnitOfWork) -> None:
            for row in rows.values():
                uow.connection.execute(_RECORD, row)
            uow.commit()

        self._db.run(work)

    def _notifiers(self) -> list[Notifier]:
        """Every registered notifier, one plugin at a time: a plugin whose hook raises or
        returns something else than a Notifier is logged and left out."""
        found: list[Notifier] = []
        hook = self._plugins.hook.register_notifiers
        arguments = {"config": self._config, "clock": self._clock}
        for impl in hook.get_hookimpls():
            try:
                returned = impl.function(*(arguments[name] for name in impl.argnames))
                provided: Iterable[object] = returned or ()  # type: ignore[assignment]
            except Exception:
                log.exception("plugin %s failed in register_notifiers", impl.plugin_name)
                continue
            for item in provided:
                if isinstance(item, Notifier):
                    found.append(item)
                else:
                    log.error("plugin %s returned %r, not a Notifier", impl.plugin_name, item)
        return found

    def purge_delivered(self, *, keep: timedelta = KEEP_DELIVERED) -> int:
        """Delete messages delivered more than ``keep`` ago (failed and pending ones stay);
        returns how many."""
        before = self._clock.now() - keep

        def work(uow: UnitOfWork) -> int:
            t = outbox_messages
            done = uow.connection.execute(
                t.delete().where(
                    t.c.status == MessageStatus.DELIVERED.value, t.c.updated_at < before
                )
            )
            uow.commit()
            return int(done.rowcount)

        return self._db.run(work)

    # ----------------------------------------------------------------- reading

    def messages(
        self,
        *,
        status: str | None = None,
        recipient: str | None = None,
        limit: int = 50,
    ) -> list[OutboxMessage]:
        """Stored messages, newest first, optionally of one status or recipient."""
        if status is not None and status not in MessageStatus.__members__.values():
            known = ", ".join(s.value for s in MessageStatus)
            raise ValidationError(f"status is one of {known}", code="invalid_status")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")

        def work(uow: UnitOfWork) -> list[OutboxMessage]:
            t = outbox_messages
            query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
            if status is not None:
                query = query.where(t.c.status == status)
            if recipient is not None:
                query = query.where(t.c.recipient == recipient)
            return [OutboxMessage.from_row(r) for r in uow.connection.execute(query)]

        return self._db.run(work, readonly=True)

    def message(self, message_id: str) -> OutboxMessage:
        def work(uow: UnitOfWork) -> OutboxMessage | None:
            t = outbox_messages
            row = uow.connection.execute(sa.select(t).where(t.c.id == message_id)).first()
            return None if row is None else OutboxMessage.from_row(row)

        found = self._db.run(work, readonly=True) if isinstance(message_id, str) else None
        if found is None:
            raise NotFound(f"no message {message_id!r}", code="message_not_found")
        return found

    def retry(self, message_id: str) -> OutboxMessage:
        """Give a ``failed`` message a fresh set of attempts (an admin fixed the notifier),
        and try it at once."""
        now = self._clock.now()

        def work(uow: UnitOfWork) -> None:
            t = outbox_messages
            found = uow.connection.execute(
                sa.select(t.c.status).where(t.c.id == message_id)
            ).first()
            if found is None:
                raise NotFound(f"no message {message_id!r}", code="message_not_found")
            if found[0] != MessageStatus.FAILED.value:
                raise Conflict(
                    f"message {message_id} is {found[0]}; only a failed one is retried",
                    code="message_not_failed",
                )
            uow.connection.execute(
                t.update()
                .where(t.c.id == message_id)
                .values(
                    status=MessageStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            uow.commit()

        if not isinstance(message_id, str):
            raise NotFound(f"no message {message_id!r}", code="message_not_found")
        self._db.run(work)
        self.deliver([message_id])
        return self.message(message_id)

    def counts(self) -> Mapping[str, int]:
        """How many messages stand in each status."""

        def work(uow: UnitOfWork) -> dict[str, int]:
            t = outbox_messages
            rows = uow.connection.execute(
                sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
            ).all()
            return {str(row[0]): int(row[1]) for row in rows}

        found = self._db.run(work, readonly=True)
        return {s.value: found.get(s.value, 0) for s in MessageStatus}


class Handover(Protocol):
    """Who delivers the claimed messages a process hands over after their commit."""

    def hand_over(self, messages: Sequence[OutboxMessage]) -> None:
        """Take ``messages`` (claimed, committed) for delivery; return at once."""


class BackgroundSender:
    """Delivers claimed messages handed over after their commit (``Outbox.hand_over``)
    from a thread of its own, in batches: what was handed over while the last batch
    went out, and within ``gather`` seconds of a batch's first message (so that a
    steady trickle still goes in batches), is sent through one connection per notifier
    (``ports.BatchNotifier``: one SMTP session, kept open while messages keep coming
    and closed after ``IDLE_SECONDS`` without any), and recorded in one transaction.

    The caller's answer does not wait for the delivery (``postroom mail serve``
    answers 250 once the case and its acknowledgement are committed). Nothing is lost
    if the process dies first: a handed-over message is still claimed in the outbox,
    and the worker's ``outbox.deliver`` sends it once the claim's lease runs out; a
    message sent but not yet recorded is sent again then, under the same Message-Id."""

    IDLE_SECONDS = 2.0

    def __init__(self, outbox: Outbox, *, max_batch: int = 200, gather: float = 0.05) -> None:
        self._outbox = outbox
        self._max_batch = max_batch
        self._gather = gather
        self._queue: queue.Queue[OutboxMessage | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self.batches = 0

    def start(self) -> None:
        self._thread.start()

    def hand_over(self, messages: Sequence[OutboxMessage]) -> None:
        for message in messages:
            self._queue.put(message)

    def drain(self) -> None:
        """Wait until everything handed over so far was tried."""
        self._queue.join()

    def stop(self) -> None:
        """Send what is left, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        connections: ExitStack | None = None
        notifiers: list[Notifier] = []
        stopping = False
        try:
            while not stopping:
                try:
                    first = self._queue.get(
                        timeout=self.IDLE_SECONDS if connections is not None else None
                    )
                except queue.Empty:  # idle: the connections are closed until needed
                    if connections is not None:
                        connections.close()
                    connections = None
                    continue
                batch = [] if first is None else [first]
                stopping = first is None
                until = time.monotonic() + self._gather
                while len(batch) < self._max_batch and not stopping:
                    try:
                        following = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                    except queue.Empty:
                        break
                    if following is None:
                        stopping = True
                    else:
                        batch.append(following)
                try:
                    if batch and connections is None:
                        notifiers = self._outbox._notifiers()
                        connections = ExitStack()
                        for notifier in notifiers:
                            if isinstance(notifier, BatchNotifier):
                                connections.enter_context(notifier.batch())
                    self._outbox._deliver(batch, notifiers)
                    self.batches += 1 if batch else 0
                except Exception:  # left claimed: the worker sends them after the lease
                    log.exception("the outbox's background sender failed a batch")
                    if connections is not None:
                        connections.close()
                    connections = None
                finally:
                    for _taken in range(len(batch) + (1 if stopping else 0)):
                        self._queue.task_done()
        finally:
            if connections is not None:
                connections.close()
