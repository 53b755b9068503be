"""``pr.meters``' use cases (and the money side they drive, ``MeterFunds``) on in-memory
fakes: register, withdraw and replace a meter; issue, cancel and expire reset tokens; a
sync that uploads usage and settles a token whose reply the device lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakes_meters import FakeMeters, FakeOutbox, FakeRates, FakeResetTokens
from fakes_money import FakeAccounts, FakeLedger, open_customer
from fakes_transactions import FakeDatabase

from postroom.core.clock import FrozenClock
from postroom.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationError,
)
from postroom.core.ledger.service import postage_code
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import MeterStatus
from postroom.core.meters.refills import RESET_TOKEN_TTL_SECONDS, TOKEN_CANCEL_GRACE_SECONDS
from postroom.core.meters.service import MetersService
from postroom.core.meters.sync import SyncReport, SyncResults, TokenOutcome, canonical
from postroom.core.money import Money

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ALICE, BOB = "1000001", "1000002"
PRODUCT, MODEL = "PR-VPSD1", "postroom-vpsd-1"
SECRET = "installation secret for the unit tests"


class Device:
    """A meter's signing side: what the device signs at a sync (docs/meter-protocol.md)."""

    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "sig": self.key.sign(canonical(body), ec.ECDSA(hashes.SHA256())).hex()}

    def registers(self, descending: int, ascending: int, pieces: int) -> dict[str, Any]:
        registers = {
            "serial": self.serial,
            "currency": "USD",
            "descending": descending,
            "ascending": ascending,
            "pieces": pieces,
            "control": descending + ascending,
        }
        return self.sign({"ok": True, "registers": registers})

    def applied(self, sequence: int, mills: int) -> dict[str, Any]:
        applied = {"sequence": sequence, "mills": mills, "serial": self.serial}
        return self.sign({"ok": True, "applied": applied})

    def report(self, registers: dict[str, Any], last_token: int) -> SyncReport:
        identity = {"model": MODEL, "serial": self.serial, "firmware": "1.0", "currency": "USD"}
        return SyncReport(identity, self.pem, registers, {"last_token_sequence": last_token})


def piece(number: int, mills: int = 730) -> dict[str, Any]:
    return {
        "piece": number,
        "mills": mills,
        "date": "2026-06-01",
        "service": "first-class-letter",
        "origin_zip": "12345",
        "rid": f"print-{number}",
        "cost_center": None,
        "printed_at": NOW.isoformat(),
    }


class World:
    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FrozenClock(NOW)
        self.accounts = FakeAccounts()
        self.ledger = FakeLedger(self.db)
        self.registry = FakeMeters(self.accounts)
        self.resets = FakeResetTokens()
        self.outbox = FakeOutbox()
        self.db.hold(self.accounts, self.ledger, self.registry, self.resets, self.outbox)
        self.funds = MeterFunds(
            self.db,  # type: ignore[arg-type]
            self.clock,
            self.ledger,  # type: ignore[arg-type]
            self.accounts,  # type: ignore[arg-type]
            refills_locked=lambda uow, customer_id: False,
            secret=lambda: SECRET,
            reset_tokens=lambda uow: self.resets,
            meters=lambda uow: self.registry,
        )
        self.meters = MetersService(
            self.db,  # type: ignore[arg-type]
            self.clock,
            self.accounts,  # type: ignore[arg-type]
            self.ledger,  # type: ignore[arg-type]
            self.funds,
            FakeRates(),  # type: ignore[arg-type]
            virtual_key=lambda: SECRET,
            outbox=self.outbox,  # type: ignore[arg-type]
            secret=lambda: SECRET,
            meters=lambda uow: self.registry,
        )
        for number in (ALICE, BOB):
            open_customer(self.ledger, self.accounts, number)
            self.ledger.deposit(number, 100_000)

    def postage(self, number: str = ALICE) -> int:
        return self.ledger.balance(postage_code(number))


