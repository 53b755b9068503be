"""Tables and repository of the meter registry (SQLAlchemy Core).

``meters`` is the registry (one row per meter, keyed by serial); ``meter_pieces`` the
piece log uploaded at syncs (each piece once, with the usage transfer that records
it in the vault); ``meter_syncs`` one row per sync conversation; ``meter_alerts``
what reconciliation found; ``meter_provisioning`` the installation numbers issued
for shipped meters; ``meter_assets`` firmware images and graphics to install;
``meter_reminders`` the inspection warnings sent (one per meter, deadline and kind).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.db import UnitOfWork, UtcDateTime, metadata
from postroom.core.meters.model import (
    Alert,
    Meter,
    MeterStatus,
    Provisioned,
    StoredPiece,
)

meters = sa.Table(
    "meters",
    metadata,
    sa.Column("serial", sa.String(32), primary_key=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    # the account's number, kept with the meter (a meter never changes hands and a number
    # never changes), so that reading a meter needs no other area's table
    sa.Column("customer_number", sa.String(10), nullable=False),
    sa.Column("product_code", sa.String(20), nullable=False),
    sa.Column("model", sa.String(60), nullable=False),
    sa.Column("carrier", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("installation_number", sa.String(11), nullable=True, unique=True),
    sa.Column("public_key_pem", sa.Text, nullable=True),
    sa.Column("firmware", sa.String(40), nullable=True),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("graphics", sa.Text, nullable=False),
    sa.Column("ad_slogan", sa.String(200), nullable=False),
    sa.Column("cost_centers", sa.Text, nullable=False),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("last_sync_at", UtcDateTime, nullable=True),
    sa.Column("last_piece", sa.BigInteger, nullable=False),
    sa.Column("inspected_at", UtcDateTime, nullable=True),
    sa.Column("inspection_due_at", UtcDateTime, nullable=True),
    sa.Column("inspection_lock_at", UtcDateTime, nullable=True),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("key_prefix", sa.String(24), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Index("ix_meters_customer_account_id", "customer_account_id"),
)

meter_pieces = sa.Table(
    "meter_pieces",
    metadata,
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), primary_key=True),
    sa.Column("piece", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("mailing_date", sa.String(10), nullable=False),
    sa.Column("service", sa.String(80), nullable=False),
    sa.Column("origin_zip", sa.String(20), nullable=False),
    sa.Column("cost_center", sa.String(60), nullable=True),
    sa.Column("printed_at", UtcDateTime, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("usage_transfer_id", sa.String(64), nullable=False),
    sa.Column("recorded", sa.Boolean, nullable=False),
    sa.Column("uploaded_at", UtcDateTime, nullable=False),
    sa.Index("ix_meter_pieces_usage_transfer_id", "usage_transfer_id"),
)

meter_syncs = sa.Table(
    "meter_syncs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Index("ix_meter_syncs_serial", "serial"),
)

meter_alerts = sa.Table(
    "meter_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("fingerprint", sa.String(200), nullable=False, unique=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_meter_alerts_serial", "serial"),
)

meter_provisioning = sa.Table(
    "meter_provisioning",
    metadata,
    sa.Column("installation_number", sa.String(11), primary_key=True),
    sa.Column("product_code", sa.String(20), nullable=False),
    sa.Column("serial", sa.String(32), nullable=False, unique=True),
    sa.Column("issued_at", UtcDateTime, nullable=False),
)

meter_assets = sa.Table(
    "meter_assets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),  # firmware, graphics
    sa.Column("scope", sa.String(60), nullable=False),  # firmware: the model; graphics: serial
    sa.Column("name", sa.String(40), nullable=False),  # firmware: the version
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_meter_assets_kind", "kind", "scope"),
)

meter_reminders = sa.Table(
    "meter_reminders",
    metadata,
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), primary_key=True),
    sa.Column("deadline", UtcDateTime, primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("sent_at", UtcDateTime, nullable=False),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _meter(row: Row[tuple[object, ...]]) -> Meter:
    m = row._mapping
    return Meter(
        serial=str(m["serial"]),
        customer_account=str(m["customer_number"]),
        product_code=str(m["product_code"]),
        model=str(m["model"]),
        carrier=str(m["carrier"]),
        status=MeterStatus(str(m["status"])),
        registered_at=m["registered_at"],
        installation_number=m["installation_number"],
        public_key_pem=m["public_key_pem"],
        firmware=m["firmware"],
        features=json.loads(str(m["features"])),
        graphics=json.loads(str(m["graphics"])),
        ad_slogan=str(m["ad_slogan"]),
        cost_centers=tuple(json.loads(str(m["cost_centers"]))),
        last_sync_at=m["last_sync_at"],
        last_piece=int(m["last_piece"]),
        inspected_at=m["inspected_at"],
        inspection_due_at=m["inspection_due_at"],
        inspection_lock_at=m["inspection_lock_at"],
        device=json.loads(str(m["device"])),
        key_prefix=str(m["key_prefix"]),
    )


def _piece(row: Row[tuple[object, ...]]) -> StoredPiece:
    m = row._mapping
    return StoredPiece(
        serial=str(m["serial"]),
        piece=int(m["piece"]),
        mills=int(m["mills"]),
        currency=str(m["currency"]),
        mailing_date=str(m["mailing_date"]),
        service=str(m["service"]),
        origin_zip=str(m["origin_zip"]),
        cost_center=m["cost_center"],
        printed_at=m["printed_at"],
        request_id=str(m["request_id"]),
        usage_transfer_id=str(m["usage_transfer_id"]),
        recorded=bool(m["recorded"]),
    )


def _alert(row: Row[tuple[object, ...]]) -> Alert:
    m = row._mapping
    return Alert(
        id=int(m["id"]),
        serial=str(m["serial"]),
        kind=str(m["kind"]),
        message=str(m["message"]),
        created_at=m["created_at"],
        details=json.loads(str(m["details"])),
    )


@functools.cache
def _meters_of_customer() -> sa.Select[Any]:
    """A customer's meters (every dashboard reads them): built once, its cache key too."""
    return (
        sa.select(meters)
        .where(meters.c.customer_account_id == sa.bindparam("customer_account_id"))
        .order_by(meters.c.serial)
    )


