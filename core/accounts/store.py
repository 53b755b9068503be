"""Tables and repository of the accounts area (SQLAlchemy Core)."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.accounts.model import AccountStatus, ApiKey, CustomerAccount, KioskOperator
from postroom.core.db import UtcDateTime, metadata

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

kiosk_operators = sa.Table(
    "kiosk_operators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("pin_hash", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # the keyed hash of the operator's badge (model.badge_hash), unique per account
    sa.Column("badge_hash", sa.String(64), nullable=True),
    # JSON list of the cost centres they may book to; NULL: all of the account's
    sa.Column("cost_centers", sa.Text(), nullable=True),
    sa.Index("ix_kiosk_operators_account_id", "account_id"),
    sa.Index("uq_kiosk_operators_badge", "account_id", "badge_hash", unique=True),
)

# A signed-in operator at a kiosk: the browser keeps the token, the server its hash and
# when it was last used, so idle sign-out and sign-out hold whatever the browser sends.
kiosk_sessions = sa.Table(
    "kiosk_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "operator_id",
        sa.Integer,
        sa.ForeignKey("kiosk_operators.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Index("ix_kiosk_sessions_operator_id", "operator_id"),
)

# Failed sign-ins in a row per "operator:<id>" and per "kiosk:<address>", and the lock
# they earned; a successful sign-in clears its operator's and its kiosk's rows.
kiosk_sign_in_failures = sa.Table(
    "kiosk_sign_in_failures",
    metadata,
    sa.Column("subject", sa.String(100), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", UtcDateTime(), nullable=True),
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


def _operator(row: Row[tuple[object, ...]]) -> KioskOperator:
    m = row._mapping
    return KioskOperator(
        id=int(m["id"]),
        account_id=int(m["account_id"]),
        name=str(m["name"]),
        created_at=m["created_at"],
        cost_centers=tuple(json.loads(str(m["cost_centers"]))) if m["cost_centers"] else (),
        has_badge=m["badge_hash"] is not None,
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

    def get_many(self, numbers: list[str]) -> list[CustomerAccount]:
        found: list[CustomerAccount] = []
        for start in range(0, len(numbers), 500):
            rows = self._c.execute(
                sa.select(customer_accounts).where(
                    customer_accounts.c.number.in_(numbers[start : start + 500])
                )
            )
            found += [_account(row) for row in rows]
        return found

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

    # ------------------------------------------------------------- kiosk operators

    def add_operator(
        self, account_id: int, name: str, pin_hash: str, now: datetime
    ) -> KioskOperator:
        result = self._c.execute(
            sa.insert(kiosk_operators)
            .values(account_id=account_id, name=name, pin_hash=pin_hash, created_at=now)
            .returning(*kiosk_operators.c)
        )
        return _operator(result.one())

    def operators_of(self, account_id: int) -> list[KioskOperator]:
        rows = self._c.execute(
            sa.select(kiosk_operators)
            .where(kiosk_operators.c.account_id == account_id)
            .order_by(kiosk_operators.c.name, kiosk_operators.c.id)
        )
        return [_operator(row) for row in rows]

    def operator_with_hash(
        self, account_id: int, operator_id: int
    ) -> tuple[KioskOperator, str] | None:
        row = self._c.execute(
            sa.select(kiosk_operators).where(
                kiosk_operators.c.account_id == account_id, kiosk_operators.c.id == operator_id
            )
        ).first()
        return None if row is None else (_operator(row), str(row.pin_hash))

    def set_operator_pin(self, operator_id: int, pin_hash: str) -> None:
        self._c.execute(
            sa.update(kiosk_operators)
            .where(kiosk_operators.c.id == operator_id)
            .values(pin_hash=pin_hash)
        )
        # a new PIN ends every sign-in made with the old one
        self._c.execute(
            sa.delete(kiosk_sessions).where(kiosk_sessions.c.operator_id == operator_id)
        )

    def set_operator_badge(self, operator_id: int, badge_hash: str | None) -> None:
        self._c.execute(
            sa.update(kiosk_operators)
            .where(kiosk_operators.c.id == operator_id)
            .values(badge_hash=badge_hash)
        )

    def badge_taken(self, account_id: int, badge_hash: str) -> bool:
        found = self._c.execute(
            sa.select(kiosk_operators.c.id).where(
                kiosk_operators.c.account_id == account_id,
                kiosk_operators.c.badge_hash == badge_hash,
            )
        ).first()
        return found is not None

    def operator_by_badge(self, badge_hash: str) -> list[KioskOperator]:
        """The operators with this badge, whatever their account (at most one each)."""
        rows = self._c.execute(
            sa.select(kiosk_operators).where(kiosk_operators.c.badge_hash == badge_hash)
        )
        return [_operator(row) for row in rows]

    def end_operator_sessions(self, operator_id: int) -> None:
        self._c.execute(
            sa.delete(kiosk_sessions).where(kiosk_sessions.c.operator_id == operator_id)
        )

    def set_operator_cost_centers(self, operator_id: int, names: tuple[str, ...]) -> None:
        self._c.execute(
            sa.update(kiosk_operators)
            .where(kiosk_operators.c.id == operator_id)
            .values(cost_centers=json.dumps(list(names)) if names else None)
        )

    def remove_operator(self, operator_id: int) -> None:
        self._c.execute(
            sa.delete(kiosk_sessions).where(kiosk_sessions.c.operator_id == operator_id)
        )
        self._c.execute(sa.delete(kiosk_operators).where(kiosk_operators.c.id == operator_id))
        self._c.execute(
            sa.delete(kiosk_sign_in_failures).where(
                kiosk_sign_in_failures.c.subject == f"operator:{operator_id}"
            )
        )

    def add_kiosk_session(self, token_hash: str, operator_id: int, now: datetime) -> None:
        self._c.execute(
            sa.insert(kiosk_sessions).values(
                token_hash=token_hash, operator_id=operator_id, started_at=now, last_seen=now
            )
        )

    def kiosk_session(self, token_hash: str) -> tuple[KioskOperator, datetime] | None:
        """The session's operator and when it was last used."""
        row = self._c.execute(
            sa.select(kiosk_operators, kiosk_sessions.c.last_seen)
            .join(kiosk_sessions, kiosk_sessions.c.operator_id == kiosk_operators.c.id)
            .where(kiosk_sessions.c.token_hash == token_hash)
        ).first()
        return None if row is None else (_operator(row), row.last_seen)

    def touch_kiosk_session(self, token_hash: str, now: datetime) -> None:
        self._c.execute(
            sa.update(kiosk_sessions)
            .where(kiosk_sessions.c.token_hash == token_hash)
            .values(last_seen=now)
        )

    def end_kiosk_session(self, token_hash: str) -> None:
        self._c.execute(sa.delete(kiosk_sessions).where(kiosk_sessions.c.token_hash == token_hash))

    def count_sign_in_attempt(self, subject: str) -> tuple[int, datetime | None]:
        """One more attempt counted for ``subject`` (as a failure until it succeeds) in
        one statement that waits for a concurrent attempt's: how many in a row now, and
        the lock the earlier ones left."""
        insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        table = kiosk_sign_in_failures
        statement = (
            insert(table)
            .values(subject=subject, failures=1, locked_until=None)
            .on_conflict_do_update(
                index_elements=[table.c.subject], set_={"failures": table.c.failures + 1}
            )
            .returning(table.c.failures, table.c.locked_until)
        )
        row = self._c.execute(statement).one()
        return int(row.failures), row.locked_until

    def lock_sign_in(self, subject: str, until: datetime) -> None:
        self._c.execute(
            sa.update(kiosk_sign_in_failures)
            .where(kiosk_sign_in_failures.c.subject == subject)
            .values(locked_until=until)
        )

    def clear_sign_in_failures(self, subject: str) -> None:
        self._c.execute(
            sa.delete(kiosk_sign_in_failures).where(kiosk_sign_in_failures.c.subject == subject)
        )
