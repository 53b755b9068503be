"""What ``postroom meter show|list`` and ``GET /api/v1/meters`` show of a meter.

A physical meter's registers are the ledger's meter account (funded by refills, drawn by
the usage its syncs upload). A virtual meter (PC postage, the kiosk) has no such account
to speak of: each print is charged to the postage account directly, and its own
registers, the piece count and the ascending register, are kept by every print. Its view
shows those, with the postage account's available funds as its descending register (what
it can still print), so a customer sees the same numbers the indicia carry.
"""

from __future__ import annotations

import builtins
from typing import Any

from postroom.core.db import Database, UnitOfWork
from postroom.core.ledger.service import LedgerService
from postroom.core.meters.model import Meter
from postroom.core.meters.service import MetersService
from postroom.core.meters.virtual import VIRTUAL_PRODUCT
from postroom.core.meters.virtual_store import VirtualMeterStore


class MeterViews:
    def __init__(self, db: Database, meters: MetersService, ledger: LedgerService) -> None:
        self._db = db
        self._meters = meters
        self._ledger = ledger

    def list(self, customer_number: str | None = None) -> builtins.list[dict[str, Any]]:
        """Registered meters (all, or one customer's) with their registers."""
        found = self._meters.list(customer_number)
        views = [self._meters.summary(meter) for meter in found]
        return self._with_virtual_registers(found, views)

    def details(self, serial: str, *, pieces: int = 50) -> dict[str, Any]:
        """One meter: registry row, registers, last sync, inspection, piece log, alerts."""
        meter = self._meters.get(serial)
        view = self._meters.details(meter.serial, pieces=pieces)
        return self._with_virtual_registers([meter], [view])[0]

    def _with_virtual_registers(
        self, meters: builtins.list[Meter], views: builtins.list[dict[str, Any]]
    ) -> builtins.list[dict[str, Any]]:
        virtual = [m.serial for m in meters if m.product_code == VIRTUAL_PRODUCT]
        if not virtual:
            return views

        def read(uow: UnitOfWork) -> dict[str, tuple[int, int]]:
            return VirtualMeterStore(uow.connection).registers(virtual)

        kept = self._db.run(read, readonly=True)
        available: dict[str, int] = {}
        for meter, view in zip(meters, views, strict=True):
            if meter.serial not in kept:
                continue
            owner = meter.customer_account
            if owner not in available:
                account = self._ledger.balance(owner)
                available[owner] = account.balances.available + account.credit_limit
            count, ascending = kept[meter.serial]
            descending = max(available[owner], 0)
            view["registers"] = {
                **view["registers"],
                "descending_mills": descending,
                "ascending_mills": ascending,
                "control_sum_mills": ascending + descending,
                "pieces": count,
                "virtual": True,  # descending: the postage account's available funds
            }
        return views