@pytest.fixture
def world() -> World:
    return World()


# ------------------------------------------------------------------ registration


def test_a_registered_meter_is_active_keyed_and_its_customers_alone(world: World) -> None:
    done = world.meters.register(ALICE, product_code=PRODUCT, serial="PB100")
    assert (done.meter.status, done.meter.model, done.meter.carrier) == (
        MeterStatus.ACTIVE,
        MODEL,
        "usps",
    )
    assert world.meters.authenticate(done.api_key).serial == "PB100"
    assert world.funds.registers("PB100").status == "active"  # its ledger account opened
    assert world.meters.customer_meter(ALICE, "PB100").serial == "PB100"
    with pytest.raises(NotFound) as error:
        world.meters.customer_meter(BOB, "PB100")
    assert error.value.code == "meter_not_found"
    with pytest.raises(Conflict) as error:
        world.meters.register(BOB, product_code=PRODUCT, serial="PB100")
    assert error.value.code == "meter_exists"
    assert world.meters.list(BOB) == []


def test_a_rotated_key_replaces_the_old_one(world: World) -> None:
    old = world.meters.register(ALICE, product_code=PRODUCT, serial="PB100").api_key
    new = world.meters.rotate_key("PB100")
    assert world.meters.authenticate(new).serial == "PB100"
    with pytest.raises(Unauthenticated) as error:
        world.meters.authenticate(old)
    assert error.value.code == "invalid_meter_key"


def test_registration_by_installation_number_and_its_refusals(world: World) -> None:
    shipped = world.meters.provision(PRODUCT, "PB200")
    assert world.meters.provision(PRODUCT, "PB200") == shipped  # idempotent per serial
    meter = world.meters.register(ALICE, installation_number=shipped.installation_number).meter
    assert (meter.serial, meter.installation_number) == ("PB200", shipped.installation_number)
    cases = [
        ({"installation_number": shipped.installation_number}, "meter_exists"),
        ({"product_code": PRODUCT}, "invalid_registration"),
        ({"product_code": PRODUCT, "serial": "PB300", "device_serial": "PB301"}, "serial_mismatch"),
        ({"product_code": PRODUCT, "serial": "PB300", "model_name": "other"}, "model_mismatch"),
    ]
    for arguments, code in cases:
        with pytest.raises((Conflict, ValidationError)) as error:
            world.meters.register(ALICE, **arguments)
        assert error.value.code == code
    with pytest.raises(NotFound) as error:
        world.meters.register("1000009", product_code=PRODUCT, serial="PB300")
    assert error.value.code == "account_not_found"
    assert [m.serial for m in world.meters.list()] == ["PB200"]  # nothing half-registered


# --------------------------------------------------------- withdraw and replace


def test_withdrawing_returns_the_meters_funds_once(world: World) -> None:
    world.meters.register(ALICE, product_code=PRODUCT, serial="PB100")
    world.funds.refill("PB100", Money(20_000, "USD"), "refill-1")
    assert world.postage() == 80_000
    meter, moved = world.meters.withdraw("PB100")
    assert (meter.status, moved, world.postage()) == (MeterStatus.WITHDRAWN, 20_000, 100_000)
    assert world.funds.registers("PB100").descending == 0
    assert world.meters.withdraw("PB100")[1] == 20_000  # a rerun answers, moves nothing
    assert world.postage() == 100_000
    with pytest.raises(Conflict) as error:
        world.funds.refill("PB100", Money(1_000, "USD"), "refill-2")
    assert error.value.code == "meter_withdrawn"


