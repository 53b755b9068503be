"""Tables and repositories of the contracts area (SQLAlchemy Core).

``ContractRepository`` is the Protocol the use cases depend on; ``ContractStore`` is its
implementation on a unit of work's connection (tests use an in-memory fake).
``KeptAddressRequests`` is the default hand-over of installation-address changes: it
keeps them in ``address_change_requests`` for staff.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from postroom.core.contracts.model import (
    AddressChange,
    AddressRequest,
    AddressRequestStatus,
    BillableContract,
    BillingPeriod,
    Contract,
    ContractKind,
    InstallationAddress,
    Terms,
    new_request_reference,
)
from postroom.core.db import UtcDateTime, metadata
from postroom.core.money import Money

contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("serial", sa.String(32), nullable=False),
    sa.Column("product_code", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("term_months", sa.Integer, nullable=False),
    # the first term's last day: lets the reminder job pass over ended contracts
    sa.Column("first_term_end", sa.Date, nullable=False),
    sa.Column("billing_period", sa.String(20), nullable=False),
    sa.Column("amount_mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("notice_days", sa.Integer, nullable=False),
    sa.Column("auto_renew", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("cancelled_at", UtcDateTime(), nullable=True),
    sa.Column("cancel_reason", sa.String(500), nullable=False),
    sa.Index("ix_contracts_customer_serial", "customer_number", "serial"),
)

# One renewal reminder per contract and term: the key makes a second one impossible,
# even from two workers at once.
contract_reminders = sa.Table(
    "contract_reminders",
    metadata,
    sa.Column(
        "contract_id",
        sa.Integer,
        sa.ForeignKey("contracts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("term", sa.Integer, primary_key=True),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
)

installation_addresses = sa.Table(
    "installation_addresses",
    metadata,
    sa.Column("serial", sa.String(32), primary_key=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("line1", sa.String(100), nullable=False),
    sa.Column("line2", sa.String(100), nullable=False),
    sa.Column("postal_code", sa.String(12), nullable=False),
    sa.Column("city", sa.String(80), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

address_change_requests = sa.Table(
    "address_change_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(20), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("serial", sa.String(32), nullable=False),
    sa.Column("line1", sa.String(100), nullable=False),
    sa.Column("line2", sa.String(100), nullable=False),
    sa.Column("postal_code", sa.String(12), nullable=False),
    sa.Column("city", sa.String(80), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("move_on", sa.Date, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Column("note", sa.String(500), nullable=False),
    sa.Index("ix_address_change_requests_status", "status", "requested_at"),
    sa.Index("ix_address_change_requests_customer_serial", "customer_number", "serial"),
)


class ContractRepository(Protocol):
    """What the contracts use cases read and write."""

    def number_taken(self, number: str) -> bool: ...

    def add(self, contract: Contract) -> Contract:
        """Store a new contract (its ``id`` is ignored); returns it with its id."""
        ...

    def get(self, number: str) -> Contract | None: ...

    def of_customer(self, customer_number: str, serial: str | None = None) -> list[Contract]:
        """The customer's contracts (of one serial), oldest start first."""
        ...

    def cancel(self, contract_id: int, at: datetime, reason: str) -> None: ...

    def running_on(self, day: date) -> list[Contract]:
        """Contracts not cancelled that started by ``day`` and may still run on it."""
        ...

    def billable_on(self, day: date) -> list[BillableContract]:
        """Contracts running on ``day``: not cancelled, started, not ended (a contract
        that does not renew ends with its first term)."""
        ...

    def record_reminder(self, contract_id: int, term: int, at: datetime) -> bool:
        """Note the reminder of ``term``; False when one was noted already (then
        nothing changes)."""
        ...

    def address(self, serial: str) -> InstallationAddress | None: ...

    def addresses(self, customer_number: str) -> dict[str, InstallationAddress]: ...

    def set_address(
        self, customer_number: str, serial: str, address: InstallationAddress, at: datetime
    ) -> None: ...


