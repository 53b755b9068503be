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
from postroom.core.kiosks.model import KioskKey

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


class KioskKeyRepository(Protocol):
    def add(self, key: KioskKey, secret_hash: str) -> KioskKey: ...

    def prefix_taken(self, prefix: str) -> bool: ...

    def of_customer(self, customer_number: str) -> list[KioskKey]: ...

    def with_hash(self, prefix: str) -> tuple[KioskKey, str] | None: ...

    def revoke(self, key_id: int, at: datetime) -> None: ...

    def record_contact(self, key_id: int, at: datetime) -> None: ...


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
