"""Instance-wide settings kept in the database (instance id, demo steps done, worker heartbeat)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.db import UtcDateTime, metadata

instance_settings = sa.Table(
    "instance_settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


class InstanceSettings:
    """Repository of the key/value rows; runs inside the caller's transaction."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, key: str) -> str | None:
        row = self._connection.execute(
            sa.select(instance_settings.c.value).where(instance_settings.c.key == key)
        ).first()
        return None if row is None else str(row.value)

    def get_with_time(self, key: str) -> tuple[str, datetime] | None:
        row = self._connection.execute(
            sa.select(instance_settings.c.value, instance_settings.c.updated_at).where(
                instance_settings.c.key == key
            )
        ).first()
        return None if row is None else (str(row.value), row.updated_at)

    def set(self, key: str, value: str, now: datetime) -> None:
        updated = self._connection.execute(
            sa.update(instance_settings)
            .where(instance_settings.c.key == key)
            .values(value=value, updated_at=now)
        )
        if updated.rowcount == 0:
            self._connection.execute(
                sa.insert(instance_settings).values(key=key, value=value, updated_at=now)
            )

    def add_if_absent(self, key: str, value: str, now: datetime) -> bool:
        """Insert ``key`` unless present; True when this call inserted it."""
        if self.get(key) is not None:
            return False
        self._connection.execute(
            sa.insert(instance_settings).values(key=key, value=value, updated_at=now)
        )
        return True