def test_a_replacement_carries_the_funds_to_the_new_meter_once(world: World) -> None:
    for serial in ("PB100", "PB101"):
        world.meters.register(ALICE, product_code=PRODUCT, serial=serial)
    world.meters.register(BOB, product_code=PRODUCT, serial="PB900")
    world.funds.refill("PB100", Money(20_000, "USD"), "refill-1")
    with pytest.raises(ValidationError) as error:
        world.meters.replace("PB100", "PB900")
    assert error.value.code == "meter_mismatch"
    old, new, moved = world.meters.replace("PB100", "PB101")
    assert (old.status, new.status, moved) == (MeterStatus.WITHDRAWN, MeterStatus.ACTIVE, 20_000)
    assert world.funds.registers("PB101").descending == 20_000
    [token] = world.funds.issued_tokens("PB101")  # the new device's refill to apply
    assert token.reset.amount == Money(20_000, "USD")
    assert world.meters.replace("PB100", "PB101")[2] == 20_000  # a rerun
    assert world.funds.registers("PB101").descending == 20_000
    assert len(world.funds.issued_tokens("PB101")) == 1
    assert world.postage() == 80_000


# ---------------------------------------------------------------- reset tokens


def test_refill_tokens_take_the_next_sequence_and_a_replay_answers_the_first(world: World) -> None:
    world.meters.register(ALICE, product_code=PRODUCT, serial="PB100")
    first = world.funds.refill("PB100", Money(5_000, "USD"), "refill-1")
    again = world.funds.refill("PB100", Money(5_000, "USD"), "refill-1")
    second = world.funds.refill("PB100", Money(3_000, "USD"), "refill-2")
    assert (first.reset.sequence, second.reset.sequence) == (1, 2)
    assert again.token == first.token
    assert world.postage() == 92_000
    assert first.reset.expires_at == NOW + timedelta(seconds=RESET_TOKEN_TTL_SECONDS)


def test_an_expired_unapplied_refill_goes_back_and_the_customer_is_told_once(
    world: World,
) -> None:
    world.meters.register(ALICE, product_code=PRODUCT, serial="PB100")
    world.funds.refill("PB100", Money(5_000, "USD"), "refill-1")
    with pytest.raises(Conflict) as error:
        world.meters.cancel_token("PB100", 1)
    assert error.value.code == "token_not_expired"
    world.clock.advance(timedelta(seconds=RESET_TOKEN_TTL_SECONDS))
    cancelled = world.meters.cancel_token("PB100", 1)
    assert (cancelled.amount, cancelled.customer_number) == (Money(5_000, "USD"), ALICE)
    assert world.postage() == 100_000
    assert world.meters.cancel_token("PB100", 1) == cancelled  # nothing moves twice
    assert world.postage() == 100_000
    assert world.outbox.kinds() == ["meter.refill_returned"]  # told once
    assert world.outbox.delivered[0].recipient == f"customer:{ALICE}"  # its people
    with pytest.raises(Conflict) as error:  # the device can never apply it now
        world.funds.apply_reset_token("PB100", world.funds.issued_tokens("PB100")[0].token)
    assert error.value.code == "token_cancelled"


def test_the_worker_cancels_expired_refills_after_their_grace(world: World) -> None:
    world.meters.register(ALICE, product_code=PRODUCT, serial="PB100")
    world.funds.refill("PB100", Money(5_000, "USD"), "refill-1")
    world.clock.advance(timedelta(seconds=RESET_TOKEN_TTL_SECONDS))
    assert world.meters.cancel_expired_tokens() == 0  # a late device still has the grace
    world.clock.advance(timedelta(seconds=TOKEN_CANCEL_GRACE_SECONDS))
    assert world.meters.cancel_expired_tokens() == 1
    assert world.meters.cancel_expired_tokens() == 0
    assert world.postage() == 100_000
    assert world.outbox.kinds() == ["meter.refill_returned"]


# ------------------------------------------------------------------------- sync


def registered_with_refill(world: World) -> Device:
    device = Device("PB100")
    world.meters.register(ALICE, product_code=PRODUCT, serial="PB100", public_key_pem=device.pem)
    world.funds.refill("PB100", Money(10_000, "USD"), "refill-1")
    return device


