"""``pr.meters``: the meter registry and the data-center side of the sync conversation.

The vault owns the money: registering a meter opens its ledger account
(``pr.meters.funds.register_meter``), usage and applied tokens are recorded there
(``record_usage``, ``apply_reset_token``), and withdraw/replace move its funds. This
service keeps what a data center knows of each device and decides each sync
(``core/meters/sync.py``; docs/meters.md).
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock, today
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PostroomError,
    Unauthenticated,
    ValidationError,
)
from postroom.core.ledger.service import LedgerService
from postroom.core.meters import model
from postroom.core.meters import tokens as prt
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import (
    CARRIER_BY_COUNTRY,
    PRODUCTS,
    SLOGAN_GRAPHIC,
    Alert,
    InspectionRules,
    Meter,
    MeterStatus,
    Provisioned,
    RegisteredMeter,
    StoredPiece,
)
from postroom.core.meters.printing import IndiciumCheck, verify_registered_indicium
from postroom.core.meters.refills import CancelledToken, IssuedToken, token_cancellable
from postroom.core.meters.store import MeterStore
from postroom.core.meters.sync import (
    InstallStep,
    SyncPlan,
    SyncReport,
    SyncResults,
    SyncSummary,
    TokenStep,
    Wanted,
    canonical,
    decide,
    expected_control,
    load_public_key,
    verify_signed,
)
from postroom.core.meters.virtual import VIRTUAL_PRODUCT, PrintedPostage
from postroom.core.meters.virtual_service import VirtualMeters
from postroom.core.money import Money
from postroom.core.outbox import CUSTOMER_PREFIX, Outbox
from postroom.core.ports import Notification
from postroom.core.rates.service import RatesService
from postroom.core.units import Weight

log = logging.getLogger(__name__)

#: A token this close to its expiry is not sent to a device any more.
TOKEN_MARGIN = timedelta(minutes=5)
DATA_CENTER = "data-center"
MAX_PIECES_PER_SYNC = 100_000


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
    ) -> None:
        self._secret = secret
        self._db = db
        self._outbox = outbox
        self._clock = clock
        self._accounts = accounts
        self._ledger = ledger
        #: the money side of each meter: registers, refills, reset tokens, usage
        self.funds = funds
        self._rates = rates
        self.rules = rules or InspectionRules()
        #: the data center's virtual meters (PC postage, the kiosk)
        self.virtual = VirtualMeters(db, clock, accounts, ledger, funds, rates, virtual_key)

    def sync_counts(self) -> tuple[int, int]:
        """(finished, unfinished) syncs ever started, for the metrics."""
        return self._db.run(lambda uow: MeterStore(uow.connection).sync_counts(), readonly=True)

    # ------------------------------------------------------------------ provisioning

    def provision(self, product_code: str, serial: str) -> Provisioned:
        """Make a meter ready for shipping: its 11-digit installation account number.

        Idempotent per serial (the same product code hands back the same number).
        """
        code = model.parse_product_code(product_code)
        clean = model.parse_serial(serial)

        def work(uow: UnitOfWork) -> Provisioned:
            store = MeterStore(uow.connection)
            found = store.provisioned(serial=clean)
            if found is not None:
                if found.product_code != code:
                    raise Conflict(
                        f"meter {clean} was provisioned as {found.product_code}",
                        code="meter_exists",
                    )
                return found
            number = model.new_installation_number()
            while store.number_taken(number):
                number = model.new_installation_number()
            provisioned = Provisioned(number, code, clean, self._clock.now())
            store.add_provisioned(provisioned)
            uow.commit()
            return provisioned

        return self._db.run(work)

    def device_reset_key(self, serial: str) -> bytes:
        """The reset-token key to load into meter ``serial``'s device before it ships: the
        device checks this data center's refills with it. Secret; never sent at a sync."""
        return self.funds.device_reset_key(model.parse_serial(serial))

    def provisioned(self, installation_number: str) -> Provisioned:
        number = model.parse_installation_number(installation_number)

        def work(uow: UnitOfWork) -> Provisioned:
            found = MeterStore(uow.connection).provisioned(number=number)
            if found is None:
                raise NotFound(
                    f"no meter was shipped with installation number {number}",
                    code="installation_number_unknown",
                )
            return found

        return self._db.run(work, readonly=True)

    # ------------------------------------------------------------------ registration

    def register(
        self,
        customer_number: str,
        *,
        product_code: str | None = None,
        serial: str | None = None,
        installation_number: str | None = None,
        public_key_pem: str | None = None,
        firmware: str | None = None,
        model_name: str | None = None,
        device_serial: str | None = None,
        carrier: str | None = None,
    ) -> RegisteredMeter:
        """Register a meter to a customer: by product code + serial, or by the
        installation number of its delivery note. Opens its vault account and issues
        its API key (``RegisteredMeter.api_key``, shown once).

        ``public_key_pem``, ``firmware``, ``model_name`` and ``device_serial`` are what
        the device said
        when it was connected at registration; without them the key is pinned at the
        first sync.
        """
        number: str | None = None
        if installation_number is not None:
            if product_code is not None or serial is not None:
                raise ValidationError(
                    "give an installation number, or a product code and a serial, not both",
                    code="invalid_registration",
                )
            provisioned = self.provisioned(installation_number)
            if provisioned.registered:
                raise Conflict(f"meter {provisioned.serial} is registered", code="meter_exists")
            code, clean, number = (
                provisioned.product_code,
                provisioned.serial,
                provisioned.installation_number,
            )
        else:
            if product_code is None or serial is None:
                raise ValidationError(
                    "give a product code and a serial, or an installation number",
                    code="invalid_registration",
                )
            code = model.parse_product_code(product_code)
            clean = model.parse_serial(serial)
        device_model = PRODUCTS[code]
        if device_serial is not None and device_serial != clean:
            raise ValidationError(
                f"the device connected is meter {device_serial}, not {clean}",
                code="serial_mismatch",
            )
        if model_name is not None and model_name != device_model:
            raise ValidationError(
                f"the device is a {model_name}, but product {code} is a {device_model}",
                code="model_mismatch",
            )
        if public_key_pem is not None:
            load_public_key(public_key_pem)
        customer = self._customer(customer_number)
        chosen = (carrier or CARRIER_BY_COUNTRY.get(customer.country, "usps")).strip().lower()
        operator = model.operator_of(chosen)
        if self._db.run(lambda uow: MeterStore(uow.connection).get(clean), readonly=True):
            raise Conflict(f"meter {clean} is registered", code="meter_exists")
        try:
            self.funds.register_meter(clean, customer.number, operator)
        except Conflict:
            # registered in the vault already (the demo's meter, or a retry): adopt it
            # when it is this customer's and active, never another's.
            registers = self.funds.registers(clean)
            if registers.customer_account_id != customer.id or registers.status != "active":
                raise
        key = model.new_meter_key()
        now = self._clock.now()
        meter = Meter(
            serial=clean,
            customer_account=customer.number,
            product_code=code,
            model=device_model,
            carrier=chosen,
            status=MeterStatus.ACTIVE,
            registered_at=now,
            installation_number=number,
            public_key_pem=public_key_pem,
            firmware=firmware,
            inspection_due_at=self.rules.due_at(now),
            inspection_lock_at=self.rules.lock_at(now),
            key_prefix=key.prefix,
        )

        def work(uow: UnitOfWork) -> Meter:
            store = MeterStore(uow.connection)
            if store.get(clean) is not None:
                raise Conflict(f"meter {clean} is registered", code="meter_exists")
            store.add(meter, customer.id, key.prefix, key.secret_hash)
            uow.commit()
            return meter

        return RegisteredMeter(self._db.run(work), key.token)

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

    def _customer(self, customer_number: str) -> CustomerAccount:
        return self._accounts.get(customer_number)

    # ----------------------------------------------------------------------- reading

    def get(self, serial: str) -> Meter:
        clean = serial.strip() if isinstance(serial, str) else ""
        try:
            model.parse_serial(clean)
        except ValidationError:  # no meter can have this serial
            raise NotFound(f"no meter {serial!r}", code="meter_not_found") from None
        return self._db.run(lambda uow: _get(MeterStore(uow.connection), clean), readonly=True)

    def list(self, customer_number: str | None = None) -> builtins.list[Meter]:
        customer_id = None if customer_number is None else self._customer(customer_number).id
        return self._db.run(lambda uow: MeterStore(uow.connection).find(customer_id), readonly=True)

    def list_in(self, uow: UnitOfWork, customer: CustomerAccount) -> builtins.list[Meter]:
        """The customer's registered meters inside the caller's unit of work."""
        return MeterStore(uow.connection).find(customer.id)

    def customer_meter(self, customer_number: str, serial: str) -> Meter:
        """The customer's meter; another customer's answers ``meter_not_found``."""
        meter = self.get(serial)
        if meter.customer_account != customer_number:
            raise NotFound(f"no meter {serial!r}", code="meter_not_found")
        return meter

    def pieces(self, serial: str, *, limit: int = 50) -> builtins.list[StoredPiece]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")
        clean = self.get(serial).serial
        return self._db.run(
            lambda uow: MeterStore(uow.connection).pieces(clean, limit=limit), readonly=True
        )

    def logged_pieces(
        self, customer_number: str, serial: str, pieces: Sequence[int]
    ) -> tuple[str, builtins.list[StoredPiece], dict[int, str] | None]:
        """The customer's meter ``serial``'s pieces numbered ``pieces`` as its syncs
        uploaded them (face value, mailing date): (serial, pieces by number, and for a
        virtual meter the transfer that charged each piece, else None). For a refund of
        logged pieces (``pr.refunds.request_logged``): the customer claims nothing the
        device did not print. ``piece_not_logged`` names any piece not uploaded."""
        numbers = list(pieces)
        if not numbers or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in numbers
        ):
            raise ValidationError("give one piece number or more", code="invalid_piece")
        meter = self.customer_meter(customer_number, serial)
        logged = self._db.run(
            lambda uow: MeterStore(uow.connection).pieces_numbered(meter.serial, numbers),
            readonly=True,
        )
        missing = sorted(set(numbers) - set(logged))
        if missing:
            raise NotFound(
                f"pieces {', '.join(map(str, missing))} of meter {meter.serial} are not in its "
                "uploaded piece log (connect the meter first)",
                code="piece_not_logged",
            )
        charged_by = None
        if meter.product_code == VIRTUAL_PRODUCT:  # each piece charged by its own transfer
            charged_by = {p.piece: p.usage_transfer_id for p in logged.values() if p.recorded}
        return meter.serial, [logged[n] for n in sorted(set(numbers))], charged_by

    def alerts(self, serial: str | None = None) -> builtins.list[Alert]:
        return self._db.run(lambda uow: MeterStore(uow.connection).alerts(serial), readonly=True)

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

    def inspection(self, meter: Meter) -> dict[str, Any]:
        base = meter.inspected_at or meter.registered_at
        now = self._clock.now()
        return {
            "last_inspection": None if meter.inspected_at is None else base.isoformat(),
            "due_at": self.rules.due_at(base).isoformat(),
            "lock_at": self.rules.lock_at(base).isoformat(),
            "status": self.rules.status(base, now),
        }

    # ------------------------------------------------------------------ what to send

    def set_features(self, serial: str, features: Mapping[str, bool]) -> Meter:
        clean = model.parse_features(features)
        return self._update(serial, lambda m: {"features": {**m.features, **clean}})

    def set_cost_centers(self, serial: str, names: Sequence[str]) -> Meter:
        clean = model.parse_cost_centers(list(names))
        return self._update(serial, lambda m: {"cost_centers": clean})

    def set_graphic(self, serial: str, name: str, data: bytes) -> Meter:
        """Assign a graphic (a logo, an ad) to the meter: installed at its next sync."""
        clean = model.parse_name(name, "graphic")
        raw = model.check_asset(data, "graphic")
        meter = self.get(serial)
        digest = model.digest_of(raw)

        def work(uow: UnitOfWork) -> Meter:
            store = MeterStore(uow.connection)
            store.add_asset("graphics", meter.serial, clean, digest, raw, self._clock.now())
            current = _get(store, meter.serial, lock=True)
            store.update(meter.serial, graphics={**current.graphics, clean: digest})
            uow.commit()
            return _get(store, meter.serial)

        return self._db.run(work)

    def set_ad_slogan(self, serial: str, slogan: str) -> Meter:
        """The ad slogan printed next to the indicium; travels as the graphic
        ``ad-slogan`` (UTF-8 text)."""
        clean = model.parse_slogan(slogan)
        if clean:
            self.set_graphic(serial, SLOGAN_GRAPHIC, clean.encode("utf-8"))
        return self._update(serial, lambda m: {"ad_slogan": clean})

    def publish_firmware(self, model_name: str, version: str, image: bytes) -> str:
        """Make ``version`` the target firmware of every meter of ``model_name``."""
        if model_name not in PRODUCTS.values():
            raise ValidationError(f"unknown meter model {model_name!r}", code="unknown_model")
        if not isinstance(version, str) or not 1 <= len(version.strip()) <= 40:
            raise ValidationError("a firmware version is 1-40 characters", code="invalid_version")
        raw = model.check_asset(image, "firmware")
        digest = model.digest_of(raw)

        def work(uow: UnitOfWork) -> str:
            MeterStore(uow.connection).add_asset(
                "firmware", model_name, version.strip(), digest, raw, self._clock.now()
            )
            uow.commit()
            return digest

        return self._db.run(work)

    def public_key(self, serial: str) -> str:
        """The public key (PEM) pinned for registered meter ``serial``: ``meter_not_found``
        for a serial the registry does not know, ``no_public_key`` before it is pinned."""
        meter = self.get(serial)
        if meter.public_key_pem is None:
            raise NotFound(
                f"meter {meter.serial} has no public key yet: register it with --port or sync it",
                code="no_public_key",
            )
        return meter.public_key_pem

    def verify_indicium(self, image: bytes, serial: str | None = None) -> IndiciumCheck:
        """Check an indicium image with the key pinned for its meter (``serial``, or the
        meter the indicium names): ``printing.verify_registered_indicium``."""
        return verify_registered_indicium(
            image, self.public_key, today=today(self._clock), serial=serial
        )

    def pin_public_key(self, serial: str, pem: str) -> Meter:
        load_public_key(pem)

        def changes(meter: Meter) -> dict[str, Any]:
            if meter.public_key_pem not in (None, pem):
                raise Conflict("the meter's public key is pinned already", code="public_key_pinned")
            return {"public_key_pem": pem}

        return self._update(serial, changes)

    def rotate_key(self, serial: str) -> str:
        """A new API key for the meter (the old one stops working); shown once."""
        key = model.new_meter_key()
        self._update(serial, lambda m: {"key_prefix": key.prefix, "key_hash": key.secret_hash})
        return key.token

    def authenticate(self, token: str) -> Meter:
        """The meter a meter key belongs to; Unauthenticated for anything else."""
        prefix, secret = model.split_meter_key(token)

        def work(uow: UnitOfWork) -> Meter:
            store = MeterStore(uow.connection)
            found = store.key_hash(prefix)
            if found is None or not model.meter_secret_matches(secret, found[1]):
                raise Unauthenticated("unknown meter key", code="invalid_meter_key")
            return _get(store, found[0])

        return self._db.run(work, readonly=True)

    def _update(self, serial: str, changes: Any) -> Meter:
        clean = serial.strip() if isinstance(serial, str) else ""

        def work(uow: UnitOfWork) -> Meter:
            store = MeterStore(uow.connection)
            meter = _get(store, clean, lock=True)
            store.update(meter.serial, **changes(meter))
            uow.commit()
            return _get(store, meter.serial)

        return self._db.run(work)

    # --------------------------------------------------------- withdraw and replace

    def withdraw(self, serial: str) -> tuple[Meter, int]:
        """Take the meter out of service: the vault returns its funds to the postage
        account; its next sync locks the device. Returns the meter and the mills moved."""
        meter = self.get(serial)
        moved = self._withdraw_funds(meter, f"mw:{meter.serial}")
        return self._update(meter.serial, lambda m: {"status": MeterStatus.WITHDRAWN}), moved

    def replace(self, old_serial: str, new_serial: str) -> tuple[Meter, Meter, int]:
        """Withdraw ``old_serial`` and refill ``new_serial`` (registered to the same
        customer) with its funds: a reset token the new device applies at its sync.

        The vault's ``replace_meter`` moves ledger funds only; the new device needs a
        token to hold them, so this is a withdrawal then a refill, each with an id
        derived from the old serial: run again after a crash, nothing moves twice.
        """
        old, new = self.get(old_serial), self.get(new_serial)
        if old.serial == new.serial:
            raise ValidationError("a meter cannot replace itself", code="same_meter")
        if new.customer_account != old.customer_account:
            raise ValidationError(
                "the new meter belongs to another customer", code="meter_mismatch"
            )
        if new.status is not MeterStatus.ACTIVE:
            raise Conflict(f"meter {new.serial} is withdrawn", code="meter_withdrawn")
        moved = self._withdraw_funds(old, f"mr:{old.serial}")
        if moved:
            registers = self.funds.registers(old.serial)
            self.funds.refill(
                new.serial,
                Money(moved, registers.currency),
                f"mr:{old.serial}:in",
                reference=f"replaces meter {old.serial}",
            )
        withdrawn = self._update(old.serial, lambda m: {"status": MeterStatus.WITHDRAWN})
        return withdrawn, self.get(new.serial), moved

    def _withdraw_funds(self, meter: Meter, transfer_id: str) -> int:
        try:
            done = self.funds.withdraw_meter(meter.serial, transfer_id)
        except Conflict as error:
            if error.code != "meter_withdrawn":
                raise
            try:  # withdrawn before: by this very id (a rerun), or by the vault directly
                item = self._ledger.customer_transfer(meter.customer_account, transfer_id)
            except NotFound:
                return 0
            return item.transfer.amount
        return 0 if done is None else done.amount

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
        package = self.rate_package(self.get(serial).carrier)
        return None if package is None else model.digest_of(package)

    # ------------------------------------------------------------------------ sync

    def datacenter(self, serial: str) -> MeterDataCenter:
        """The in-process data center of meter ``serial`` (``sync.DataCenter``)."""
        return MeterDataCenter(self, self.get(serial).serial)

    def begin_sync(self, serial: str, report: SyncReport) -> SyncPlan:
        meter = self.get(serial)
        now = self._clock.now()
        if report.serial != meter.serial:
            raise PermissionDenied(
                f"this conversation is for meter {meter.serial}, not {report.serial}",
                code="meter_mismatch",
            )
        pem = meter.public_key_pem
        if pem is None:
            load_public_key(report.public_key_pem)
            meter = self.pin_public_key(meter.serial, report.public_key_pem)
            pem = report.public_key_pem
        elif report.public_key_pem.strip() != pem.strip():
            self._alert(
                meter,
                "device_key_changed",
                f"key:{hashlib.sha256(report.public_key_pem.encode()).hexdigest()}",
                "the device presented another public key than the one pinned",
                {},
            )
            raise PermissionDenied(
                "the device's public key is not the one registered", code="device_key_mismatch"
            )
        try:
            body = verify_signed(pem, report.registers)
        except PermissionDenied:
            self._alert(
                meter,
                "signature_invalid",
                f"sig:{now.isoformat()}",
                "the device's registers did not verify",
                {},
            )
            raise
        registers = _registers_of(body, meter)
        if report.identity.get("model") != meter.model:
            raise PermissionDenied(
                f"the device is a {report.identity.get('model')}, registered as {meter.model}",
                code="model_mismatch",
            )
        diagnostics = dict(report.diagnostics)
        vault_meter = self.funds.registers(meter.serial)
        if registers["currency"] != vault_meter.currency:
            raise ValidationError(
                "the device's currency is not its account's", code="currency_mismatch"
            )

        sync_id = secrets.token_hex(16)
        issued = self.funds.issued_tokens(meter.serial)
        pending = _pending_tokens(issued, diagnostics, now)
        # withdrawn in the registry, or in the vault directly (`postroom vault withdraw-meter`)
        active = meter.status is MeterStatus.ACTIVE and vault_meter.status == "active"
        wanted = self._wanted(meter, active)
        # a cancelled token sent for its proof is no refill: without another, a sync
        # token records the inspection
        decision = decide(wanted, diagnostics, len([t for t in pending if not t.cancelled]))
        if decision.issue_sync_token:
            self.funds.issue_sync_token(meter.serial, f"sync:{sync_id}")
            pending = _pending_tokens(self.funds.issued_tokens(meter.serial), diagnostics, now)
        installs: builtins.list[InstallStep] = []
        if decision.install_rates:
            package = self.rate_package(meter.carrier)
            if package is not None:
                installs.append(InstallStep("rates", model.digest_of(package), package))
        if decision.install_firmware:
            found = self._asset("firmware", meter.model)
            if found is not None:
                installs.append(InstallStep("firmware", found[1], found[2], version=found[0]))
        for name in decision.graphics:
            found = self._asset("graphics", meter.serial, name)
            if found is not None:
                installs.append(InstallStep("graphics", found[1], found[2], name=name))
        plan = SyncPlan(
            sync_id=sync_id,
            serial=meter.serial,
            log_since=meter.last_piece,
            tokens=tuple(
                TokenStep(t.reset.sequence, t.token, t.reset.amount.mills)
                for t in (pending if decision.apply_tokens or decision.issue_sync_token else [])
            ),
            installs=tuple(installs),
            features=decision.features,
            lock=decision.lock,
        )
        device = {
            **meter.device,
            "identity": dict(report.identity),
            "registers": registers,
            "firmware": report.identity.get("firmware"),
            "rate_digest": diagnostics.get("rate_digest"),
            "diagnostics": diagnostics,
            "reported_at": now.isoformat(),
        }

        def work(uow: UnitOfWork) -> None:
            store = MeterStore(uow.connection)
            store.add_sync(sync_id, meter.serial, now, plan.outline())
            store.update(meter.serial, device=device)
            uow.commit()

        self._db.run(work)
        return plan

    def _wanted(self, meter: Meter, active: bool) -> Wanted:
        package = self.rate_package(meter.carrier) if active else None
        firmware = self._asset("firmware", meter.model)
        return Wanted(
            active=active,
            rates_digest=None if package is None else model.digest_of(package),
            firmware=None if firmware is None else firmware[0],
            features=meter.features,
            graphics=meter.graphics,
        )

    def _asset(
        self, kind: str, scope: str, name: str | None = None
    ) -> tuple[str, str, bytes] | None:
        return self._db.run(
            lambda uow: MeterStore(uow.connection).latest_asset(kind, scope, name),
            readonly=True,
        )

    def finish_sync(self, serial: str, results: SyncResults) -> SyncSummary:
        meter = self.get(serial)
        now = self._clock.now()
        found = self._db.run(
            lambda uow: MeterStore(uow.connection).sync(results.sync_id), readonly=True
        )
        if found is None or found[0] != meter.serial:
            raise NotFound(f"no sync {results.sync_id!r} for this meter", code="sync_not_found")
        plan = found[1]
        pem = meter.public_key_pem
        if pem is None:  # pinned at begin; only a registry edit in between removes it
            raise Conflict("the meter has no public key pinned", code="no_public_key")
        alerts: builtins.list[str] = []

        def alert(kind: str, key: str, message: str, details: Mapping[str, Any]) -> None:
            if self._alert(meter, kind, key, message, details):
                alerts.append(kind)

        # 1. the piece log: stored once, then usage recorded in the vault once per group
        uploaded = self._store_pieces(meter, results.pieces, now, alert)
        usage = self._record_usage(meter, alert)

        # 2. the final registers, signed: they settle tokens whose reply is gone
        registers = None
        reconciled = None
        diagnostics = dict(results.diagnostics or {})
        if results.registers is not None:
            try:
                registers = _registers_of(verify_signed(pem, results.registers), meter)
            except PostroomError as error:
                alert(
                    "signature_invalid",
                    f"sig:{results.sync_id}",
                    f"the device's final registers did not verify: {error}",
                    {},
                )

        # 3. tokens: a signed refill reply proves the device applied it; recorded in
        # sequence order (the vault refuses an older sequence after a newer one)
        issued = {t.reset.sequence: t for t in self.funds.issued_tokens(meter.serial)}
        proven: set[int] = set()
        replies: dict[int, Mapping[str, Any]] = {}  # the signed proofs, for the vault
        replayed: builtins.list[int] = []
        expired: builtins.list[int] = []  # refused by the device's clock: maybe cancelled
        for outcome in results.tokens:
            token = issued.get(outcome.sequence)
            if token is None:
                alert(
                    "token_unknown",
                    f"tok:{outcome.sequence}",
                    f"the device reported token {outcome.sequence}, which was never issued",
                    {"sequence": outcome.sequence},
                )
                continue
            if outcome.status == "applied" and outcome.reply is not None:
                try:
                    body = verify_signed(pem, outcome.reply)
                    if body.get("applied", {}).get("sequence") != outcome.sequence:
                        raise PermissionDenied(
                            "the reply is for another token", code="signature_invalid"
                        )
                except PostroomError as error:
                    alert(
                        "signature_invalid",
                        f"tok:{outcome.sequence}:sig",
                        f"the reply to token {outcome.sequence} does not prove it: {error}",
                        {"sequence": outcome.sequence},
                    )
                    continue
                proven.add(outcome.sequence)
                replies[outcome.sequence] = outcome.reply
            elif outcome.status == "refused" and outcome.code == "token_replayed":
                replayed.append(outcome.sequence)
            elif outcome.status == "refused" and outcome.code == "token_expired":
                expired.append(outcome.sequence)
            elif outcome.status == "refused":
                alert(
                    "token_refused",
                    f"tok:{outcome.sequence}:{outcome.code}",
                    f"the device refused token {outcome.sequence} ({outcome.code})",
                    {
                        "sequence": outcome.sequence,
                        "code": outcome.code,
                        "mills": token.reset.amount.mills,
                    },
                )
        last = diagnostics.get("last_token_sequence")
        if replayed and registers is not None and isinstance(last, int):
            amounts = [
                (t.reset.sequence, t.reset.amount.mills, t.applied)
                for t in issued.values()
                if not t.cancelled  # expired unapplied: never on the device
            ]
            if registers["control"] == expected_control(amounts, last):
                proven.update(sequence for sequence in replayed if sequence <= last)
            else:
                alert(
                    "token_unproven",
                    f"tok:{','.join(map(str, replayed))}:{registers['control']}",
                    "the device says it applied tokens whose reply is gone, and its control"
                    " sum does not show them",
                    {"sequences": replayed, "control": registers["control"]},
                )
        applied = [
            s for s in sorted(proven) if self._record_token(meter, issued[s], alert, replies.get(s))
        ]

        # expired refills the signed control sum shows the device never applied go back
        # to the postage account now; one the device refused but that stays (its clock
        # is ahead of the data center's) is an alert
        cancelled: set[int] = set()
        if registers is not None:
            cancelled = self._cancel_unapplied(meter, registers, now, alert)
        for sequence in expired:
            if sequence not in cancelled and not issued[sequence].cancelled:
                alert(
                    "token_refused",
                    f"tok:{sequence}:token_expired",
                    f"the device refused token {sequence} (token_expired)",
                    {
                        "sequence": sequence,
                        "code": "token_expired",
                        "mills": issued[sequence].reset.amount.mills,
                    },
                )

        # 4. installs
        installed = []
        for install in results.installs:
            if install.ok:
                installed.append(install.name or install.kind)
            else:
                alert(
                    "install_failed",
                    f"inst:{install.kind}:{install.name}:{install.digest}:{install.code}",
                    f"the device did not install {install.kind} {install.name} ({install.code})",
                    install.to_json(),
                )

        # reconciliation, with every token recorded
        if registers is not None:
            if (
                meter.status is MeterStatus.ACTIVE
                and self.funds.registers(meter.serial).status == "active"
            ):
                reconciled = self._reconcile(meter, registers, alert)
        elif results.errors:
            log.info("sync %s of %s cut short: %s", results.sync_id, meter.serial, results.errors)

        # 5. the inspection and what the device now has
        inspected = bool(applied)
        acknowledged, ack_token = self._piece_ack(meter.serial)
        summary = SyncSummary(
            sync_id=results.sync_id,
            serial=meter.serial,
            pieces_uploaded=uploaded,
            usage_recorded_mills=usage,
            tokens_applied=tuple(sorted(set(applied))),
            installed=tuple(installed),
            alerts=tuple(alerts),
            reconciled=reconciled,
            inspection_due_at=(
                self.rules.due_at(now).isoformat()
                if inspected
                else None
                if meter.inspection_due_at is None
                else meter.inspection_due_at.isoformat()
            ),
            registers=registers,
            acknowledged=acknowledged,
            ack_token=ack_token,
        )

        def work(uow: UnitOfWork) -> None:
            store = MeterStore(uow.connection)
            current = _get(store, meter.serial, lock=True)
            device = dict(current.device)
            if registers is not None:
                device["registers"] = registers
            if diagnostics:
                device["diagnostics"] = diagnostics
                device["firmware"] = diagnostics.get("firmware", device.get("firmware"))
                device["rate_digest"] = diagnostics.get("rate_digest")
            if results.features is not None:
                device["features"] = dict(results.features)
            device["reported_at"] = now.isoformat()
            values: dict[str, Any] = {"last_sync_at": now, "device": device}
            if diagnostics.get("firmware"):
                values["firmware"] = str(diagnostics["firmware"])[:40]
            if inspected:
                values.update(
                    inspected_at=now,
                    inspection_due_at=self.rules.due_at(now),
                    inspection_lock_at=self.rules.lock_at(now),
                )
            store.update(meter.serial, **values)
            store.finish_sync(
                results.sync_id,
                now,
                {**summary.to_json(), "plan": plan, "errors": list(results.errors)},
            )
            uow.commit()

        self._db.run(work)
        return summary

    def _piece_ack(self, serial: str) -> tuple[int, str | None]:
        """The acknowledgement of every piece stored for meter ``serial``: the device drops
        those pieces from its log on it (``ack_log``). Issued only from what is committed,
        so a device never forgets a piece the data center does not have."""
        last = self.get(serial).last_piece
        if last < 1:
            return last, None
        key = prt.meter_key(self._secret(), serial)
        return last, prt.to_text(prt.issue_piece_ack(key, serial, last))

    def _store_pieces(
        self, meter: Meter, pieces: Sequence[Mapping[str, Any]], now: datetime, alert: Any
    ) -> int:
        parsed = sorted((_piece_row(p, meter) for p in pieces), key=lambda p: p["piece"])
        if len(parsed) > MAX_PIECES_PER_SYNC:
            raise ValidationError("too many pieces in one sync", code="too_many_pieces")
        vault_currency = self.funds.registers(meter.serial).currency

        def work(uow: UnitOfWork) -> tuple[int, dict[str, int] | None]:
            store = MeterStore(uow.connection)
            current = _get(store, meter.serial, lock=True)
            new = [p for p in parsed if p["piece"] > current.last_piece]
            numbers = [p["piece"] for p in new]
            if len(set(numbers)) != len(numbers):
                raise ValidationError("a piece appears twice", code="duplicate_piece")
            if not new:
                return 0, None
            gap = None
            if numbers != list(range(current.last_piece + 1, numbers[-1] + 1)):
                gap = {"after": current.last_piece, "first": numbers[0], "last": numbers[-1]}
            ids = model.usage_groups(
                meter.serial, [(p["piece"], p["mills"], p["cost_center"]) for p in new]
            )
            store.add_pieces(
                {
                    **p,
                    "currency": vault_currency,
                    "usage_transfer_id": ids[p["piece"]],
                    "recorded": False,
                    "uploaded_at": now,
                }
                for p in new
            )
            store.update(meter.serial, last_piece=new[-1]["piece"])
            uow.commit()
            return len(new), gap

        stored, gap = self._db.run(work)
        allowed = set(meter.cost_centers)
        strange = sorted(
            {str(p["cost_center"]) for p in parsed if p["cost_center"]} - allowed
            if allowed
            else set()
        )
        if strange:
            alert(
                "cost_center_unknown",
                "cc:" + ",".join(strange)[:150],
                f"pieces name cost centres not allowed on this meter: {', '.join(strange)}"
                " (their postage is recorded under those names)",
                {"cost_centers": strange},
            )
        if gap is not None:  # after the commit: an alert is its own transaction
            alert(
                "piece_log_gap",
                f"gap:{gap['after']}:{gap['first']}:{gap['last']}",
                "pieces are missing from the uploaded log (the device lost part of its log):"
                " their postage is not recorded",
                gap,
            )
        return stored

    def _record_usage(self, meter: Meter, alert: Any) -> int:
        pending = self._db.run(
            lambda uow: MeterStore(uow.connection).pieces(meter.serial, unrecorded=True),
            readonly=True,
        )
        groups: dict[str, builtins.list[StoredPiece]] = {}
        for piece in pending:
            groups.setdefault(piece.usage_transfer_id, []).append(piece)
        recorded = 0
        for transfer_id, group in groups.items():
            total = sum(p.mills for p in group)
            center = group[0].cost_center
            reference = f"meter pieces {group[0].piece}-{group[-1].piece}"
            try:
                self.funds.record_usage(
                    meter.serial,
                    Money(total, group[0].currency),
                    len(group),
                    transfer_id,
                    reference=reference,
                    cost_center=center or None,
                )
            except PostroomError as error:
                alert(
                    "usage_not_recorded",
                    f"use:{transfer_id}:{error.code}",
                    f"postage of {reference} was not recorded in the vault: {error.message}",
                    {"transfer_id": transfer_id, "mills": total, "code": error.code},
                )
                continue

            def mark(uow: UnitOfWork, transfer_id: str = transfer_id) -> None:
                MeterStore(uow.connection).mark_recorded(meter.serial, transfer_id)
                uow.commit()

            self._db.run(mark)
            recorded += total
        return recorded

    def _record_token(
        self,
        meter: Meter,
        token: IssuedToken,
        alert: Any,
        proof: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record in the vault that the device applied ``token`` (``proof``: its signed
        refill reply, which the vault accepts however late); True once recorded."""
        sequence = token.reset.sequence
        try:
            self.funds.apply_reset_token(meter.serial, token.token, proof=proof)
        except PostroomError as error:
            if error.code == "token_replayed":
                return True  # recorded by an earlier run of this sync
            if error.code == "token_cancelled":
                # The refill went back to the postage account when the token expired
                # unrecorded, and the device shows it applied it in time after all: the
                # funds are in two places. Never re-funded here: a person settles it.
                alert(
                    "token_applied_after_cancel",
                    f"tok:{sequence}:cancelled",
                    f"the device proves it applied token {sequence}, whose refill of"
                    f" {token.reset.amount} was returned to the postage account when it"
                    " expired: the device holds funds the ledger gave back",
                    {
                        "sequence": sequence,
                        "mills": token.reset.amount.mills,
                        "cancel_transfer_id": error.details.get("transfer_id"),
                    },
                )
                return False
            alert(
                "token_not_recorded",
                f"tok:{token.reset.sequence}:rec:{error.code}",
                f"the device applied token {token.reset.sequence} but the vault refused to"
                f" record it ({error.code})",
                {"sequence": token.reset.sequence, "code": error.code},
            )
            return False
        return True

    def _cancel_unapplied(
        self, meter: Meter, registers: Mapping[str, Any], now: datetime, alert: Any
    ) -> set[int]:
        """Cancel the meter's expired, unapplied refills when the device's signed control
        sum proves it never applied them: it equals the refills the vault recorded
        applied, so no unrecorded token is on the device. The sequences cancelled."""
        vault = self.funds.registers(meter.serial)
        if vault.status != "active":
            return set()  # a withdrawal returned the meter's funds already
        issued = self.funds.issued_tokens(meter.serial)
        live = sum(t.reset.amount.mills for t in issued if not t.applied and not t.cancelled)
        if int(registers["control"]) != vault.control_sum - live:
            return set()  # the device's refills are not those recorded: it proves nothing
        done: set[int] = set()
        for token in issued:
            if not token_cancellable(token, now):
                continue
            try:
                cancelled = self.funds.cancel_reset_token(meter.serial, token.reset.sequence)
            except PostroomError as error:
                alert(
                    "token_not_cancelled",
                    f"tok:{token.reset.sequence}:cancel:{error.code}",
                    f"token {token.reset.sequence} expired unapplied but its refill could not"
                    f" be returned ({error.code})",
                    {"sequence": token.reset.sequence, "code": error.code},
                )
                continue
            done.add(token.reset.sequence)
            self._tell_refill_returned(cancelled)
        return done

    def cancel_token(self, serial: str, sequence: int) -> CancelledToken:
        """Cancel one refill whose token expired unapplied (``pr.meters.funds.cancel_reset_token``)
        and tell the customer, as the worker does; a cancellation run again tells nobody
        twice."""
        cancelled = self.funds.cancel_reset_token(self.get(serial).serial, sequence)
        self._tell_refill_returned(cancelled)  # queued only if not told before
        return cancelled

    def cancel_expired_tokens(self) -> int:
        """The worker job ``vault.cancel-expired-tokens``: the vault cancels every refill
        whose token expired unapplied (past its grace), and each customer is told once
        that the refill was returned (through the outbox, which retries a message no
        notifier took). The number of refills cancelled by this run."""
        cancelled = self.funds.cancel_expired_tokens()
        for waiting in self.funds.cancellations_to_notify():
            self._tell_refill_returned(waiting)
        return len(cancelled)

    def _tell_refill_returned(self, cancelled: CancelledToken) -> None:
        """Tell the customer that ``cancelled``'s refill is back in the postage account:
        the message goes to the outbox in the transaction that marks the cancellation
        told, so it is queued exactly once and retried until a notifier takes it."""
        message = Notification(
            recipient=f"{CUSTOMER_PREFIX}{cancelled.customer_number}",
            subject=f"Meter {cancelled.serial}: refill of {cancelled.amount} returned",
            body=(
                f"The refill of {cancelled.amount} for your postage meter"
                f" {cancelled.serial} expired before the meter connected to the data"
                " center to apply it, so it was cancelled and the amount returned to"
                " your postage account. Refill the meter again when you need it."
            ),
            kind="meter.refill_returned",
            data=cancelled.to_json(),
            id=f"refill_returned:{cancelled.serial}:{cancelled.sequence}",
        )
        queued = self.funds.mark_cancellation_notified(
            cancelled.serial,
            cancelled.sequence,
            lambda connection: str(self._outbox.add(connection, message).id),
        )
        if queued:
            self._outbox.deliver([queued])

    def _reconcile(self, meter: Meter, device: Mapping[str, Any], alert: Any) -> bool:
        """Compare the device's signed registers with the data center's view: the vault's
        registers less the refills the device has not applied yet. A difference opens
        an alert (and notifies); money is never adjusted here."""
        vault = self.funds.registers(meter.serial)
        unapplied = sum(
            t.reset.amount.mills
            for t in self.funds.issued_tokens(meter.serial)
            if not t.applied and not t.cancelled  # a cancelled refill left the vault's view
        )
        expected = {
            "control": vault.control_sum - unapplied,
            "descending": vault.descending - unapplied,
            "ascending": vault.ascending,
            "pieces": vault.pieces,
        }
        actual = {k: int(device[k]) for k in expected}
        if actual == expected:
            return True
        alert(
            "registers_mismatch",
            "rec:" + hashlib.sha256(canonical([expected, actual])).hexdigest()[:32],
            "the device's registers differ from the data center's: "
            + ", ".join(
                f"{k} {actual[k]} != {expected[k]}" for k in expected if actual[k] != expected[k]
            ),
            {"device": actual, "expected": expected, "unapplied_tokens_mills": unapplied},
        )
        return False

    def _alert(
        self, meter: Meter, kind: str, key: str, text: str, details: Mapping[str, Any]
    ) -> bool:
        fingerprint = f"{meter.serial}:{kind}:{key}"[:200]
        message = Notification(
            recipient=DATA_CENTER,
            subject=f"Meter {meter.serial}: {kind.replace('_', ' ')}",
            body=text,
            kind="meter.alert",
            data={"serial": meter.serial, "kind": kind, "customer": meter.customer_account},
        )

        def work(uow: UnitOfWork) -> str | None:
            added = MeterStore(uow.connection).add_alert(
                meter.serial, kind, fingerprint, text, details, self._clock.now()
            )
            if not added:
                return None
            queued = self._outbox.add(uow.connection, message).id
            uow.commit()
            return queued

        try:
            queued = self._db.run(work)
        except IntegrityError:  # the same alert opened by a concurrent sync: one row
            queued = None
        if queued is None:
            return False
        log.warning("meter %s: %s: %s", meter.serial, kind, text)
        self._outbox.deliver([queued])
        return True

    # ----------------------------------------------------------------- reminders

    def send_inspection_reminders(self) -> int:
        """Warn each customer ``warning_days`` before a meter's inspection deadline (the
        date it locks) and again once it is overdue: one message per meter, deadline and
        kind, however often this runs. Returns the number sent."""
        now = self._clock.now()
        sent = 0
        for meter in self.list():
            if meter.status is not MeterStatus.ACTIVE:
                continue
            base = meter.inspected_at or meter.registered_at
            kind = self.rules.reminder(base, now)
            if kind is None:
                continue
            deadline = self.rules.lock_at(base)

            def seen(
                uow: UnitOfWork, m: Meter = meter, d: datetime = deadline, k: str = kind
            ) -> bool:
                return MeterStore(uow.connection).reminder_sent(m.serial, d, k)

            if self._db.run(seen, readonly=True):
                continue
            if kind == "warning":
                subject = (
                    f"Meter {meter.serial}: connect it to the data center by {deadline.date()}"
                )
                body = (
                    f"Your postage meter {meter.serial} must connect to the data center for"
                    f" its inspection before {deadline.date().isoformat()}; after that date it"
                    " stops printing postage until it connects."
                )
            else:
                subject = f"Meter {meter.serial}: inspection overdue, printing blocked"
                body = (
                    f"Your postage meter {meter.serial} has not connected to the data center"
                    f" since {base.date().isoformat()}: it no longer prints postage. Run"
                    " `postroom meter connect` to restore it."
                )
            reminder = Notification(
                recipient=f"{CUSTOMER_PREFIX}{meter.customer_account}",
                subject=subject,
                body=body,
                kind=f"meter.inspection_{kind}",
                data={"serial": meter.serial, "deadline": deadline.isoformat()},
            )

            def mark(
                uow: UnitOfWork,
                m: Meter = meter,
                d: datetime = deadline,
                k: str = kind,
                n: Notification = reminder,
            ) -> str | None:
                if not MeterStore(uow.connection).add_reminder(m.serial, d, k, now):
                    return None
                queued = self._outbox.add(uow.connection, n).id
                uow.commit()
                return queued

            queued = self._db.run(mark)
            if queued is not None:
                self._outbox.deliver([queued])  # retried by the outbox when no notifier took it
                sent += 1
        return sent


class MeterDataCenter:
    """The in-process ``sync.DataCenter`` of one meter."""

    def __init__(self, service: MetersService, serial: str) -> None:
        self.service = service
        self.serial = serial

    def begin(self, report: SyncReport) -> SyncPlan:
        return self.service.begin_sync(self.serial, report)

    def finish(self, results: SyncResults) -> SyncSummary:
        return self.service.finish_sync(self.serial, results)


def _get(store: MeterStore, serial: str, *, lock: bool = False) -> Meter:
    meter = store.get(serial, lock=lock)
    if meter is None:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    return meter


def _pending_tokens(
    issued: Sequence[IssuedToken], diagnostics: Mapping[str, Any], now: datetime
) -> builtins.list[IssuedToken]:
    """Tokens to send, in sequence order: not recorded applied, after the last one
    recorded, and either still valid (not cancelled) or already applied by the device
    (its ``last_token_sequence``), whose stored reply the device hands back."""
    last_recorded = max((t.reset.sequence for t in issued if t.applied), default=0)
    device_last = diagnostics.get("last_token_sequence")
    device_last = device_last if isinstance(device_last, int) else 0
    return sorted(
        (
            t
            for t in issued
            if not t.applied
            # a cancelled one only to collect the proof of a device that says it applied it
            and (not t.cancelled or t.reset.sequence <= device_last)
            and t.reset.sequence > last_recorded
            and (t.reset.sequence <= device_last or t.reset.expires_at > now + TOKEN_MARGIN)
        ),
        key=lambda t: t.reset.sequence,
    )


def _registers_of(body: Mapping[str, Any], meter: Meter) -> dict[str, Any]:
    registers = body.get("registers")
    if not isinstance(registers, Mapping):
        raise ValidationError("the reply carries no registers", code="bad_request")
    try:
        clean = {
            "serial": str(registers["serial"]),
            "currency": str(registers["currency"]),
            **{k: int(registers[k]) for k in ("descending", "ascending", "pieces", "control")},
        }
    except (KeyError, TypeError, ValueError):
        raise ValidationError("malformed registers", code="bad_request") from None
    if clean["serial"] != meter.serial:
        raise PermissionDenied(
            f"registers of meter {clean['serial']}, not {meter.serial}", code="meter_mismatch"
        )
    return clean


def _piece_row(data: Mapping[str, Any], meter: Meter) -> dict[str, Any]:
    def bad(why: str) -> ValidationError:
        return ValidationError(f"malformed piece: {why}", code="invalid_piece")

    if not isinstance(data, Mapping):
        raise bad("not an object")
    piece, mills = data.get("piece"), data.get("mills")
    for name, value in (("piece", piece), ("mills", mills)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**32:
            raise bad(f"{name} is a positive whole number")
    texts = {}
    for name, limit in (("date", 10), ("service", 80), ("origin_zip", 20), ("rid", 64)):
        value = data.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            raise bad(f"{name} is text of 1-{limit} characters")
        texts[name] = value
    center = data.get("cost_center")
    if center is not None and not isinstance(center, str):
        raise bad("cost_center is text or null")
    # the device logs what the print named; the ledger keeps a clean name of at most 60
    if center is not None:
        center = " ".join(center.split())[:60].strip()
        if not center or not center.isprintable():
            center = None
    try:
        date.fromisoformat(texts["date"])
        printed_at = datetime.fromisoformat(str(data.get("printed_at")))
    except ValueError:
        raise bad("date or printed_at is not ISO 8601") from None
    if printed_at.tzinfo is None:
        raise bad("printed_at has no time zone")
    return {
        "serial": meter.serial,
        "piece": piece,
        "mills": mills,
        "mailing_date": texts["date"],
        "service": texts["service"],
        "origin_zip": texts["origin_zip"],
        "cost_center": center,
        "printed_at": printed_at,
        "request_id": texts["rid"],
    }
