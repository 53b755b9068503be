"""The table and repository of the reset tokens the data center issued (SQLAlchemy Core).

The table was created by migration ``vault_0002_reset_tokens``; it belongs to the meters
area. The token bytes are not stored: the refills service re-issues them from a row and
the meter's key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import utc
from postroom.core.db import UnitOfWork, metadata
from postroom.core.money import Money

Mills = sa.BigInteger

reset_tokens = sa.Table(
    "reset_tokens",
    metadata,
    sa.Column("serial", sa.String(60), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("transfer_id", sa.String(80), nullable=False, unique=True),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    # the device's own time of application, when its signed refill reply carries it
    sa.Column("device_applied_at", sa.DateTime(timezone=True), nullable=True),
    # expired unapplied: the transfer that returned the refill to the postage account
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cancel_transfer_id", sa.String(80), nullable=True),
    # when a notifier took the customer's "refill returned" message
    sa.Column("cancel_notified_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_reset_tokens_expires_at", "expires_at"),
)


@attrs.frozen
class IssuedReset:
    """A row of ``reset_tokens``: a refill's reset token as the vault recorded it.

    The token bytes themselves are not stored: the service re-issues them from this row
    and the per-meter key (``postroom.core.meters.tokens``).
    """

    serial: str
    sequence: int
    transfer_id: str
    amount: Money
    expires_at: datetime
    applied_at: datetime | None = None
    device_applied_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_transfer_id: str | None = None


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def reset_from_row(row: Row[tuple[object, ...]]) -> IssuedReset:
    m = row._mapping
    return IssuedReset(
        serial=str(m["serial"]),
        sequence=int(m["sequence"]),
        transfer_id=str(m["transfer_id"]),
        amount=Money(int(m["amount"]), str(m["currency"])),
        expires_at=utc(m["expires_at"]),
        applied_at=_moment(m["applied_at"]),
        device_applied_at=_moment(m["device_applied_at"]),
        cancelled_at=_moment(m["cancelled_at"]),
        cancel_transfer_id=m["cancel_transfer_id"],
    )


class ResetTokenRepository(Protocol):
    """The reset tokens' reads and writes that ``MeterFunds`` needs (``ResetTokenStore``
    on the database, an in-memory fake in the unit tests)."""

    def by_transfer(self, transfer_id: str) -> IssuedReset | None: ...
    def for_meter(self, serial: str) -> list[IssuedReset]:
        """The meter's reset tokens by sequence; locked on PostgreSQL (applies serialise)."""
        ...

    def next_sequence(self, serial: str) -> int: ...
    def add(self, token: IssuedReset, now: datetime) -> None: ...
    def mark_applied(
        self, serial: str, sequence: int, now: datetime, device_at: datetime | None = None
    ) -> bool:
        """Record the token applied, once, unless it was cancelled."""
        ...

    def mark_cancelled(self, serial: str, sequence: int, transfer_id: str, now: datetime) -> bool:
        """Record the token cancelled, once, unless it was recorded applied."""
        ...

    def expired_unapplied(
        self, before: datetime, limit: int, *, withdrawn: Iterable[str] = ()
    ) -> list[IssuedReset]:
        """Refills' tokens (amount above 0) that expired before ``before``, neither applied
        nor cancelled, of meters not ``withdrawn``, oldest expiry first."""
        ...

    def cancelled_unnotified(self, limit: int) -> list[IssuedReset]:
        """Cancelled tokens whose customer was not told yet, oldest cancellation first."""
        ...

    def mark_cancel_notified(self, serial: str, sequence: int, now: datetime) -> bool:
        """Record the customer told of a cancellation; False when told before."""
        ...


