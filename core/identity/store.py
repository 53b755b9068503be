"""Tables and repository of the identity area (SQLAlchemy Core).

``IdentityRepository`` is what the service needs; ``SqlIdentityRepository`` keeps it in
the database, and the unit tests keep it in memory (tests/unit/identity_fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.db import Database, UnitOfWork, UtcDateTime, metadata
from postroom.core.identity.model import StoredSession, StoredToken, TokenPurpose, User
from postroom.core.outbox import Outbox
from postroom.core.ports import Notification

T = TypeVar("T")

identity_users = sa.Table(
    "identity_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("company", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("language", sa.String(5), nullable=False),
    # the IANA zone the person chose; "" until then (User.shown_time_zone)
    sa.Column("time_zone", sa.String(64), nullable=False, server_default=""),
    # portal users: their customer account; staff: none
    sa.Column(
        "account_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=True,
    ),
    sa.Column("staff", sa.Boolean, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("security_question", sa.String(200), nullable=False),
    sa.Column("security_answer_hash", sa.String(200), nullable=True),
    sa.Column("verified_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_identity_users_account_number", "account_number"),
)

# Single-use links (verification, reset, invitation, email change): only the SHA-256
# of the token is kept; ``used_at`` makes the second use fail even when two race.
identity_tokens = sa.Table(
    "identity_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("payload", sa.String(254), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("used_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_identity_tokens_user_id", "user_id"),
)

# Web sessions: the browser holds the id, the server its hash, when it began and when
# it was last used (idle and absolute timeouts); sign-out deletes the row.
identity_sessions = sa.Table(
    "identity_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Index("ix_identity_sessions_user_id", "user_id"),
)

# Failed sign-ins in a row per "email:<address>" and per "address:<client>", and the
# lock they earned (docs/identity.md "Throttling").
identity_throttle = sa.Table(
    "identity_throttle",
    metadata,
    sa.Column("subject", sa.String(300), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", UtcDateTime(), nullable=False),
    sa.Column("locked_until", UtcDateTime(), nullable=True),
)


class IdentityRepository(Protocol):
    """The identity area's storage, on one unit of work."""

    def add_user(self, values: Mapping[str, Any]) -> User: ...
    def user(self, user_id: int) -> User | None: ...
    def user_by_email(self, email: str) -> User | None: ...
    def users_by_email(self, emails: Sequence[str]) -> list[User]:
        """The users of these addresses (the addresses of nobody left out)."""
        ...

    def secrets_of(self, user_id: int) -> tuple[str | None, str | None]: ...
    def update_user(self, user_id: int, values: Mapping[str, Any]) -> None: ...
    def delete_user(self, user_id: int) -> None: ...
    def users_of(self, account_number: str) -> list[User]: ...
    def staff(self) -> list[User]: ...
    def unverified_since(self, cutoff: datetime) -> list[User]: ...
    def add_token(
        self,
        token_hash: str,
        user_id: int,
        purpose: TokenPurpose,
        expires_at: datetime,
        now: datetime,
        payload: str = "",
    ) -> None: ...
    def token(self, token_hash: str) -> StoredToken | None: ...
    def use_token(self, token_hash: str, now: datetime) -> bool: ...
    def drop_tokens(self, user_id: int, purpose: TokenPurpose) -> None: ...
    def add_session(self, id_hash: str, user_id: int, now: datetime) -> None: ...
    def session(self, id_hash: str) -> StoredSession | None: ...
    def session_with_user(self, id_hash: str) -> tuple[StoredSession, User] | None: ...
    def touch_session(self, id_hash: str, now: datetime) -> None: ...
    def end_session(self, id_hash: str) -> None: ...
    def end_sessions_of(self, user_id: int, *, keep: str | None = None) -> None: ...
    def count_failure(
        self, subject: str, now: datetime, forget_before: datetime
    ) -> tuple[int, datetime | None]: ...
    def throttle(self, subject: str) -> datetime | None: ...
    def lock(self, subject: str, until: datetime) -> None: ...
    def undo_failure(self, subject: str) -> int: ...
    def unlock(self, subject: str) -> None: ...
    def clear_failures(self, subject: str) -> None: ...
    def forget_failures(self, before: datetime) -> int: ...


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(
        id=int(m["id"]),
        email=str(m["email"]),
        name=str(m["name"]),
        role=str(m["role"]),
        staff=bool(m["staff"]),
        language=str(m["language"]),
        created_at=m["created_at"],
        account_number=m["account_number"],
        company=str(m["company"]),
        phone=str(m["phone"]),
        security_question=str(m["security_question"]),
        verified_at=m["verified_at"],
        has_password=m["password_hash"] is not None,
        time_zone=str(m["time_zone"]),
    )


# Every request looks its session up: one statement, built once (its cache key too).
_SESSION_WITH_USER = (
    sa.select(
        identity_sessions.c.started_at.label("session_started_at"),
        identity_sessions.c.last_seen.label("session_last_seen"),
        *identity_users.c,
    )
    .join(identity_users, identity_users.c.id == identity_sessions.c.user_id)
    .where(identity_sessions.c.id_hash == sa.bindparam("id_hash"))
)


