"""Tables and repository of the accounts area (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.accounts.model import AccountStatus, ApiKey, CustomerAccount
from postroom.core.db import metadata

customer_accounts = sa.Table(
    "customer_accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(10), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False),
    sa.Column("prefix", sa.String(24), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_api_keys_account_id", "account_id"),
)


def _account(row: Row[tuple[object, ...]]) -> CustomerAccount:
    m = row._mapping
    return CustomerAccount(
        id=int(m["id"]),
        number=str(m["number"]),
        name=str(m["name"]),
        country=str(m["country"]),
        currency=str(m["currency"]),
        status=AccountStatus(m["status"]),
        created_at=m["created_at"],
    )


def _key(row: Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=int(m["id"]),
        account_id=int(m["account_id"]),
        prefix=str(m["prefix"]),
        label=str(m["label"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


class AccountStore:
    """Repository of customer accounts and API keys on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def number_taken(self, number: str) -> bool:
        query = sa.select(customer_accounts.c.id).where(customer_accounts.c.number == number)
        return self._c.execute(query).first() is not None

    def add(
        self, number: str, name: str, country: str, currency: str, now: datetime
    ) -> CustomerAccount:
        result = self._c.execute(
            sa.insert(customer_accounts)
            .values(
                number=number,
                name=name,
                country=country,
                currency=currency,
                status=AccountStatus.ACTIVE.value,
                created_at=now,
            )
            .returning(*customer_accounts.c)
        )
        return _account(result.one())

    def get_by_number(self, number: str) -> CustomerAccount | None:
        row = self._c.execute(
            sa.select(customer_accounts).where(customer_accounts.c.number == number)
        ).first()
        return None if row is None else _account(row)

    def get_by_id(self, account_id: int) -> CustomerAccount | None:
        row = self._c.execute(
            sa.select(customer_accounts).where(customer_accounts.c.id == account_id)
        ).first()
        return None if row is None else _account(row)

    def page(self, *, limit: int, offset: int) -> list[CustomerAccount]:
        rows = self._c.execute(
            sa.select(customer_accounts)
            .order_by(customer_accounts.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [_account(row) for row in rows]

    def add_key(
        self, account_id: int, prefix: str, secret_hash: str, label: str, now: datetime
    ) -> ApiKey:
        result = self._c.execute(
            sa.insert(api_keys)
            .values(
                account_id=account_id,
                prefix=prefix,
                secret_hash=secret_hash,
                label=label,
                created_at=now,
            )
            .returning(*api_keys.c)
        )
        return _key(result.one())

    def key_with_hash(self, prefix: str) -> tuple[ApiKey, str] | None:
        row = self._c.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return None if row is None else (_key(row), str(row.secret_hash))

    def keys_of(self, account_id: int) -> list[ApiKey]:
        rows = self._c.execute(
            sa.select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
        )
        return [_key(row) for row in rows]

    def revoke_key(self, key_id: int, now: datetime) -> None:
        self._c.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