def _contract(row: Row[Any]) -> Contract:
    m = row._mapping
    return Contract(
        id=int(m["id"]),
        number=str(m["number"]),
        customer_number=str(m["customer_number"]),
        serial=str(m["serial"]),
        product_code=str(m["product_code"]),
        kind=ContractKind(m["kind"]),
        start=m["start"],
        term_months=int(m["term_months"]),
        terms=Terms(
            billing_period=BillingPeriod(m["billing_period"]),
            amount=Money(int(m["amount_mills"]), str(m["currency"])),
            notice_days=int(m["notice_days"]),
        ),
        auto_renew=bool(m["auto_renew"]),
        created_at=m["created_at"],
        cancelled_at=m["cancelled_at"],
        cancel_reason=str(m["cancel_reason"]),
    )


def _address(m: Any) -> InstallationAddress:
    return InstallationAddress(
        line1=str(m["line1"]),
        line2=str(m["line2"]),
        postal_code=str(m["postal_code"]),
        city=str(m["city"]),
        country=str(m["country"]),
    )


def _address_values(address: InstallationAddress) -> dict[str, str]:
    return {
        "line1": address.line1,
        "line2": address.line2,
        "postal_code": address.postal_code,
        "city": address.city,
        "country": address.country,
    }


def _insert(connection: Connection) -> Any:
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


