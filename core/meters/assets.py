"""What the data center sends a meter at its syncs: features, cost centres, graphics and
the ad slogan set per meter, firmware published per model, and the rate package built
from the carrier's tables in force."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import NotFound, ValidationError
from postroom.core.meters import model
from postroom.core.meters.model import PRODUCTS, SLOGAN_GRAPHIC, Meter
from postroom.core.meters.registry import MeterRegistry, get_meter
from postroom.core.meters.store import MeterRepositories
from postroom.core.meters.sync import canonical
from postroom.core.rates.service import RatesService


class MeterAssets:
    """Set what a meter receives at its next sync, and read it back for the plan."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rates: RatesService,
        registry: MeterRegistry,
        meters: MeterRepositories,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rates = rates
        self._registry = registry
        self._meters = meters

    def set_features(self, serial: str, features: Mapping[str, bool]) -> Meter:
        clean = model.parse_features(features)
        return self._registry.update(serial, lambda m: {"features": {**m.features, **clean}})

    def set_cost_centers(self, serial: str, names: Sequence[str]) -> Meter:
        clean = model.parse_cost_centers(list(names))
        return self._registry.update(serial, lambda m: {"cost_centers": clean})

    def set_graphic(self, serial: str, name: str, data: bytes) -> Meter:
        """Assign a graphic (a logo, an ad) to the meter: installed at its next sync."""
        clean = model.parse_name(name, "graphic")
        raw = model.check_asset(data, "graphic")
        meter = self._registry.get(serial)
        digest = model.digest_of(raw)

        def work(uow: UnitOfWork) -> Meter:
            store = self._meters(uow)
            store.add_asset("graphics", meter.serial, clean, digest, raw, self._clock.now())
            current = get_meter(store, meter.serial, lock=True)
            store.update(meter.serial, graphics={**current.graphics, clean: digest})
            uow.commit()
            return get_meter(store, meter.serial)

        return self._db.run(work)

    def set_ad_slogan(self, serial: str, slogan: str) -> Meter:
        """The ad slogan printed next to the indicium; travels as the graphic
        ``ad-slogan`` (UTF-8 text)."""
        clean = model.parse_slogan(slogan)
        if clean:
            self.set_graphic(serial, SLOGAN_GRAPHIC, clean.encode("utf-8"))
        return self._registry.update(serial, lambda m: {"ad_slogan": clean})

    def publish_firmware(self, model_name: str, version: str, image: bytes) -> str:
        """Make ``version`` the target firmware of every meter of ``model_name``."""
        if model_name not in PRODUCTS.values():
            raise ValidationError(f"unknown meter model {model_name!r}", code="unknown_model")
        if not isinstance(version, str) or not 1 <= len(version.strip()) <= 40:
            raise ValidationError("a firmware version is 1-40 characters", code="invalid_version")
        raw = model.check_asset(image, "firmware")
        digest = model.digest_of(raw)

        def work(uow: UnitOfWork) -> str:
            self._meters(uow).add_asset(
                "firmware", model_name, version.strip(), digest, raw, self._clock.now()
            )
            uow.commit()
            return digest

        return self._db.run(work)

    def latest(
        self, kind: str, scope: str, name: str | None = None
    ) -> tuple[str, str, bytes] | None:
        """(name, digest, data) of the newest asset of ``kind`` (firmware of a model,
        graphics of a meter) for ``scope``."""
        return self._db.run(
            lambda uow: self._meters(uow).latest_asset(kind, scope, name), readonly=True
        )

    # -------------------------------------------------------------------- rate package

    def rate_package(self, carrier: str, on: date | None = None) -> bytes | None:
        """The rate tables a meter of ``carrier`` holds: every service's table in force,
        as one canonical JSON document; its SHA-256 is the ``rate_digest`` a print names.
        None when the carrier has no tables."""
        day = on or self._clock.now().date()
        tables = []
        for service in sorted({t.service for t in self._rates.list_tables(carrier)}):
            try:
                table = self._rates.in_force(carrier, service, day)
            except NotFound:
                continue
            tables.append(table.canonical())
        if not tables:
            return None
        return canonical({"carrier": carrier, "tables": tables})

    def rate_digest(self, serial: str) -> str | None:
        package = self.rate_package(self._registry.get(serial).carrier)
        return None if package is None else model.digest_of(package)