def test_a_sync_records_usage_and_a_replayed_token_its_control_sum_proves(world: World) -> None:
    device = registered_with_refill(world)
    plan = world.meters.begin_sync("PB100", device.report(device.registers(0, 0, 0), 0))
    assert [(t.sequence, t.mills) for t in plan.tokens] == [(1, 10_000)]
    # the device applied token 1 and printed two pieces; the reply to the token was lost
    results = SyncResults(
        plan.sync_id,
        pieces=(piece(1), piece(2)),
        tokens=(TokenOutcome(1, "refused", "token_replayed"),),
        registers=device.registers(10_000 - 1_460, 1_460, 2),
        diagnostics={"last_token_sequence": 1},
    )
    summary = world.meters.finish_sync("PB100", results)
    assert summary.tokens_applied == (1,)
    assert (summary.pieces_uploaded, summary.usage_recorded_mills) == (2, 1_460)
    assert (summary.reconciled, summary.alerts, summary.acknowledged) == (True, (), 2)
    assert summary.ack_token is not None
    vault = world.funds.registers("PB100")
    assert (vault.descending, vault.ascending, vault.pieces) == (8_540, 1_460, 2)
    meter = world.meters.get("PB100")
    assert (meter.last_piece, meter.inspected_at) == (2, NOW)
    # run again (the connect side lost the answer): nothing is recorded twice
    again = world.meters.finish_sync("PB100", results)
    assert (again.pieces_uploaded, again.usage_recorded_mills, again.tokens_applied) == (0, 0, (1,))
    assert world.funds.registers("PB100") == vault


def test_a_replayed_token_the_control_sum_does_not_show_is_an_alert(world: World) -> None:
    device = registered_with_refill(world)
    plan = world.meters.begin_sync("PB100", device.report(device.registers(0, 0, 0), 0))
    results = SyncResults(
        plan.sync_id,
        tokens=(TokenOutcome(1, "refused", "token_replayed"),),
        registers=device.registers(0, 0, 0),  # no refill on the device
        diagnostics={"last_token_sequence": 1},
    )
    summary = world.meters.finish_sync("PB100", results)
    assert summary.tokens_applied == ()
    assert summary.alerts == ("token_unproven",)
    assert world.meters.get("PB100").inspected_at is None
    assert [a.kind for a in world.meters.alerts("PB100")] == ["token_unproven"]
    assert world.outbox.kinds() == ["meter.alert"]
    # the same finding again opens no second alert
    assert world.meters.finish_sync("PB100", results).alerts == ()


def test_a_signed_refill_reply_records_the_token_and_a_forged_one_does_not(world: World) -> None:
    device = registered_with_refill(world)
    plan = world.meters.begin_sync("PB100", device.report(device.registers(0, 0, 0), 0))
    forged = {**device.applied(1, 10_000), "sig": "00" * 64}
    refused = world.meters.finish_sync(
        "PB100", SyncResults(plan.sync_id, tokens=(TokenOutcome(1, "applied", reply=forged),))
    )
    assert (refused.tokens_applied, refused.alerts) == ((), ("signature_invalid",))
    proven = world.meters.finish_sync(
        "PB100",
        SyncResults(
            plan.sync_id,
            tokens=(TokenOutcome(1, "applied", reply=device.applied(1, 10_000)),),
            registers=device.registers(10_000, 0, 0),
        ),
    )
    assert (proven.tokens_applied, proven.reconciled) == ((1,), True)
    assert world.funds.issued_tokens("PB100")[0].applied


def test_a_device_with_another_key_is_refused_and_raises_an_alert(world: World) -> None:
    registered_with_refill(world)
    impostor = Device("PB100")
    with pytest.raises(PermissionDenied) as error:
        world.meters.begin_sync("PB100", impostor.report(impostor.registers(0, 0, 0), 0))
    assert error.value.code == "device_key_mismatch"
    assert [a.kind for a in world.meters.alerts("PB100")] == ["device_key_changed"]
    assert world.registry.syncs == {}