class ContractStore:
    """``ContractRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def number_taken(self, number: str) -> bool:
        found = self._c.execute(sa.select(contracts.c.id).where(contracts.c.number == number))
        return found.first() is not None

    def add(self, contract: Contract) -> Contract:
        row = self._c.execute(
            contracts.insert()
            .values(
                number=contract.number,
                customer_number=contract.customer_number,
                serial=contract.serial,
                product_code=contract.product_code,
                kind=contract.kind.value,
                start=contract.start,
                term_months=contract.term_months,
                first_term_end=contract.first_term.end,
                billing_period=contract.terms.billing_period.value,
                amount_mills=contract.terms.amount.mills,
                currency=contract.terms.amount.currency,
                notice_days=contract.terms.notice_days,
                auto_renew=contract.auto_renew,
                created_at=contract.created_at,
                cancelled_at=contract.cancelled_at,
                cancel_reason=contract.cancel_reason,
            )
            .returning(*contracts.c)
        ).one()
        return _contract(row)

    def get(self, number: str) -> Contract | None:
        row = self._c.execute(sa.select(contracts).where(contracts.c.number == number)).first()
        return None if row is None else _contract(row)

    def of_customer(self, customer_number: str, serial: str | None = None) -> list[Contract]:
        query = sa.select(contracts).where(contracts.c.customer_number == customer_number)
        if serial is not None:
            query = query.where(contracts.c.serial == serial)
        rows = self._c.execute(query.order_by(contracts.c.start, contracts.c.id))
        return [_contract(row) for row in rows]

    def cancel(self, contract_id: int, at: datetime, reason: str) -> None:
        self._c.execute(
            contracts.update()
            .where(contracts.c.id == contract_id, contracts.c.cancelled_at.is_(None))
            .values(cancelled_at=at, cancel_reason=reason)
        )

    def running_on(self, day: date) -> list[Contract]:
        t = contracts
        rows = self._c.execute(
            sa.select(t)
            .where(
                t.c.cancelled_at.is_(None),
                t.c.start <= day,
                sa.or_(t.c.auto_renew.is_(True), t.c.first_term_end >= day),
            )
            .order_by(t.c.id)
        )
        return [_contract(row) for row in rows]

    def billable_on(self, day: date) -> list[BillableContract]:
        t = contracts
        rows = self._c.execute(
            sa.select(
                t.c.number,
                t.c.customer_number,
                t.c.serial,
                t.c.product_code,
                t.c.kind,
                t.c.start,
                t.c.billing_period,
                t.c.amount_mills,
                t.c.currency,
            )
            .where(
                t.c.cancelled_at.is_(None),
                t.c.start <= day,
                sa.or_(t.c.auto_renew.is_(True), t.c.first_term_end >= day),
            )
            .order_by(t.c.id)
        ).all()  # fetched at once: row by row, the driver answers a call per row
        return [BillableContract._make(row) for row in rows]

    def record_reminder(self, contract_id: int, term: int, at: datetime) -> bool:
        t = contract_reminders
        # ON CONFLICT DO NOTHING waits for a concurrent insert of the same key and then
        # inserts nothing: exactly one of two racing workers sees a row inserted.
        inserted = self._c.execute(
            _insert(self._c)(t)
            .values(contract_id=contract_id, term=term, sent_at=at)
            .on_conflict_do_nothing(index_elements=[t.c.contract_id, t.c.term])
            .returning(t.c.term)
        ).first()
        return inserted is not None

    def address(self, serial: str) -> InstallationAddress | None:
        t = installation_addresses
        row = self._c.execute(sa.select(t).where(t.c.serial == serial)).first()
        return None if row is None else _address(row._mapping)

    def addresses(self, customer_number: str) -> dict[str, InstallationAddress]:
        t = installation_addresses
        rows = self._c.execute(sa.select(t).where(t.c.customer_number == customer_number))
        return {str(row.serial): _address(row._mapping) for row in rows}

    def set_address(
        self, customer_number: str, serial: str, address: InstallationAddress, at: datetime
    ) -> None:
        t = installation_addresses
        values = {**_address_values(address), "customer_number": customer_number, "updated_at": at}
        self._c.execute(
            _insert(self._c)(t)
            .values(serial=serial, **values)
            .on_conflict_do_update(index_elements=[t.c.serial], set_=values)
        )


def _request(row: Row[Any]) -> AddressRequest:
    m = row._mapping
    return AddressRequest(
        reference=str(m["reference"]),
        change=AddressChange(
            customer_number=str(m["customer_number"]),
            serial=str(m["serial"]),
            address=_address(m),
            move_on=m["move_on"],
            requested_by=str(m["requested_by"]),
            requested_at=m["requested_at"],
        ),
        status=AddressRequestStatus(m["status"]),
        resolved_at=m["resolved_at"],
        resolved_by=None if m["resolved_by"] is None else str(m["resolved_by"]),
        note=str(m["note"]),
    )


class KeptAddressRequests:
    """The default ``InstallationAddressRequests``: requests are kept in a table that
    staff list (``postroom equipment address-requests``) and resolve, until the support
    area takes them over as cases."""

    def hand_over(
        self, connection: Connection, change: AddressChange, reference: str | None = None
    ) -> str:
        """Keep ``change`` for staff under ``reference`` (the support case's number when
        support took it), else under a new ``AR-`` reference."""
        if reference is None:
            reference = new_request_reference(change.requested_at.date())
            while self.reference_taken(connection, reference):  # a million a year: rarely
                reference = new_request_reference(change.requested_at.date())
        connection.execute(
            address_change_requests.insert().values(
                reference=reference,
                customer_number=change.customer_number,
                serial=change.serial,
                **_address_values(change.address),
                move_on=change.move_on,
                requested_by=change.requested_by,
                requested_at=change.requested_at,
                status=AddressRequestStatus.OPEN.value,
                note="",
            )
        )
        return reference

    def reference_taken(self, connection: Connection, reference: str) -> bool:
        t = address_change_requests
        return (
            connection.execute(sa.select(t.c.id).where(t.c.reference == reference)).first()
            is not None
        )

    def get(self, connection: Connection, reference: str) -> AddressRequest | None:
        t = address_change_requests
        row = connection.execute(sa.select(t).where(t.c.reference == reference)).first()
        return None if row is None else _request(row)

    def listed(
        self,
        connection: Connection,
        *,
        status: AddressRequestStatus | None = None,
        customer_number: str | None = None,
        serial: str | None = None,
        limit: int = 100,
    ) -> list[AddressRequest]:
        t = address_change_requests
        query = sa.select(t).order_by(t.c.requested_at, t.c.id).limit(limit)
        if status is not None:
            query = query.where(t.c.status == status.value)
        if customer_number is not None:
            query = query.where(t.c.customer_number == customer_number)
        if serial is not None:
            query = query.where(t.c.serial == serial)
        return [_request(row) for row in connection.execute(query)]

    def resolve(
        self,
        connection: Connection,
        reference: str,
        status: AddressRequestStatus,
        at: datetime,
        by: str,
        note: str,
    ) -> bool:
        """Close an open request; False when it was not open (nothing changes)."""
        t = address_change_requests
        done = connection.execute(
            t.update()
            .where(t.c.reference == reference, t.c.status == AddressRequestStatus.OPEN.value)
            .values(status=status.value, resolved_at=at, resolved_by=by, note=note)
        )
        return bool(done.rowcount == 1)
