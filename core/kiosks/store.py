"""Tables and repository of the kiosks area (SQLAlchemy Core).

``KioskKeyRepository`` is the Protocol the use cases depend on; ``KioskKeyStore`` is its
implementation on a unit of work's connection (tests use an in-memory fake).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.db import UtcDateTime, metadata
from postroom.core.kiosks.model import KioskKey, KioskPiece, PieceSource
from postroom.core.money import Money

kiosk_keys = sa.Table(
    "kiosk_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("prefix", sa.String(24), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("last_contact_at", UtcDateTime(), nullable=True),
    sa.Index("ix_kiosk_keys_customer_number", "customer_number"),
)


# One row per piece a terminal printed (the reports read it); a piece is logged once,
# whoever sends it again (the terminal's offline queue retries until it is answered). A
# piece of the attached meter the terminal reported signed (``pr.kiosk_pieces.record``,
# its signature checked) carries the print's request id, and a misprint its flag and
# refund id (``meter_piece_store.py`` reads and writes those: migration kiosks_0003).
kiosk_pieces = sa.Table(
    "kiosk_pieces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "customer_number", sa.String(10), sa.ForeignKey("customer_accounts.number"), nullable=False
    ),
    sa.Column("serial", sa.String(60), nullable=False),
    sa.Column("piece", sa.BigInteger, nullable=False),
    sa.Column("printed_at", UtcDateTime(), nullable=False),
    sa.Column("mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("carrier", sa.String(100), nullable=False),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("cost_center", sa.String(100), nullable=True),
    # no foreign key: a removed operator's pieces stay booked to them, by name
    sa.Column("operator_id", sa.Integer, nullable=True),
    sa.Column("operator_name", sa.String(100), nullable=False),
    sa.Column("terminal", sa.String(100), nullable=False),
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("misprint_at", UtcDateTime(), nullable=True),
    sa.Column("refund_id", sa.String(40), nullable=True),
    sa.UniqueConstraint("serial", "piece", name="uq_kiosk_pieces_serial_piece"),
    sa.Index("ix_kiosk_pieces_customer_printed", "customer_number", "printed_at"),
)

# What a terminal asked once by its own idempotency key (a support case it queued
# offline), and the answer a retry gets again.
kiosk_requests = sa.Table(
    "kiosk_requests",
    metadata,
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        primary_key=True,
    ),
    sa.Column("idempotency_key", sa.String(64), primary_key=True),
    sa.Column("answer", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


class KioskKeyRepository(Protocol):
    def add(self, key: KioskKey, secret_hash: str) -> KioskKey: ...

    def prefix_taken(self, prefix: str) -> bool: ...

    def of_customer(self, customer_number: str) -> list[KioskKey]: ...

    def with_hash(self, prefix: str) -> tuple[KioskKey, str] | None: ...

    def revoke(self, key_id: int, at: datetime) -> None: ...

    def record_contact(self, key_id: int, at: datetime) -> None: ...

    def piece(self, serial: str, piece: int) -> tuple[str, KioskPiece] | None:
        """(customer number, piece) of a logged piece."""
        ...

    def add_piece(self, customer_number: str, piece: KioskPiece) -> None: ...

    def pieces(
        self, customer_number: str, start: datetime, end: datetime, terminal: str | None
    ) -> list[KioskPiece]: ...

    def answer(self, customer_number: str, key: str) -> str | None: ...

    def add_answer(self, customer_number: str, key: str, answer: str, at: datetime) -> None: ...


def _key(row: Row[tuple[object, ...]]) -> KioskKey:
    m = row._mapping
    return KioskKey(
        id=int(m["id"]),
        customer_number=str(m["customer_number"]),
        prefix=str(m["prefix"]),
        label=str(m["label"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
        last_contact_at=m["last_contact_at"],
    )


class KioskKeyStore:
    """``KioskKeyRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, key: KioskKey, secret_hash: str) -> KioskKey:
        row = self._c.execute(
            sa.insert(kiosk_keys)
            .values(
                customer_number=key.customer_number,
                prefix=key.prefix,
                secret_hash=secret_hash,
                label=key.label,
                created_at=key.created_at,
            )
            .returning(*kiosk_keys.c)
        ).one()
        return _key(row)

    def prefix_taken(self, prefix: str) -> bool:
        found = self._c.execute(
            sa.select(kiosk_keys.c.id).where(kiosk_keys.c.prefix == prefix)
        ).first()
        return found is not None

    def of_customer(self, customer_number: str) -> list[KioskKey]:
        rows = self._c.execute(
            sa.select(kiosk_keys)
            .where(kiosk_keys.c.customer_number == customer_number)
            .order_by(kiosk_keys.c.id)
        )
        return [_key(row) for row in rows]

    def with_hash(self, prefix: str) -> tuple[KioskKey, str] | None:
        row = self._c.execute(sa.select(kiosk_keys).where(kiosk_keys.c.prefix == prefix)).first()
        if row is None:
            return None
        return _key(row), str(row._mapping["secret_hash"])

    def revoke(self, key_id: int, at: datetime) -> None:
        self._c.execute(
            sa.update(kiosk_keys)
            .where(kiosk_keys.c.id == key_id, kiosk_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def record_contact(self, key_id: int, at: datetime) -> None:
        self._c.execute(
            sa.update(kiosk_keys).where(kiosk_keys.c.id == key_id).values(last_contact_at=at)
        )

    # -------------------------------------------------------------- the piece log

    def piece(self, serial: str, piece: int) -> tuple[str, KioskPiece] | None:
        row = self._c.execute(
            sa.select(kiosk_pieces).where(
                kiosk_pieces.c.serial == serial, kiosk_pieces.c.piece == piece
            )
        ).first()
        return None if row is None else (str(row.customer_number), _piece(row))

    def add_piece(self, customer_number: str, piece: KioskPiece) -> None:
        self._c.execute(
            sa.insert(kiosk_pieces).values(
                customer_number=customer_number,
                serial=piece.serial,
                piece=piece.piece,
                printed_at=piece.printed_at,
                mills=piece.postage.mills,
                currency=piece.postage.currency,
                carrier=piece.carrier,
                service=piece.service,
                cost_center=piece.cost_center,
                operator_id=piece.operator_id,
                operator_name=piece.operator_name,
                terminal=piece.terminal,
                source=piece.source.value,
            )
        )

    def pieces(
        self, customer_number: str, start: datetime, end: datetime, terminal: str | None
    ) -> list[KioskPiece]:
        query = sa.select(kiosk_pieces).where(
            kiosk_pieces.c.customer_number == customer_number,
            kiosk_pieces.c.printed_at >= start,
            kiosk_pieces.c.printed_at < end,
        )
        if terminal is not None:
            query = query.where(kiosk_pieces.c.terminal == terminal)
        rows = self._c.execute(query.order_by(kiosk_pieces.c.printed_at, kiosk_pieces.c.id))
        return [_piece(row) for row in rows]

    def answer(self, customer_number: str, key: str) -> str | None:
        found = self._c.execute(
            sa.select(kiosk_requests.c.answer).where(
                kiosk_requests.c.customer_number == customer_number,
                kiosk_requests.c.idempotency_key == key,
            )
        ).first()
        return None if found is None else str(found.answer)

    def add_answer(self, customer_number: str, key: str, answer: str, at: datetime) -> None:
        self._c.execute(
            sa.insert(kiosk_requests).values(
                customer_number=customer_number, idempotency_key=key, answer=answer, created_at=at
            )
        )


def _piece(row: Row[tuple[object, ...]]) -> KioskPiece:
    m = row._mapping
    return KioskPiece(
        serial=str(m["serial"]),
        piece=int(m["piece"]),
        printed_at=m["printed_at"],
        postage=Money(int(m["mills"]), str(m["currency"])),
        carrier=str(m["carrier"]),
        service=str(m["service"]),
        cost_center=m["cost_center"],
        operator_id=None if m["operator_id"] is None else int(m["operator_id"]),
        operator_name=str(m["operator_name"]),
        terminal=str(m["terminal"]),
        source=PieceSource(m["source"]),
        signed=m["request_id"] is not None,
    )