# built once: the email channel looks up every inbound email's sender
_USER_BY_EMAIL = sa.select(identity_users).where(identity_users.c.email == sa.bindparam("email"))
# and the senders of a batch of inbound emails at once
_USERS_BY_EMAIL = sa.select(identity_users).where(
    identity_users.c.email.in_(sa.bindparam("emails", expanding=True))
)


class SqlIdentityRepository:
    """``IdentityRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # ------------------------------------------------------------------ users

    def add_user(self, values: Mapping[str, Any]) -> User:
        row = self._c.execute(
            sa.insert(identity_users).values(**values).returning(*identity_users.c)
        ).one()
        return _user(row)

    def user(self, user_id: int) -> User | None:
        row = self._c.execute(
            sa.select(identity_users).where(identity_users.c.id == user_id)
        ).first()
        return None if row is None else _user(row)

    def user_by_email(self, email: str) -> User | None:
        row = self._c.execute(_USER_BY_EMAIL, {"email": email}).first()
        return None if row is None else _user(row)

    def users_by_email(self, emails: Sequence[str]) -> list[User]:
        if not emails:
            return []
        return [_user(row) for row in self._c.execute(_USERS_BY_EMAIL, {"emails": list(emails)})]

    def secrets_of(self, user_id: int) -> tuple[str | None, str | None]:
        row = self._c.execute(
            sa.select(identity_users.c.password_hash, identity_users.c.security_answer_hash).where(
                identity_users.c.id == user_id
            )
        ).first()
        return (None, None) if row is None else (row[0], row[1])

    def update_user(self, user_id: int, values: Mapping[str, Any]) -> None:
        self._c.execute(
            sa.update(identity_users).where(identity_users.c.id == user_id).values(**values)
        )

    def delete_user(self, user_id: int) -> None:
        # tokens and sessions go with the user (ON DELETE CASCADE); SQLite enforces it
        # with foreign keys on, and both are deleted here for a store that does not
        self._c.execute(sa.delete(identity_tokens).where(identity_tokens.c.user_id == user_id))
        self._c.execute(sa.delete(identity_sessions).where(identity_sessions.c.user_id == user_id))
        self._c.execute(sa.delete(identity_users).where(identity_users.c.id == user_id))

    def users_of(self, account_number: str) -> list[User]:
        rows = self._c.execute(
            sa.select(identity_users)
            .where(identity_users.c.account_number == account_number)
            .order_by(identity_users.c.name, identity_users.c.id)
        )
        return [_user(row) for row in rows]

    def staff(self) -> list[User]:
        rows = self._c.execute(
            sa.select(identity_users)
            .where(identity_users.c.staff.is_(True))
            .order_by(identity_users.c.name, identity_users.c.id)
        )
        return [_user(row) for row in rows]

    def unverified_since(self, cutoff: datetime) -> list[User]:
        rows = self._c.execute(
            sa.select(identity_users).where(
                identity_users.c.verified_at.is_(None), identity_users.c.created_at < cutoff
            )
        )
        return [_user(row) for row in rows]

    # ----------------------------------------------------------------- tokens

    def add_token(
        self,
        token_hash: str,
        user_id: int,
        purpose: TokenPurpose,
        expires_at: datetime,
        now: datetime,
        payload: str = "",
    ) -> None:
        self._c.execute(
            sa.insert(identity_tokens).values(
                token_hash=token_hash,
                user_id=user_id,
                purpose=purpose.value,
                payload=payload,
                expires_at=expires_at,
                used_at=None,
                created_at=now,
            )
        )

    def token(self, token_hash: str) -> StoredToken | None:
        row = self._c.execute(
            sa.select(identity_tokens).where(identity_tokens.c.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        m = row._mapping
        return StoredToken(
            user_id=int(m["user_id"]),
            purpose=TokenPurpose(m["purpose"]),
            expires_at=m["expires_at"],
            used_at=m["used_at"],
            payload=str(m["payload"]),
        )

    def use_token(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used; False when it already was (the other use won)."""
        result = self._c.execute(
            sa.update(identity_tokens)
            .where(identity_tokens.c.token_hash == token_hash, identity_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        return result.rowcount == 1

    def drop_tokens(self, user_id: int, purpose: TokenPurpose) -> None:
        self._c.execute(
            sa.delete(identity_tokens).where(
                identity_tokens.c.user_id == user_id, identity_tokens.c.purpose == purpose.value
            )
        )

    # --------------------------------------------------------------- sessions

    def add_session(self, id_hash: str, user_id: int, now: datetime) -> None:
        self._c.execute(
            sa.insert(identity_sessions).values(
                id_hash=id_hash, user_id=user_id, started_at=now, last_seen=now
            )
        )

    def session(self, id_hash: str) -> StoredSession | None:
        row = self._c.execute(
            sa.select(identity_sessions).where(identity_sessions.c.id_hash == id_hash)
        ).first()
        if row is None:
            return None
        return StoredSession(int(row.user_id), row.started_at, row.last_seen)

    def session_with_user(self, id_hash: str) -> tuple[StoredSession, User] | None:
        row = self._c.execute(_SESSION_WITH_USER, {"id_hash": id_hash}).first()
        if row is None:
            return None
        user = _user(row)
        return StoredSession(user.id, row.session_started_at, row.session_last_seen), user

    def touch_session(self, id_hash: str, now: datetime) -> None:
        self._c.execute(
            sa.update(identity_sessions)
            .where(identity_sessions.c.id_hash == id_hash)
            .values(last_seen=now)
        )

    def end_session(self, id_hash: str) -> None:
        self._c.execute(sa.delete(identity_sessions).where(identity_sessions.c.id_hash == id_hash))

    def end_sessions_of(self, user_id: int, *, keep: str | None = None) -> None:
        statement = sa.delete(identity_sessions).where(identity_sessions.c.user_id == user_id)
        if keep is not None:
            statement = statement.where(identity_sessions.c.id_hash != keep)
        self._c.execute(statement)

    # --------------------------------------------------------------- throttle

    def count_failure(
        self, subject: str, now: datetime, forget_before: datetime
    ) -> tuple[int, datetime | None]:
        """One more failure for ``subject`` in one statement that waits for a concurrent
        one's: how many in a row now (counting afresh when the last one is older than
        ``forget_before``), and the lock the earlier ones left."""
        insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        table = identity_throttle
        statement = (
            insert(table)
            .values(subject=subject, failures=1, last_failure_at=now, locked_until=None)
            .on_conflict_do_update(
                index_elements=[table.c.subject],
                set_={
                    "failures": sa.case(
                        (table.c.last_failure_at < forget_before, 1),
                        else_=table.c.failures + 1,
                    ),
                    "last_failure_at": now,
                },
            )
            .returning(table.c.failures, table.c.locked_until)
        )
        row = self._c.execute(statement).one()
        return int(row.failures), row.locked_until

    def throttle(self, subject: str) -> datetime | None:
        row = self._c.execute(
            sa.select(identity_throttle.c.locked_until).where(
                identity_throttle.c.subject == subject
            )
        ).first()
        return None if row is None else row[0]

    def lock(self, subject: str, until: datetime) -> None:
        self._c.execute(
            sa.update(identity_throttle)
            .where(identity_throttle.c.subject == subject)
            .values(locked_until=until)
        )

    def undo_failure(self, subject: str) -> int:
        """Take back the failure counted before an attempt that then succeeded, and the
        lock it earned: how many failures in a row remain."""
        table = identity_throttle
        row = self._c.execute(
            sa.update(table)
            .where(table.c.subject == subject)
            .values(failures=sa.case((table.c.failures > 0, table.c.failures - 1), else_=0))
            .returning(table.c.failures)
        ).first()
        return 0 if row is None else int(row[0])

    def unlock(self, subject: str) -> None:
        self._c.execute(
            sa.update(identity_throttle)
            .where(identity_throttle.c.subject == subject)
            .values(locked_until=None)
        )

    def clear_failures(self, subject: str) -> None:
        self._c.execute(sa.delete(identity_throttle).where(identity_throttle.c.subject == subject))

    def forget_failures(self, before: datetime) -> int:
        """Delete the counts whose last failure is older than ``before`` and whose lock
        (if any) has passed: they would start afresh anyway."""
        table = identity_throttle
        result = self._c.execute(
            sa.delete(table).where(
                table.c.last_failure_at < before,
                sa.or_(table.c.locked_until.is_(None), table.c.locked_until < before),
            )
        )
        return int(result.rowcount)


class SqlIdentityUnit:
    """A unit of work of the identity area on the database."""

    def __init__(
        self,
        uow: UnitOfWork,
        outbox: Outbox,
        open_account: Callable[[Connection, str, str, str], str],
    ) -> None:
        self._uow = uow
        self._outbox = outbox
        self._open_account = open_account
        self.repo = SqlIdentityRepository(uow.connection)

    def commit(self) -> None:
        self._uow.commit()

    def send(self, notification: Notification) -> None:
        self._outbox.add(self._uow.connection, notification)

    def open_customer_account(self, name: str, country: str, currency: str) -> str:
        return self._open_account(self._uow.connection, name, country, currency)


class SqlTransactions:
    """Runs identity use cases on the database.

    Their messages are left to the worker's ``outbox.deliver`` job (every minute), never
    sent during the request: how long a reset, a resend or a registration takes must not
    tell whether the address is registered (an SMTP round trip would)."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        open_account: Callable[[Connection, str, str, str], str],
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._open_account = open_account

    def run(self, work: Callable[[Any], T], *, readonly: bool = False) -> T:
        return self._db.run(
            lambda uow: work(SqlIdentityUnit(uow, self._outbox, self._open_account)),
            readonly=readonly,
        )

    def reading(self, connection: Connection) -> IdentityRepository:
        return SqlIdentityRepository(connection)
