"""Rates storage: published rate tables (immutable, by digest) and ZIP3 zone charts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.db import metadata
from postroom.core.rates.model import RateTable, RateTableConflict

rate_tables = sa.Table(
    "rate_tables",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("carrier", sa.String(60), nullable=False),
    sa.Column("service", sa.String(60), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("effective_until", sa.Date, nullable=True),
    sa.Column("source_document", sa.Text, nullable=False),
    sa.Column("source_url", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("origin", sa.String(300), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("carrier", "service", "effective_from"),
)

rate_zones = sa.Table(
    "rate_zones",
    metadata,
    sa.Column("carrier", sa.String(60), primary_key=True),
    sa.Column("origin_zip3", sa.String(3), primary_key=True),
    sa.Column("destination_zip3", sa.String(3), primary_key=True),
    sa.Column("zone", sa.String(8), nullable=False),
)


@attrs.frozen
class StoredTable:
    """A published table as listed: what it is, where it came from, when it was loaded."""

    digest: str
    carrier: str
    service: str
    name: str
    currency: str
    effective_from: date
    effective_until: date | None
    source_document: str
    source_url: str
    origin: str
    loaded_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row[tuple[object, ...]]) -> StoredTable:
        return cls(
            digest=row.digest,
            carrier=row.carrier,
            service=row.service,
            name=row.name,
            currency=row.currency,
            effective_from=row.effective_from,
            effective_until=row.effective_until,
            source_document=row.source_document,
            source_url=row.source_url,
            origin=row.origin,
            loaded_at=row.loaded_at,
        )


_SUMMARY = [c for c in rate_tables.c if c.name not in ("id", "content")]


class RateRepository:
    """Rate tables and zone charts; runs inside the caller's unit of work."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def digests(self) -> set[str]:
        return set(self._connection.execute(sa.select(rate_tables.c.digest)).scalars())

    def add(self, table: RateTable, digest: str, origin: str, now: datetime) -> bool:
        """Publish ``table``; False if this very table is already there.

        A different table for the same carrier, service and date is a conflict: a
        published table never changes.
        """
        existing = self._connection.execute(
            sa.select(rate_tables.c.digest).where(
                rate_tables.c.carrier == table.carrier,
                rate_tables.c.service == table.service,
                rate_tables.c.effective_from == table.effective_from,
            )
        ).scalar()
        if existing == digest:
            return False
        if existing is not None:
            raise RateTableConflict(
                f"{table.label} is already published with digest {existing[:12]}; a published "
                "table never changes: publish a new version with a later effective_from",
                label=table.label,
                digest=existing,
            )
        self._connection.execute(
            sa.insert(rate_tables).values(
                digest=digest,
                carrier=table.carrier,
                service=table.service,
                name=table.name,
                currency=table.currency,
                effective_from=table.effective_from,
                effective_until=table.effective_until,
                source_document=table.source.document,
                source_url=table.source.url,
                content=table.canonical_json(),
                origin=origin,
                loaded_at=now,
            )
        )
        return True

    def list_tables(
        self, carrier: str | None = None, service: str | None = None
    ) -> list[StoredTable]:
        query = sa.select(*_SUMMARY).order_by(
            rate_tables.c.carrier, rate_tables.c.service, rate_tables.c.effective_from
        )
        if carrier is not None:
            query = query.where(rate_tables.c.carrier == carrier)
        if service is not None:
            query = query.where(rate_tables.c.service == service)
        return [StoredTable.from_row(row) for row in self._connection.execute(query)]

    def versions(self, carrier: str, service: str) -> list[tuple[date, date | None, str]]:
        """(effective_from, effective_until, digest) of each version, oldest first."""
        query = (
            sa.select(
                rate_tables.c.effective_from, rate_tables.c.effective_until, rate_tables.c.digest
            )
            .where(rate_tables.c.carrier == carrier, rate_tables.c.service == service)
            .order_by(rate_tables.c.effective_from)
        )
        return [(row[0], row[1], str(row[2])) for row in self._connection.execute(query)]

    def all_versions(self) -> dict[tuple[str, str], list[tuple[date, date | None, str]]]:
        """``versions`` of every (carrier, service), in one query."""
        query = sa.select(
            rate_tables.c.carrier,
            rate_tables.c.service,
            rate_tables.c.effective_from,
            rate_tables.c.effective_until,
            rate_tables.c.digest,
        ).order_by(rate_tables.c.carrier, rate_tables.c.service, rate_tables.c.effective_from)
        found: dict[tuple[str, str], list[tuple[date, date | None, str]]] = {}
        for row in self._connection.execute(query):
            found.setdefault((row[0], row[1]), []).append((row[2], row[3], str(row[4])))
        return found

    def content(self, digest: str) -> RateTable | None:
        text = self._connection.execute(
            sa.select(rate_tables.c.content).where(rate_tables.c.digest == digest)
        ).scalar()
        return None if text is None else RateTable.from_canonical(json.loads(text))

    def find_digest(self, prefix: str) -> list[str]:
        query = sa.select(rate_tables.c.digest).where(rate_tables.c.digest.startswith(prefix))
        return list(self._connection.execute(query.limit(2)).scalars())

    # -- zones --

    def put_zones(self, carrier: str, chart: Mapping[tuple[str, str], str]) -> int:
        """Add or replace the zones of ``chart`` for ``carrier``; the number of pairs."""
        pairs: Iterable[tuple[str, str]] = chart.keys()
        origins = sorted({origin for origin, _ in pairs})
        for start in range(0, len(origins), 500):
            self._connection.execute(
                sa.delete(rate_zones).where(
                    rate_zones.c.carrier == carrier,
                    rate_zones.c.origin_zip3.in_(origins[start : start + 500]),
                )
            )
        rows = [
            {"carrier": carrier, "origin_zip3": o, "destination_zip3": d, "zone": z}
            for (o, d), z in chart.items()
        ]
        for start in range(0, len(rows), 1000):
            self._connection.execute(sa.insert(rate_zones), rows[start : start + 1000])
        return len(rows)

    def zone(self, carrier: str, origin_zip3: str, destination_zip3: str) -> str | None:
        value = self._connection.execute(
            sa.select(rate_zones.c.zone).where(
                rate_zones.c.carrier == carrier,
                rate_zones.c.origin_zip3 == origin_zip3,
                rate_zones.c.destination_zip3 == destination_zip3,
            )
        ).scalar()
        return None if value is None else str(value)
