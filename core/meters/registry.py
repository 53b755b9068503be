"""The meter registry: meters shipped (provisioning), registered to customers, their
keys, their piece log, and taking them out of service (withdraw, replace).

The money side of each meter (its ledger account, refills, usage) is
``MeterFunds`` (``funds.py``); this registry asks it to open a meter's account when the
meter is registered and to return its funds when it is withdrawn.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import Conflict, NotFound, Unauthenticated, ValidationError
from postroom.core.ledger.service import LedgerService
from postroom.core.meters import model
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import (
    CARRIER_BY_COUNTRY,
    PRODUCTS,
    InspectionRules,
    Meter,
    MeterStatus,
    Provisioned,
    RegisteredMeter,
    StoredPiece,
)
from postroom.core.meters.store import MeterRepositories, MeterRepository
from postroom.core.meters.sync import load_public_key
from postroom.core.meters.virtual import VIRTUAL_PRODUCT
from postroom.core.money import Money


class MeterRegistry:
    """Meters: provisioned, registered, keyed, read, withdrawn and replaced."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountsService,
        ledger: LedgerService,
        funds: MeterFunds,
        rules: InspectionRules,
        meters: MeterRepositories,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._ledger = ledger
        self._funds = funds
        self._rules = rules
        self._meters = meters

    # ------------------------------------------------------------------ provisioning

    def provision(self, product_code: str, serial: str) -> Provisioned:
        """Make a meter ready for shipping: its 11-digit installation account number.

        Idempotent per serial (the same product code hands back the same number).
        """
        code = model.parse_product_code(product_code)
        clean = model.parse_serial(serial)

        def work(uow: UnitOfWork) -> Provisioned:
            store = self._meters(uow)
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
        return self._funds.device_reset_key(model.parse_serial(serial))

    def provisioned(self, installation_number: str) -> Provisioned:
        number = model.parse_installation_number(installation_number)

        def work(uow: UnitOfWork) -> Provisioned:
            found = self._meters(uow).provisioned(number=number)
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
        if self._db.run(lambda uow: self._meters(uow).get(clean), readonly=True):
            raise Conflict(f"meter {clean} is registered", code="meter_exists")
        try:
            self._funds.register_meter(clean, customer.number, operator)
        except Conflict:
            # registered in the vault already (the demo's meter, or a retry): adopt it
            # when it is this customer's and active, never another's.
            registers = self._funds.registers(clean)
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
            inspection_due_at=self._rules.due_at(now),
            inspection_lock_at=self._rules.lock_at(now),
            key_prefix=key.prefix,
        )

        def work(uow: UnitOfWork) -> Meter:
            store = self._meters(uow)
            if store.get(clean) is not None:
                raise Conflict(f"meter {clean} is registered", code="meter_exists")
            store.add(meter, customer.id, key.prefix, key.secret_hash)
            uow.commit()
            return meter

        return RegisteredMeter(self._db.run(work), key.token)

    def _customer(self, customer_number: str) -> CustomerAccount:
        return self._accounts.get(customer_number)

    # ----------------------------------------------------------------------- reading

    def get(self, serial: str) -> Meter:
        clean = serial.strip() if isinstance(serial, str) else ""
        try:
            model.parse_serial(clean)
        except ValidationError:  # no meter can have this serial
            raise NotFound(f"no meter {serial!r}", code="meter_not_found") from None
        return self._db.run(lambda uow: get_meter(self._meters(uow), clean), readonly=True)

    def list(self, customer_number: str | None = None) -> builtins.list[Meter]:
        customer_id = None if customer_number is None else self._customer(customer_number).id
        return self._db.run(lambda uow: self._meters(uow).find(customer_id), readonly=True)

    def list_in(self, uow: UnitOfWork, customer: CustomerAccount) -> builtins.list[Meter]:
        """The customer's registered meters inside the caller's unit of work (the
        dashboard reads every area in one transaction)."""
        return self._meters(uow).find(customer.id)

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
        return self._db.run(lambda uow: self._meters(uow).pieces(clean, limit=limit), readonly=True)

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
            lambda uow: self._meters(uow).pieces_numbered(meter.serial, numbers), readonly=True
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

    # ----------------------------------------------------------------- keys, changes

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

    def pin_public_key(self, serial: str, pem: str) -> Meter:
        load_public_key(pem)

        def changes(meter: Meter) -> dict[str, Any]:
            if meter.public_key_pem not in (None, pem):
                raise Conflict("the meter's public key is pinned already", code="public_key_pinned")
            return {"public_key_pem": pem}

        return self.update(serial, changes)

    def rotate_key(self, serial: str) -> str:
        """A new API key for the meter (the old one stops working); shown once."""
        key = model.new_meter_key()
        self.update(serial, lambda m: {"key_prefix": key.prefix, "key_hash": key.secret_hash})
        return key.token

    def authenticate(self, token: str) -> Meter:
        """The meter a meter key belongs to; Unauthenticated for anything else."""
        prefix, secret = model.split_meter_key(token)

        def work(uow: UnitOfWork) -> Meter:
            store = self._meters(uow)
            found = store.key_hash(prefix)
            if found is None or not model.meter_secret_matches(secret, found[1]):
                raise Unauthenticated("unknown meter key", code="invalid_meter_key")
            return get_meter(store, found[0])

        return self._db.run(work, readonly=True)

    def update(self, serial: str, changes: Callable[[Meter], Mapping[str, Any]]) -> Meter:
        """Meter ``serial`` with ``changes(meter)`` applied, read and written under its lock."""
        clean = serial.strip() if isinstance(serial, str) else ""

        def work(uow: UnitOfWork) -> Meter:
            store = self._meters(uow)
            meter = get_meter(store, clean, lock=True)
            store.update(meter.serial, **changes(meter))
            uow.commit()
            return get_meter(store, meter.serial)

        return self._db.run(work)

    # --------------------------------------------------------- withdraw and replace

    def withdraw(self, serial: str) -> tuple[Meter, int]:
        """Take the meter out of service: the vault returns its funds to the postage
        account; its next sync locks the device. Returns the meter and the mills moved."""
        meter = self.get(serial)
        moved = self._withdraw_funds(meter, f"mw:{meter.serial}")
        return self.update(meter.serial, lambda m: {"status": MeterStatus.WITHDRAWN}), moved

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
            registers = self._funds.registers(old.serial)
            self._funds.refill(
                new.serial,
                Money(moved, registers.currency),
                f"mr:{old.serial}:in",
                reference=f"replaces meter {old.serial}",
            )
        withdrawn = self.update(old.serial, lambda m: {"status": MeterStatus.WITHDRAWN})
        return withdrawn, self.get(new.serial), moved

    def _withdraw_funds(self, meter: Meter, transfer_id: str) -> int:
        try:
            done = self._funds.withdraw_meter(meter.serial, transfer_id)
        except Conflict as error:
            if error.code != "meter_withdrawn":
                raise
            try:  # withdrawn before: by this very id (a rerun), or by the vault directly
                item = self._ledger.customer_transfer(meter.customer_account, transfer_id)
            except NotFound:
                return 0
            return item.transfer.amount
        return 0 if done is None else done.amount


def get_meter(store: MeterRepository, serial: str, *, lock: bool = False) -> Meter:
    meter = store.get(serial, lock=lock)
    if meter is None:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    return meter
