"""``pr.meters``: the meter registry and the data-center side of the sync conversation.

The vault owns the money: registering a meter opens its ledger account
(``pr.meters.funds.register_meter``), usage and applied tokens are recorded there
(``record_usage``, ``apply_reset_token``), and withdraw/replace move its funds. This
service keeps what a data center knows of each device and decides each sync
(``core/meters/sync.py``; docs/meters.md). It composes one part per responsibility:

- ``registry`` (``registry.py``): provisioning, registration, keys, the piece log,
  withdraw and replace;
- ``assets`` (``assets.py``): features, cost centres, graphics, firmware, rate package;
- ``syncs`` (``sync_service.py``, rules in ``sync_rules.py``): begin and finish a sync;
- ``tokens`` (``reset_tokens.py``): recording applied tokens, cancelling expired ones;
- ``alerts`` (``alerts.py``) and ``inspections`` (``inspections.py``);
- ``virtual`` (``virtual_service.py``): printing without a meter.

Each part reaches the registry through ``MeterRepositories`` (``store.py``): the SQL
repository by default, an in-memory one in the unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock, today
from postroom.core.db import Database
from postroom.core.ledger.service import LedgerService
from postroom.core.meters.alerts import MeterAlerts
from postroom.core.meters.assets import MeterAssets
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.inspections import MeterInspections
from postroom.core.meters.model import InspectionRules, Meter
from postroom.core.meters.printing import IndiciumCheck, verify_registered_indicium
from postroom.core.meters.refills import CancelledToken
from postroom.core.meters.registry import MeterRegistry
from postroom.core.meters.reset_tokens import ResetTokens
from postroom.core.meters.store import MeterRepositories, sql_meters
from postroom.core.meters.sync import SyncPlan, SyncReport, SyncResults, SyncSummary
from postroom.core.meters.sync_service import MeterSyncs
from postroom.core.meters.virtual import PrintedPostage
from postroom.core.meters.virtual_service import VirtualMeters
from postroom.core.outbox import Outbox
from postroom.core.rates.service import RatesService
from postroom.core.units import Weight


class MetersService:
    """``pr.meters``: meters registered to customers, and their syncs."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountsService,
        ledger: LedgerService,
        funds: MeterFunds,
        rates: RatesService,
        rules: InspectionRules | None = None,
        *,
        virtual_key: Callable[[], str],
        outbox: Outbox,
        secret: Callable[[], str],
        meters: MeterRepositories = sql_meters,
    ) -> None:
        self._clock = clock
        #: the money side of each meter: registers, refills, reset tokens, usage
        self.funds = funds
        self.rules = rules or InspectionRules()
        self.registry = MeterRegistry(db, clock, accounts, ledger, funds, self.rules, meters)
        self.assets = MeterAssets(db, clock, rates, self.registry, meters)
        self.meter_alerts = MeterAlerts(db, clock, outbox, meters)
        self.inspections = MeterInspections(db, clock, outbox, self.rules, self.registry, meters)
        self.tokens = ResetTokens(funds, outbox)
        self.syncs = MeterSyncs(
            db,
            clock,
            funds,
            self.rules,
            self.registry,
            self.assets,
            self.meter_alerts,
            self.tokens,
            meters,
            secret,
        )
        #: the data center's virtual meters (PC postage, the kiosk)
        self.virtual = VirtualMeters(db, clock, accounts, ledger, funds, rates, virtual_key)

        # the registry
        self.provision = self.registry.provision
        self.provisioned = self.registry.provisioned
        self.device_reset_key = self.registry.device_reset_key
        self.register = self.registry.register
        self.get = self.registry.get
        self.list = self.registry.list
        self.list_in = self.registry.list_in
        self.customer_meter = self.registry.customer_meter
        self.pieces = self.registry.pieces
        self.logged_pieces = self.registry.logged_pieces
        self.public_key = self.registry.public_key
        self.pin_public_key = self.registry.pin_public_key
        self.rotate_key = self.registry.rotate_key
        self.authenticate = self.registry.authenticate
        self.withdraw = self.registry.withdraw
        self.replace = self.registry.replace
        # what a sync sends
        self.set_features = self.assets.set_features
        self.set_cost_centers = self.assets.set_cost_centers
        self.set_graphic = self.assets.set_graphic
        self.set_ad_slogan = self.assets.set_ad_slogan
        self.publish_firmware = self.assets.publish_firmware
        self.rate_package = self.assets.rate_package
        self.rate_digest = self.assets.rate_digest
        # syncs, tokens, alerts, inspections
        self.begin_sync = self.syncs.begin
        self.finish_sync = self.syncs.finish
        self.sync_counts = self.syncs.counts
        self.cancel_expired_tokens = self.tokens.cancel_expired_tokens
        self.alerts = self.meter_alerts.list
        self.inspection = self.inspections.inspection
        self.send_inspection_reminders = self.inspections.send_reminders

    # ------------------------------------------------------- printing without a meter

    def print_postage(
        self,
        customer_number: str,
        carrier: str,
        service: str,
        weight: Weight,
        extras: Sequence[str] = (),
        cost_center: str | None = None,
        idempotency_key: str | None = None,
        *,
        origin_zip: str,
        printed_by: str | None = None,
    ) -> PrintedPostage:
        """Print one piece on the customer's virtual meter (``virtual_service.py``);
        ``printed_by`` names who printed it (a kiosk operator) in its ledger booking."""
        return self.virtual.print_postage(
            customer_number,
            carrier,
            service,
            weight,
            extras,
            cost_center,
            idempotency_key,
            origin_zip=origin_zip,
            printed_by=printed_by,
        )

    def printed_postage(self, customer_number: str, serial: str, piece: int) -> PrintedPostage:
        return self.virtual.printed(customer_number, serial, piece)

    def virtual_meter(self, customer_number: str) -> Meter:
        return self.virtual.meter(customer_number)

    def print_cost_centers(self, customer_number: str) -> tuple[str, ...]:
        return self.virtual.cost_centers(customer_number)

    # ----------------------------------------------------------------------- reading

    def details(self, serial: str, *, pieces: int = 50) -> dict[str, Any]:
        """Everything ``meter show`` and the API show: the registry row, the vault's
        registers, what the device last reported, the inspection and the piece log."""
        meter = self.get(serial)
        data = meter.to_json()
        data["registers"] = self.funds.registers(meter.serial).to_json()
        data["device_registers"] = meter.device.get("registers")
        data["device_firmware"] = meter.device.get("firmware")
        data["rate_digest"] = meter.device.get("rate_digest")
        data["inspection"] = self.inspection(meter)
        data["pieces"] = [p.to_json() for p in self.pieces(meter.serial, limit=pieces)]
        data["alerts"] = [a.to_json() for a in self.alerts(meter.serial)]
        return data

    def summary(self, meter: Meter) -> dict[str, Any]:
        data = meter.to_json()
        data["registers"] = self.funds.registers(meter.serial).to_json()
        return data

    def verify_indicium(self, image: bytes, serial: str | None = None) -> IndiciumCheck:
        """Check an indicium image with the key pinned for its meter (``serial``, or the
        meter the indicium names): ``printing.verify_registered_indicium``."""
        return verify_registered_indicium(
            image, self.public_key, today=today(self._clock), serial=serial
        )

    # ------------------------------------------------------------------------ sync

    def datacenter(self, serial: str) -> MeterDataCenter:
        """The in-process data center of meter ``serial`` (``sync.DataCenter``)."""
        return MeterDataCenter(self, self.get(serial).serial)

    def cancel_token(self, serial: str, sequence: int) -> CancelledToken:
        """Cancel one refill whose token expired unapplied and tell the customer, as the
        worker does; a cancellation run again tells nobody twice."""
        return self.tokens.cancel_token(self.get(serial).serial, sequence)


class MeterDataCenter:
    """The in-process ``sync.DataCenter`` of one meter."""

    def __init__(self, service: MetersService, serial: str) -> None:
        self.service = service
        self.serial = serial

    def begin(self, report: SyncReport) -> SyncPlan:
        return self.service.begin_sync(self.serial, report)

    def finish(self, results: SyncResults) -> SyncSummary:
        return self.service.finish_sync(self.serial, results)