class MeterRepository(Protocol):
    """The meter registry's reads and writes that the use cases need (``MeterStore`` on
    the database, an in-memory fake in the unit tests)."""

    def sync_counts(self) -> tuple[int, int]: ...

    # registry
    def get(self, serial: str, *, lock: bool = False) -> Meter | None: ...
    def find(self, customer_account_id: int | None = None) -> list[Meter]: ...
    def add(
        self, meter: Meter, customer_account_id: int, key_prefix: str, key_hash: str
    ) -> None: ...
    def update(self, serial: str, **values: Any) -> None:
        """Set the named fields of meter ``serial`` (``Meter``'s names, plus ``key_hash``)."""
        ...

    def key_hash(self, prefix: str) -> tuple[str, str] | None:
        """(serial, key hash) of the meter whose API key has ``prefix``."""
        ...

    # provisioning
    def add_provisioned(self, provisioned: Provisioned) -> None: ...
    def provisioned(
        self, *, number: str | None = None, serial: str | None = None
    ) -> Provisioned | None: ...
    def number_taken(self, number: str) -> bool: ...

    # the piece log
    def add_pieces(self, pieces: Sequence[StoredPiece], uploaded_at: datetime) -> None: ...
    def pieces(
        self, serial: str, *, limit: int = 50, unrecorded: bool = False
    ) -> list[StoredPiece]:
        """The newest ``limit`` pieces, newest first; or every piece not recorded in the
        vault yet, in piece order."""
        ...

    def pieces_numbered(self, serial: str, numbers: Iterable[int]) -> dict[int, StoredPiece]: ...
    def mark_recorded(self, serial: str, transfer_id: str) -> None: ...

    # syncs
    def add_sync(
        self, sync_id: str, serial: str, now: datetime, plan: Mapping[str, Any]
    ) -> None: ...
    def sync(self, sync_id: str) -> tuple[str, dict[str, Any], dict[str, Any] | None] | None:
        """(serial, plan, summary once finished) of sync ``sync_id``."""
        ...

    def finish_sync(self, sync_id: str, now: datetime, summary: Mapping[str, Any]) -> None: ...

    # alerts, assets, reminders
    def add_alert(
        self,
        serial: str,
        kind: str,
        fingerprint: str,
        message: str,
        details: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        """Open an alert unless one with this fingerprint exists; True when new."""
        ...

    def alerts(self, serial: str | None = None) -> list[Alert]: ...
    def add_asset(
        self, kind: str, scope: str, name: str, digest: str, data: bytes, now: datetime
    ) -> None: ...
    def latest_asset(
        self, kind: str, scope: str, name: str | None = None
    ) -> tuple[str, str, bytes] | None:
        """(name, digest, data) of the newest asset of ``kind`` for ``scope``."""
        ...

    def reminder_sent(self, serial: str, deadline: datetime, kind: str) -> bool: ...
    def add_reminder(self, serial: str, deadline: datetime, kind: str, now: datetime) -> bool:
        """Record a reminder unless it was sent; True when new."""
        ...


class MeterStore:
    """``MeterRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def sync_counts(self) -> tuple[int, int]:
        """(finished, unfinished) syncs ever started, for the operators' metrics."""
        finished = sa.func.count(meter_syncs.c.finished_at)
        query = sa.select(finished, sa.func.count() - finished).select_from(meter_syncs)
        row = self._c.execute(query).one()
        return int(row[0]), int(row[1])

    # -- registry --------------------------------------------------------------------

    def get(self, serial: str, *, lock: bool = False) -> Meter | None:
        query = sa.select(meters).where(meters.c.serial == serial)
        if lock and self._c.dialect.name == "postgresql":
            query = query.with_for_update(of=meters)
        row = self._c.execute(query).first()
        return None if row is None else _meter(row)

    def find(self, customer_account_id: int | None = None) -> list[Meter]:
        if customer_account_id is None:
            rows = self._c.execute(sa.select(meters).order_by(meters.c.serial))
        else:
            rows = self._c.execute(
                _meters_of_customer(), {"customer_account_id": customer_account_id}
            )
        return [_meter(r) for r in rows]

    def add(self, meter: Meter, customer_account_id: int, key_prefix: str, key_hash: str) -> None:
        self._c.execute(
            sa.insert(meters).values(
                serial=meter.serial,
                customer_account_id=customer_account_id,
                customer_number=meter.customer_account,
                product_code=meter.product_code,
                model=meter.model,
                carrier=meter.carrier,
                status=meter.status.value,
                installation_number=meter.installation_number,
                public_key_pem=meter.public_key_pem,
                firmware=meter.firmware,
                features=_dumps(meter.features),
                graphics=_dumps(meter.graphics),
                ad_slogan=meter.ad_slogan,
                cost_centers=_dumps(list(meter.cost_centers)),
                registered_at=meter.registered_at,
                last_sync_at=meter.last_sync_at,
                last_piece=meter.last_piece,
                inspected_at=meter.inspected_at,
                inspection_due_at=meter.inspection_due_at,
                inspection_lock_at=meter.inspection_lock_at,
                device=_dumps(meter.device),
                key_prefix=key_prefix,
                key_hash=key_hash,
            )
        )

    def update(self, serial: str, **values: Any) -> None:
        for name in ("features", "graphics", "device"):
            if name in values:
                values[name] = _dumps(values[name])
        if "cost_centers" in values:
            values["cost_centers"] = _dumps(list(values["cost_centers"]))
        if "status" in values:
            values["status"] = MeterStatus(values["status"]).value
        self._c.execute(sa.update(meters).where(meters.c.serial == serial).values(**values))

    def key_hash(self, prefix: str) -> tuple[str, str] | None:
        row = self._c.execute(
            sa.select(meters.c.serial, meters.c.key_hash).where(meters.c.key_prefix == prefix)
        ).first()
        return None if row is None else (str(row[0]), str(row[1]))

    # -- provisioning ----------------------------------------------------------------

    def add_provisioned(self, provisioned: Provisioned) -> None:
        self._c.execute(
            sa.insert(meter_provisioning).values(
                installation_number=provisioned.installation_number,
                product_code=provisioned.product_code,
                serial=provisioned.serial,
                issued_at=provisioned.issued_at,
            )
        )

    def provisioned(
        self, *, number: str | None = None, serial: str | None = None
    ) -> Provisioned | None:
        query = sa.select(meter_provisioning, meters.c.serial.label("registered")).outerjoin(
            meters, meters.c.serial == meter_provisioning.c.serial
        )
        if number is not None:
            query = query.where(meter_provisioning.c.installation_number == number)
        if serial is not None:
            query = query.where(meter_provisioning.c.serial == serial)
        row = self._c.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return Provisioned(
            installation_number=str(m["installation_number"]),
            product_code=str(m["product_code"]),
            serial=str(m["serial"]),
            issued_at=m["issued_at"],
            registered=m["registered"] is not None,
        )

    def number_taken(self, number: str) -> bool:
        return (
            self._c.execute(
                sa.select(meter_provisioning.c.serial).where(
                    meter_provisioning.c.installation_number == number
                )
            ).first()
            is not None
        )

    # -- pieces ----------------------------------------------------------------------

    def add_pieces(self, pieces: Sequence[StoredPiece], uploaded_at: datetime) -> None:
        values = [{**attrs.asdict(p), "uploaded_at": uploaded_at} for p in pieces]
        if values:
            self._c.execute(sa.insert(meter_pieces), values)

    def pieces(
        self, serial: str, *, limit: int = 50, unrecorded: bool = False
    ) -> list[StoredPiece]:
        query = sa.select(meter_pieces).where(meter_pieces.c.serial == serial)
        if unrecorded:
            query = query.where(meter_pieces.c.recorded.is_(False)).order_by(meter_pieces.c.piece)
        else:
            query = query.order_by(meter_pieces.c.piece.desc()).limit(limit)
        return [_piece(r) for r in self._c.execute(query)]

    def pieces_numbered(self, serial: str, numbers: Iterable[int]) -> dict[int, StoredPiece]:
        wanted = sorted(set(numbers))
        query = sa.select(meter_pieces).where(
            meter_pieces.c.serial == serial, meter_pieces.c.piece.in_(wanted)
        )
        return {p.piece: p for p in (_piece(r) for r in self._c.execute(query))}

    def mark_recorded(self, serial: str, transfer_id: str) -> None:
        self._c.execute(
            sa.update(meter_pieces)
            .where(meter_pieces.c.serial == serial, meter_pieces.c.usage_transfer_id == transfer_id)
            .values(recorded=True)
        )

    # -- syncs -----------------------------------------------------------------------

    def add_sync(self, sync_id: str, serial: str, now: datetime, plan: Mapping[str, Any]) -> None:
        self._c.execute(
            sa.insert(meter_syncs).values(
                id=sync_id, serial=serial, started_at=now, plan=_dumps(plan)
            )
        )

    def sync(self, sync_id: str) -> tuple[str, dict[str, Any], dict[str, Any] | None] | None:
        row = self._c.execute(sa.select(meter_syncs).where(meter_syncs.c.id == sync_id)).first()
        if row is None:
            return None
        m = row._mapping
        summary = None if m["summary"] is None else json.loads(str(m["summary"]))
        return str(m["serial"]), json.loads(str(m["plan"])), summary

    def finish_sync(self, sync_id: str, now: datetime, summary: Mapping[str, Any]) -> None:
        self._c.execute(
            sa.update(meter_syncs)
            .where(meter_syncs.c.id == sync_id)
            .values(finished_at=now, summary=_dumps(summary))
        )

    # -- alerts ----------------------------------------------------------------------

    def add_alert(
        self,
        serial: str,
        kind: str,
        fingerprint: str,
        message: str,
        details: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        """Open an alert unless one with this fingerprint exists; True when new."""
        exists = self._c.execute(
            sa.select(meter_alerts.c.id).where(meter_alerts.c.fingerprint == fingerprint)
        ).first()
        if exists is not None:
            return False
        self._c.execute(
            sa.insert(meter_alerts).values(
                serial=serial,
                kind=kind,
                fingerprint=fingerprint,
                message=message,
                details=_dumps(details),
                created_at=now,
            )
        )
        return True

    def alerts(self, serial: str | None = None) -> list[Alert]:
        query = sa.select(meter_alerts).order_by(meter_alerts.c.id)
        if serial is not None:
            query = query.where(meter_alerts.c.serial == serial)
        return [_alert(r) for r in self._c.execute(query)]

    # -- assets ----------------------------------------------------------------------

    def add_asset(
        self, kind: str, scope: str, name: str, digest: str, data: bytes, now: datetime
    ) -> None:
        self._c.execute(
            sa.insert(meter_assets).values(
                kind=kind, scope=scope, name=name, digest=digest, data=data, created_at=now
            )
        )

    def latest_asset(
        self, kind: str, scope: str, name: str | None = None
    ) -> tuple[str, str, bytes] | None:
        """(name, digest, data) of the newest asset of ``kind`` for ``scope``."""
        query = (
            sa.select(meter_assets.c.name, meter_assets.c.digest, meter_assets.c.data)
            .where(meter_assets.c.kind == kind, meter_assets.c.scope == scope)
            .order_by(meter_assets.c.id.desc())
            .limit(1)
        )
        if name is not None:
            query = query.where(meter_assets.c.name == name)
        row = self._c.execute(query).first()
        return None if row is None else (str(row[0]), str(row[1]), bytes(row[2]))

    # -- reminders -------------------------------------------------------------------

    def reminder_sent(self, serial: str, deadline: datetime, kind: str) -> bool:
        return (
            self._c.execute(
                sa.select(meter_reminders.c.serial).where(
                    meter_reminders.c.serial == serial,
                    meter_reminders.c.deadline == deadline,
                    meter_reminders.c.kind == kind,
                )
            ).first()
            is not None
        )

    def add_reminder(self, serial: str, deadline: datetime, kind: str, now: datetime) -> bool:
        if self.reminder_sent(serial, deadline, kind):
            return False
        self._c.execute(
            sa.insert(meter_reminders).values(
                serial=serial, deadline=deadline, kind=kind, sent_at=now
            )
        )
        return True


#: How a use case reaches the registry in its unit of work (the tests hand in a fake).
MeterRepositories = Callable[[UnitOfWork], MeterRepository]


def sql_meters(uow: UnitOfWork) -> MeterRepository:
    """The registry on the unit of work's database connection."""
    return MeterStore(uow.connection)
