"""Rates use cases (``pr.rates``): publish tables, look them up by date, quote, compare.

Published tables are immutable, so their parsed and compiled forms are cached in memory
by digest, and which versions each service has is kept in memory too: a quote then reads
nothing from the database (zoned pieces read their zone). A table this process publishes
is seen at once; one published by another process within ``VERSIONS_FRESH_SECONDS``
(tables are published ahead of their effective date, so a minute is harmless).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date

import attrs
from sqlalchemy.exc import IntegrityError

from postroom.core.clock import Clock, today
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import NotFound, PostroomError, ValidationError
from postroom.core.plugins import PluginManager
from postroom.core.rates.model import (
    BatchQuote,
    CompiledTable,
    NameCatalogue,
    NoRateTable,
    Piece,
    Quote,
    RateTable,
    RateTableConflict,
    TableRef,
    ZoneNotFound,
    quote,
    quote_batch,
    unknown,
)
from postroom.core.rates.store import RateRepository, StoredTable
from postroom.core.rates.tablefile import parse_zone_chart, read_rate_file
from postroom.core.units import Weight

log = logging.getLogger(__name__)

#: How long the versions read from the database are trusted before they are read again.
VERSIONS_FRESH_SECONDS = 60.0

Versions = dict[tuple[str, str], list[tuple[date, date | None, str]]]

_ZIP_RE = re.compile(r"([0-9]{5})(?:-?[0-9]{4})?")


@attrs.frozen
class ImportReport:
    """What an import or a sync did: tables added, tables already there, sources refused."""

    added: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()

    def __add__(self, other: ImportReport) -> ImportReport:
        return ImportReport(
            self.added + other.added, self.unchanged + other.unchanged, self.failed + other.failed
        )


@attrs.frozen
class Refusal:
    carrier: str
    service: str
    code: str
    message: str
    #: The currency of the table that refused the piece ("" when no table was found).
    currency: str = ""
    #: For ``over_limit``: the limit broken (``3.5 oz``, ``11.5 in``), which side of the
    #: piece (``length``, ``height``, ``thickness``; "" for its weight) and whether it is
    #: the ``max`` or the ``min``: a screen says it in its own words.
    limit: str = ""
    dimension: str = ""
    bound: str = ""
    #: The service's name in its table ("" when no table was found).
    name: str = ""


@attrs.frozen
class Comparison:
    """Every service that can carry the piece and why the others cannot.

    Prices are ranked only against prices in the same currency: ``options`` runs currency
    by currency (by code), cheapest first within each, and ``cheapest`` names one service
    per currency. A dollar price is never "cheaper" than a euro price.
    """

    options: tuple[Quote, ...]
    refused: tuple[Refusal, ...]

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted({option.total.currency for option in self.options}))

    def in_currency(self, currency: str) -> tuple[Quote, ...]:
        """The options priced in ``currency``, cheapest first."""
        return tuple(o for o in self.options if o.total.currency == currency)

    @property
    def cheapest(self) -> dict[str, Quote]:
        """The cheapest option of each currency, by currency code."""
        return {currency: self.in_currency(currency)[0] for currency in self.currencies}


def zip3(value: str, label: str) -> str:
    """The first three digits of a US ZIP code (``12345`` or ``12345-6789``)."""
    match = _ZIP_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(
            f"{label} ZIP code must be 5 digits (or ZIP+4), got {value!r}",
            code="invalid_zip",
            field=label,
        )
    return match.group(1)[:3]


class RatesService:
    def __init__(
        self,
        db: Database,
        plugins: PluginManager,
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._plugins = plugins
        self._clock = clock
        # a cache's age, not a business time: the injectable clock may stand still
        self._monotonic = monotonic
        self._cache: dict[str, tuple[RateTable, CompiledTable]] = {}
        self._versions: Versions | None = None
        self._versions_read_at = 0.0
        self._synced = False
        self._lock = threading.Lock()
        self._names = NameCatalogue()

    # -- publishing ----------------------------------------------------------------------------

    def sync_plugin_tables(self) -> ImportReport:
        """Load the tables every plugin registers; each file at once or not at all.

        Idempotent: a table already published (same digest) is left alone. A file that
        fails validation or conflicts with a published table is reported and skipped.
        """
        self._synced = True
        report = ImportReport()
        for sources in self._plugins.hook.register_rate_tables():
            for source in sources or ():
                name = str(getattr(source, "name", source))
                try:
                    if getattr(source, "format", "toml") != "toml":
                        raise ValidationError(
                            f"unsupported rate table format {source.format!r} (use toml)",
                            code="malformed_rate_file",
                        )
                    report += self.import_file(source.read_text(), name)
                except PostroomError as error:
                    log.error("rate table %s refused: %s", name, error.message)
                    report += ImportReport(failed=((name, f"{error.message} [{error.code}]"),))
                except Exception as error:  # a broken plugin must not stop postroom
                    log.exception("rate table source %s failed", name)
                    report += ImportReport(failed=((name, f"{type(error).__name__}: {error}"),))
        return report

    def import_file(self, text: str, name: str = "<file>") -> ImportReport:
        """Validate a rate file, then publish all its tables in one transaction."""
        tables, names = read_rate_file(text, name)

        def work(uow: UnitOfWork) -> ImportReport:
            repository = RateRepository(uow.connection)
            added: list[str] = []
            unchanged: list[str] = []
            now = self._clock.now()
            for table in tables:
                if repository.add(table, table.digest, name, now):
                    added.append(table.label)
                else:
                    unchanged.append(table.label)
            uow.commit()
            return ImportReport(tuple(added), tuple(unchanged))

        self._versions = None  # this process sees its own tables at once

        try:
            report = self._db.run(work)
        except IntegrityError:
            # another process published the same tables at the same moment: look again
            report = self._db.run(work)
        self._names = self._names + names
        return report

    def names(self) -> NameCatalogue:
        """Names of services and extra services in other languages, from the rate files
        the plugins ship (and the files imported by this process). Not stored: a
        translation is not part of a published table (docs/rates.md)."""
        self._ensure_synced()
        return self._names

    def import_zones(self, carrier: str, text: str, name: str = "<zones>") -> int:
        """Load an origin-ZIP3 x destination-ZIP3 zone chart (CSV) for ``carrier``.

        Validated whole first; the rows of every origin in the file replace that
        origin's previous rows, in one transaction. Returns the number of pairs.
        """
        chart = parse_zone_chart(text, name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", carrier or ""):
            raise ValidationError(f"invalid carrier code {carrier!r}", code="invalid_carrier")

        def work(uow: UnitOfWork) -> int:
            count = RateRepository(uow.connection).put_zones(carrier, chart)
            uow.commit()
            return count

        return self._db.run(work)

    # -- reading -------------------------------------------------------------------------------

    def _ensure_synced(self) -> None:
        if not self._synced:
            with self._lock:
                if not self._synced:
                    self.sync_plugin_tables()

    def list_tables(
        self, carrier: str | None = None, service: str | None = None
    ) -> list[StoredTable]:
        self._ensure_synced()
        return self._db.run(
            lambda uow: RateRepository(uow.connection).list_tables(carrier, service), readonly=True
        )

    def get(self, digest: str) -> RateTable:
        """The table with this digest (or a unique prefix of at least 8 characters)."""
        self._ensure_synced()

        def work(uow: UnitOfWork) -> str:
            repository = RateRepository(uow.connection)
            found = repository.find_digest(digest.lower()) if len(digest) >= 8 else []
            if len(found) != 1:
                problem = "is ambiguous" if found else "matches no rate table"
                raise NotFound(f"digest {digest!r} {problem}", code="unknown_rate_table")
            return found[0]

        return self._load(self._db.run(work, readonly=True))[0]

    def in_force(self, carrier: str, service: str, on: date | None = None) -> RateTable:
        """The table of ``carrier``/``service`` in force on ``on`` (default: today)."""
        self._ensure_synced()
        day = on or today(self._clock)
        return self._in_force(carrier, service, day)[0]

    def _all_versions(self) -> Versions:
        """Every service's versions, read again when older than ``VERSIONS_FRESH_SECONDS``."""
        versions, now = self._versions, self._monotonic()
        if versions is None or now - self._versions_read_at > VERSIONS_FRESH_SECONDS:
            versions = self._db.run(
                lambda uow: RateRepository(uow.connection).all_versions(), readonly=True
            )
            self._versions, self._versions_read_at = versions, now
        return versions

    def _load(self, digest: str) -> tuple[RateTable, CompiledTable]:
        cached = self._cache.get(digest)
        if cached is None:
            table = self._db.run(
                lambda uow: RateRepository(uow.connection).content(digest), readonly=True
            )
            if table is None:  # pragma: no cover - the digest was just read
                raise NotFound(f"rate table {digest} vanished", code="unknown_rate_table")
            cached = (table, CompiledTable(table, digest))
            self._cache[digest] = cached
        return cached

    def _in_force(
        self, carrier: str, service: str, day: date
    ) -> tuple[RateTable, CompiledTable, str]:
        everything = self._all_versions()
        versions = everything.get((carrier, service))
        if not versions:
            keys = sorted(everything)
            carriers = sorted({c for c, _ in keys})
            raise unknown(carrier, service, carriers, [s for c, s in keys if c == carrier])
        chosen: tuple[date, date | None, str] | None = None
        for version in versions:
            if version[0] <= day:
                chosen = version
        if chosen is None or (chosen[1] is not None and day >= chosen[1]):
            raise NoRateTable(
                f"no {carrier} {service} rate table in force on {day.isoformat()} "
                f"(tables from {versions[0][0].isoformat()})",
                carrier=carrier,
                service=service,
                date=day.isoformat(),
            )
        table, compiled = self._load(chosen[2])
        return table, compiled, chosen[2]

    def _zone(
        self,
        compiled: CompiledTable,
        zone: str | None,
        origin: str | None,
        destination: str | None,
    ) -> str | None:
        if not compiled.zoned or zone is not None:
            return zone
        if origin is None or destination is None:
            return None  # the engine says a zone is needed
        carrier = compiled.table.carrier
        low, high = zip3(origin, "origin"), zip3(destination, "destination")
        found = self._db.run(
            lambda uow: RateRepository(uow.connection).zone(carrier, low, high), readonly=True
        )
        if found is None:
            raise ZoneNotFound(
                f"the {carrier} zone chart has no zone from {origin} to {destination}: "
                "load one with `postroom rates import-zones`",
                carrier=carrier,
            )
        return found

    # -- quoting -------------------------------------------------------------------------------

    def quote(
        self,
        piece: Piece,
        carrier: str,
        service: str,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        zone: str | None = None,
        origin: str | None = None,
        destination: str | None = None,
    ) -> Quote:
        """Price one piece on the table in force on ``on`` (default: today)."""
        self._ensure_synced()
        day = on or today(self._clock)

        table, compiled, digest = self._in_force(carrier, service, day)
        where = self._zone(compiled, zone, origin, destination)
        return quote(table, piece, extras, where, compiled=compiled, digest=digest)

    def quote_batch(
        self,
        weights: Iterable[Weight],
        carrier: str,
        service: str,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        zone: str | None = None,
        origin: str | None = None,
        destination: str | None = None,
    ) -> BatchQuote:
        """Price a mail run (many pieces, one service, one zone) with per-piece prices."""
        self._ensure_synced()
        day = on or today(self._clock)

        table, compiled, digest = self._in_force(carrier, service, day)
        where = self._zone(compiled, zone, origin, destination)
        return quote_batch(table, weights, extras, where, compiled=compiled, digest=digest)

    def compare(
        self,
        piece: Piece,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        origin: str | None = None,
        destination: str | None = None,
        carriers: Sequence[str] | None = None,
        shapes: Sequence[str] | None = None,
    ) -> Comparison:
        """Every loaded service that can carry ``piece``, cheapest first (by currency).

        The rules are ``quote``'s (a postcard price needs the card's dimensions); every
        service not offered is listed with the reason. With ``shapes``, only the services
        whose table prices one of those shapes (``SHAPES``) are compared at all.
        """
        self._ensure_synced()
        day = on or today(self._clock)

        options: list[Quote] = []
        refused: list[Refusal] = []
        services = sorted(self._all_versions())
        known = sorted({carrier for carrier, _ in services})
        for wanted in carriers or ():
            if wanted not in known:
                raise unknown(wanted, "", known, [])
        for carrier, service in services:
            if carriers is not None and carrier not in carriers:
                continue
            currency = name = ""
            try:
                table, compiled, digest = self._in_force(carrier, service, day)
                if shapes is not None and table.shape not in shapes:
                    continue
                currency, name = table.currency, table.name
                where = self._zone(compiled, None, origin, destination)
                options.append(quote(table, piece, extras, where, compiled=compiled, digest=digest))
            except PostroomError as error:
                refused.append(
                    Refusal(
                        carrier,
                        service,
                        error.code,
                        error.message,
                        currency,
                        str(error.details.get("limit", "")),
                        str(error.details.get("dimension", "")),
                        str(
                            error.details.get("bound", "max" if error.code == "over_limit" else "")
                        ),
                        name,
                    )
                )
        options.sort(key=lambda q: (q.total.currency, q.total.mills, q.table.carrier))
        return Comparison(tuple(options), tuple(refused))


__all__ = [
    "Comparison",
    "ImportReport",
    "RateTableConflict",
    "RatesService",
    "Refusal",
    "TableRef",
    "zip3",
]