class ResetTokenStore:
    """``ResetTokenRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def by_transfer(self, transfer_id: str) -> IssuedReset | None:
        row = self._c.execute(
            sa.select(reset_tokens).where(reset_tokens.c.transfer_id == transfer_id)
        ).first()
        return None if row is None else reset_from_row(row)

    def for_meter(self, serial: str) -> list[IssuedReset]:
        """The meter's reset tokens by sequence; locked on PostgreSQL (applies serialise)."""
        query = (
            sa.select(reset_tokens)
            .where(reset_tokens.c.serial == serial)
            .order_by(reset_tokens.c.sequence)
        )
        if self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        return [reset_from_row(row) for row in self._c.execute(query)]

    def next_sequence(self, serial: str) -> int:
        found = self._c.execute(
            sa.select(sa.func.max(reset_tokens.c.sequence)).where(reset_tokens.c.serial == serial)
        ).scalar()
        return 1 if found is None else int(found) + 1

    def add(self, token: IssuedReset, now: datetime) -> None:
        self._c.execute(
            sa.insert(reset_tokens).values(
                serial=token.serial,
                sequence=token.sequence,
                transfer_id=token.transfer_id,
                amount=token.amount.mills,
                currency=token.amount.currency,
                issued_at=now,
                expires_at=token.expires_at,
            )
        )

    def mark_applied(
        self, serial: str, sequence: int, now: datetime, device_at: datetime | None = None
    ) -> bool:
        """Record the token applied, once, unless it was cancelled."""
        return self._settle(serial, sequence, applied_at=now, device_applied_at=device_at)

    def mark_cancelled(self, serial: str, sequence: int, transfer_id: str, now: datetime) -> bool:
        """Record the token cancelled, once, unless it was recorded applied."""
        return self._settle(serial, sequence, cancelled_at=now, cancel_transfer_id=transfer_id)

    def _settle(self, serial: str, sequence: int, **values: object) -> bool:
        """Settle a token still neither applied nor cancelled, in one conditional
        statement: a record of it applied and its cancellation race on this, and the
        one that commits first wins (False for the other)."""
        result = self._c.execute(
            sa.update(reset_tokens)
            .where(
                reset_tokens.c.serial == serial,
                reset_tokens.c.sequence == sequence,
                reset_tokens.c.applied_at.is_(None),
                reset_tokens.c.cancelled_at.is_(None),
            )
            .values(**values)
        )
        return result.rowcount == 1

    def expired_unapplied(
        self, before: datetime, limit: int, *, withdrawn: Iterable[str] = ()
    ) -> list[IssuedReset]:
        """Refills' tokens that expired before ``before``, neither applied nor cancelled,
        of meters not ``withdrawn`` (a withdrawn meter's funds went back with its
        withdrawal)."""
        query = (
            sa.select(reset_tokens)
            .where(
                reset_tokens.c.serial.not_in(list(withdrawn)),
                reset_tokens.c.expires_at <= before,
                reset_tokens.c.amount > 0,
                reset_tokens.c.applied_at.is_(None),
                reset_tokens.c.cancelled_at.is_(None),
            )
            .order_by(reset_tokens.c.expires_at, reset_tokens.c.serial, reset_tokens.c.sequence)
            .limit(limit)
        )
        return [reset_from_row(row) for row in self._c.execute(query)]

    def cancelled_unnotified(self, limit: int) -> list[IssuedReset]:
        query = (
            sa.select(reset_tokens)
            .where(
                reset_tokens.c.cancelled_at.is_not(None),
                reset_tokens.c.cancel_notified_at.is_(None),
            )
            .order_by(reset_tokens.c.cancelled_at, reset_tokens.c.serial, reset_tokens.c.sequence)
            .limit(limit)
        )
        return [reset_from_row(row) for row in self._c.execute(query)]

    def mark_cancel_notified(self, serial: str, sequence: int, now: datetime) -> bool:
        result = self._c.execute(
            sa.update(reset_tokens)
            .where(
                reset_tokens.c.serial == serial,
                reset_tokens.c.sequence == sequence,
                reset_tokens.c.cancelled_at.is_not(None),
                reset_tokens.c.cancel_notified_at.is_(None),
            )
            .values(cancel_notified_at=now)
        )
        return result.rowcount == 1


#: How ``MeterFunds`` reaches the reset tokens in its unit of work (tests: a fake).
ResetTokenRepositories = Callable[[UnitOfWork], ResetTokenRepository]


def sql_reset_tokens(uow: UnitOfWork) -> ResetTokenRepository:
    return ResetTokenStore(uow.connection)
