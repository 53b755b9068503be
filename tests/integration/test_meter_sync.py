"""The meter registry and the sync conversation, over a real pty simulator and store.

Every test runs on SQLite, and on PostgreSQL with POSTROOM_TEST_DATABASE_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import (
    Conflict,
    Locked,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationError,
)
from postroom.core.hookspecs import hookimpl
from postroom.core.meters import tokens
from postroom.core.meters.device import PrintJob
from postroom.core.meters.model import digest_of, is_valid_installation_number
from postroom.core.meters.sync import SyncPlan, SyncReport, SyncResults, SyncSummary, TokenStep
from postroom.core.money import Money
from postroom.core.ports import Notification
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator

SERIAL = "PR-SYNC-1"
NEW = "PR-SYNC-2"
PRODUCT = "PR-VPSD1"


class Cut(Exception):
    """The connection to the data center dies at a chosen step."""


def cut_at(step_name: str):  # type: ignore[no-untyped-def]
    def progress(step: str) -> None:
        if step == step_name:
            raise Cut(step)

    return progress


@pytest.fixture
def customer(postroom: Postroom) -> str:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.ledger.deposit(account.number, Money.parse("500.00 USD"), "dep-1")
    return account.number


@pytest.fixture
def registered(postroom: Postroom, customer: str) -> str:
    return postroom.meters.register(customer, product_code=PRODUCT, serial=SERIAL).api_key


def simulator(
    tmp_path: Path, postroom: Postroom, clock: FrozenClock, serial: str = SERIAL, **kwargs
):  # type: ignore[no-untyped-def]
    key = tokens.meter_key(postroom.config.resolved_secret_key(), serial)
    return MeterSimulator(tmp_path / serial, serial, clock=clock, meter_key=key, **kwargs)


@pytest.fixture
def device(
    tmp_path: Path, postroom: Postroom, clock: FrozenClock, registered: str
) -> Iterator[MeterSimulator]:
    with simulator(tmp_path, postroom, clock) as sim:
        yield sim


def connect(sim: MeterSimulator, postroom: Postroom, serial: str = SERIAL, **kwargs):  # type: ignore[no-untyped-def]
    with MeterClient.open(sim.path, timeout=0.3) as meter:
        return run_sync(meter, postroom.meters.datacenter(serial), **kwargs)


def print_piece(sim: MeterSimulator, postroom: Postroom, mills: int, rid: str, center=None):  # type: ignore[no-untyped-def]
    digest = postroom.meters.rate_digest(SERIAL)
    assert digest is not None
    with MeterClient.open(sim.path, timeout=0.3) as meter:
        job = PrintJob(
            Money(mills, "USD"),
            digest,
            "first-class-letter",
            postroom.clock.now().date(),
            "12345",
            cost_center=center,
        )
        return meter.print_postage(job, request_id=rid)


# ------------------------------------------------------------------ registration


def test_register_by_product_code_and_serial(postroom: Postroom, customer: str) -> None:
    done = postroom.meters.register(customer, product_code="pr-vpsd1", serial=SERIAL)
    assert done.api_key.startswith("prm_")
    assert done.meter.model == "postroom-vpsd-1"
    assert done.meter.carrier == "usps"
    assert postroom.meters.funds.registers(SERIAL).operator == "USPS"
    assert postroom.meters.authenticate(done.api_key).serial == SERIAL
    assert [m.serial for m in postroom.meters.list(customer)] == [SERIAL]
    with pytest.raises(Conflict) as twice:
        postroom.meters.register(customer, product_code=PRODUCT, serial=SERIAL)
    assert twice.value.code == "meter_exists"
    with pytest.raises(ValidationError) as unknown:
        postroom.meters.register(customer, product_code="XX-1", serial="PR-X")
    assert unknown.value.code == "unknown_product_code"


def test_register_by_installation_number(postroom: Postroom, customer: str) -> None:
    shipped = postroom.meters.provision(PRODUCT, NEW)
    assert is_valid_installation_number(shipped.installation_number)
    assert postroom.meters.provision(PRODUCT, NEW) == shipped  # idempotent per serial
    number = shipped.installation_number
    typo = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(ValidationError) as mistyped:
        postroom.meters.register(customer, installation_number=typo)
    assert mistyped.value.code == "invalid_installation_number"
    done = postroom.meters.register(customer, installation_number=f"{number[:5]} {number[5:]}")
    assert (done.meter.serial, done.meter.installation_number) == (NEW, number)
    assert postroom.meters.funds.registers(NEW).status == "active"
    with pytest.raises(Conflict):
        postroom.meters.register(customer, installation_number=number)


def test_a_meter_key_is_not_a_customer_key(postroom: Postroom, registered: str) -> None:
    with pytest.raises(Unauthenticated):
        postroom.meters.authenticate(registered[:-2] + "xx")
    issued = postroom.accounts.create_api_key(postroom.meters.get(SERIAL).customer_account)
    with pytest.raises(Unauthenticated):
        postroom.meters.authenticate(issued.token)
    with pytest.raises(Unauthenticated):
        postroom.accounts.authenticate(registered)


# -------------------------------------------------------------------------- sync


def test_first_sync_pins_the_key_applies_the_refill_and_records_the_inspection(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    clock.advance(timedelta(days=3))
    outcome = connect(device, postroom)
    assert outcome.complete
    summary = outcome.summary
    assert summary.tokens_applied == (refill.reset.sequence,)
    assert summary.reconciled is True
    assert summary.alerts == ()
    assert "rates" in summary.installed
    assert device.psd.state["descending"] == 60_000
    assert device.psd.state["rate_digest"] == postroom.meters.rate_digest(SERIAL)
    meter = postroom.meters.get(SERIAL)
    assert meter.public_key_pem == device.psd.public_key_pem()
    assert meter.inspected_at == clock.now()
    assert meter.inspection_due_at == clock.now() + timedelta(days=90)
    assert [t.applied for t in postroom.meters.funds.issued_tokens(SERIAL)] == [True]

    # a second sync with nothing to refill records the inspection with a sync token
    clock.advance(timedelta(days=30))
    again = connect(device, postroom).summary
    assert again.installed == ()
    assert len(again.tokens_applied) == 1
    assert postroom.meters.funds.issued_tokens(SERIAL)[-1].reset.amount == Money(0, "USD")
    assert device.psd.state["descending"] == 60_000
    assert device.psd.inspection()["last_sync"] == clock.now().isoformat()
    assert postroom.meters.get(SERIAL).inspected_at == clock.now()


def test_a_refill_is_applied_once_when_the_sync_is_cut_before_the_data_center_records_it(
    postroom: Postroom, device: MeterSimulator
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("40.00 USD"), "r1")
    with pytest.raises(Cut):
        connect(device, postroom, progress=cut_at("finish"))
    # the device applied it; the data center did not hear
    assert device.psd.state["descending"] == 40_000
    assert postroom.meters.funds.issued_tokens(SERIAL)[0].applied is False

    summary = connect(device, postroom).summary  # run again
    assert summary.tokens_applied == (refill.reset.sequence,)
    assert summary.reconciled is True
    assert device.psd.state["descending"] == 40_000  # not twice
    assert device.psd.state["control"] == 40_000
    assert postroom.meters.funds.issued_tokens(SERIAL)[0].applied is True
    assert postroom.meters.funds.registers(SERIAL).control_sum == 40_000
    assert postroom.ledger.verify().ok


def test_a_sync_cut_by_the_device_going_away_is_completed_by_the_next(
    postroom: Postroom, device: MeterSimulator, tmp_path: Path, clock: FrozenClock
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    postroom.meters.funds.refill(SERIAL, Money.parse("15.00 USD"), "r2")

    def unplug(step: str) -> None:
        if step == "token 2":
            device.stop()  # the pty closes: the device is gone mid-sync

    outcome = connect(device, postroom, progress=unplug)
    assert not outcome.complete
    assert outcome.summary.tokens_applied == (1,)  # proven by its signed reply
    assert outcome.summary.reconciled is None
    with simulator(tmp_path, postroom, clock) as back:
        summary = connect(back, postroom).summary
        assert summary.tokens_applied == (2,)
        assert summary.reconciled is True
        assert back.psd.state["descending"] == 25_000


def test_usage_is_recorded_once_by_cost_centre(postroom: Postroom, device: MeterSimulator) -> None:
    postroom.meters.set_cost_centers(SERIAL, ["Legal", "Sales", "Mailroom"])
    postroom.meters.funds.refill(SERIAL, Money.parse("20.00 USD"), "r1")
    connect(device, postroom)  # refill + rate package
    print_piece(device, postroom, 730, "p1", "Legal")
    print_piece(device, postroom, 730, "p2", "Sales")
    print_piece(device, postroom, 1500, "p3", "Legal")
    with pytest.raises(Cut):
        connect(device, postroom, progress=cut_at("finish"))
    summary = connect(device, postroom).summary
    assert summary.pieces_uploaded == 3
    assert summary.usage_recorded_mills == 2960
    assert summary.reconciled is True
    again = connect(device, postroom).summary
    assert (again.pieces_uploaded, again.usage_recorded_mills) == (0, 0)
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.ascending, registers.pieces) == (2960, 3)
    assert registers.descending == device.psd.state["descending"]
    pieces = postroom.meters.pieces(SERIAL)
    assert {p.cost_center for p in pieces} == {"Legal", "Sales"}
    assert len({p.usage_transfer_id for p in pieces}) == 2  # one transfer per cost centre
    usage = [
        item.transfer
        for item in postroom.ledger.customer_transfers(postroom.meters.get(SERIAL).customer_account)
        if item.transfer.code.value == "usage"
    ]
    assert sorted((t.cost_center, t.amount) for t in usage) == [("Legal", 2230), ("Sales", 730)]
    report = postroom.ledger.report(postroom.meters.get(SERIAL).customer_account)
    assert {c[0] for c in report.by_cost_center} == {"Legal", "Sales"}


def test_a_reconciliation_mismatch_opens_an_alert_and_moves_no_money(
    postroom: Postroom, device: MeterSimulator
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("20.00 USD"), "r1")
    connect(device, postroom)
    # the data center believes in usage the device never printed
    postroom.meters.funds.record_usage(SERIAL, Money.parse("1.00 USD"), 1, "phantom")
    before = postroom.meters.funds.registers(SERIAL)
    summary = connect(device, postroom).summary
    assert summary.reconciled is False
    assert summary.alerts == ("registers_mismatch",)
    alert = postroom.meters.alerts(SERIAL)[-1]
    assert alert.kind == "registers_mismatch"
    assert alert.details["device"]["ascending"] == 0
    assert alert.details["expected"]["ascending"] == 1000
    assert postroom.meters.funds.registers(SERIAL) == before  # never "fixed"
    connect(device, postroom)  # the same mismatch again: one alert
    assert [a.kind for a in postroom.meters.alerts(SERIAL)] == ["registers_mismatch"]


class Tampered:
    """A data center whose plan is altered on the way (a man in the middle)."""

    def __init__(self, inner, change) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.change = inner, change

    def begin(self, report: SyncReport) -> SyncPlan:
        return self.change(self.inner.begin(report))

    def finish(self, results: SyncResults) -> SyncSummary:
        return self.inner.finish(results)


def test_a_rate_table_with_a_wrong_digest_is_refused_by_the_device(
    postroom: Postroom, device: MeterSimulator
) -> None:
    def corrupt(plan: SyncPlan) -> SyncPlan:
        installs = tuple(attrs.evolve(i, data=i.data[:-1] + b" ") for i in plan.installs)
        return attrs.evolve(plan, installs=installs)

    with MeterClient.open(device.path, timeout=0.3) as meter:
        summary = run_sync(meter, Tampered(postroom.meters.datacenter(SERIAL), corrupt)).summary
    assert "install_failed" in summary.alerts
    assert device.psd.state["rate_digest"] is None
    alert = next(a for a in postroom.meters.alerts(SERIAL) if a.kind == "install_failed")
    assert alert.details["code"] == "digest_mismatch"
    assert "rates" in connect(device, postroom).summary.installed  # the honest plan works


def test_a_replayed_or_foreign_token_is_refused(
    postroom: Postroom, device: MeterSimulator, customer: str, clock: FrozenClock
) -> None:
    postroom.meters.register(customer, product_code=PRODUCT, serial=NEW)
    foreign = postroom.meters.funds.refill(NEW, Money.parse("30.00 USD"), "rf")
    mine = postroom.meters.funds.refill(SERIAL, Money.parse("5.00 USD"), "r1")
    connect(device, postroom)

    def inject(token: str, sequence: int):  # type: ignore[no-untyped-def]
        def change(plan: SyncPlan) -> SyncPlan:
            return attrs.evolve(plan, tokens=(TokenStep(sequence, token, 0),))

        return change

    # another meter's token, and this meter's applied token under a new request id
    for token, sequence in ((foreign.token, 98), (mine.token, 99)):
        with MeterClient.open(device.path, timeout=0.3) as meter:
            run_sync(meter, Tampered(postroom.meters.datacenter(SERIAL), inject(token, sequence)))
    assert device.psd.state["descending"] == 5_000
    kinds = [a.kind for a in postroom.meters.alerts(SERIAL)]
    assert "token_unknown" in kinds  # the foreign token's sequence was never issued here
    assert postroom.meters.funds.registers(NEW).control_sum == 30_000
    assert postroom.meters.funds.issued_tokens(NEW)[0].applied is False


def test_withdraw_returns_funds_and_locks_the_device(
    postroom: Postroom, device: MeterSimulator, customer: str
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("20.00 USD"), "r1")
    connect(device, postroom)
    meter, moved = postroom.meters.withdraw(SERIAL)
    assert moved == 20_000
    assert meter.status.value == "withdrawn"
    assert postroom.ledger.balance(customer).balances.balance == 500_000
    summary = connect(device, postroom).summary
    assert summary.tokens_applied == ()
    assert device.psd.state["locked"] is True
    with pytest.raises(Conflict):
        postroom.meters.funds.refill(SERIAL, Money.parse("1.00 USD"), "r2")


def test_replace_moves_the_funds_to_the_new_device(
    postroom: Postroom, device: MeterSimulator, customer: str, tmp_path: Path, clock: FrozenClock
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("20.00 USD"), "r1")
    connect(device, postroom)
    postroom.meters.register(customer, product_code=PRODUCT, serial=NEW)
    old, _new, moved = postroom.meters.replace(SERIAL, NEW)
    assert moved == 20_000
    assert postroom.meters.replace(SERIAL, NEW)[2] == 20_000  # run again: nothing moves twice
    assert old.status.value == "withdrawn"
    assert postroom.meters.funds.registers(NEW).descending == 20_000
    assert postroom.ledger.balance(customer).balances.balance == 480_000
    with simulator(tmp_path, postroom, clock, NEW) as fresh:
        summary = connect(fresh, postroom, NEW).summary
        assert summary.reconciled is True
        assert fresh.psd.state["descending"] == 20_000
    with pytest.raises(NotFound):
        postroom.meters.replace("PR-NOPE", NEW)


def test_firmware_features_graphics_and_slogan_are_installed_once(
    postroom: Postroom, device: MeterSimulator
) -> None:
    postroom.meters.publish_firmware("postroom-vpsd-1", "1.1.0", b"firmware image " * 500)
    postroom.meters.set_features(SERIAL, {"cost_accounting": True})
    postroom.meters.set_ad_slogan(SERIAL, "Acme: mail that matters")
    postroom.meters.set_graphic(SERIAL, "logo", b"\x89PNG fake logo bytes")
    summary = connect(device, postroom).summary
    assert set(summary.installed) >= {"firmware", "ad-slogan", "logo", "rates"}
    state = device.psd.state
    assert state["firmware"] == "1.1.0"
    assert state["features"] == {"cost_accounting": True}
    assert state["graphics"]["ad-slogan"] == digest_of(b"Acme: mail that matters")
    assert connect(device, postroom).summary.installed == ()
    shown = postroom.meters.details(SERIAL)
    assert shown["firmware"] == "1.1.0"
    assert shown["ad_slogan"] == "Acme: mail that matters"


def test_inspection_reminders_are_sent_once_per_deadline(
    postroom: Postroom, device: MeterSimulator, clock: FrozenClock
) -> None:
    sent: list[Notification] = []

    class Inbox:
        name = "inbox"
        channels = ("email",)

        def send(self, notification: Notification) -> None:
            sent.append(notification)

    class InboxPlugin:
        @hookimpl
        def register_notifiers(self) -> list[Inbox]:
            return [Inbox()]

    postroom.plugins.register(InboxPlugin(), name="test-inbox")
    connect(device, postroom)
    assert postroom.meters.send_inspection_reminders() == 0
    clock.advance(timedelta(days=120 - 14))
    assert postroom.meters.send_inspection_reminders() == 1
    assert postroom.meters.send_inspection_reminders() == 0
    assert postroom.jobs.run_now("meters.inspection-reminders") == 0
    assert sent[0].kind == "meter.inspection_warning"
    assert sent[0].recipient == f"customer:{postroom.meters.get(SERIAL).customer_account}"
    clock.advance(timedelta(days=14))
    assert postroom.meters.send_inspection_reminders() == 1
    assert sent[-1].kind == "meter.inspection_overdue"
    # a sync restarts the clock: nothing more until the next deadline
    connect(device, postroom)
    assert postroom.meters.send_inspection_reminders() == 0
    shown = postroom.meters.inspection(postroom.meters.get(SERIAL))
    assert shown["due_at"] == (clock.now() + timedelta(days=90)).isoformat()


def test_the_demo_registers_its_meter(postroom: Postroom) -> None:
    from postroom.core.demo import DEMO_METER, load_demo

    facts: dict[str, str] = {}
    assert "meters" in load_demo(postroom, facts=facts)
    meter = postroom.meters.get(DEMO_METER)
    assert postroom.meters.authenticate(facts["demo meter API key"]).serial == DEMO_METER
    assert meter.cost_centers == ("Mailroom", "Legal", "Sales")
    demo = next(a for a in postroom.accounts.list() if a.name == "Demo Mailroom Inc.")
    assert meter.customer_account == demo.number
    assert postroom.meters.details(DEMO_METER)["registers"]["descending_mills"] == 100_000
    assert "--reset-key" in facts["demo meter"]
    assert load_demo(postroom) == []


def test_a_gap_in_the_piece_log_opens_an_alert_and_bad_reports_are_refused(
    postroom: Postroom, device: MeterSimulator
) -> None:
    datacenter = postroom.meters.datacenter(SERIAL)
    with MeterClient.open(device.path, timeout=0.3) as meter:
        report = SyncReport(
            dict(meter.identify()),
            meter.public_key_pem(),
            meter.call("registers"),
            dict(meter.diagnostics()),
        )
    plan = datacenter.begin(report)

    def piece(n: int) -> dict[str, object]:
        return {
            "piece": n,
            "mills": 100,
            "date": "2026-03-02",
            "service": "first-class-letter",
            "origin_zip": "12345",
            "cost_center": "  Legal   dept ",
            "printed_at": "2026-03-02T09:30:00+00:00",
            "rid": f"p{n}",
        }

    summary = datacenter.finish(SyncResults(plan.sync_id, pieces=(piece(1), piece(2), piece(5))))
    assert summary.pieces_uploaded == 3
    assert "piece_log_gap" in summary.alerts
    assert "usage_not_recorded" in summary.alerts  # the vault's meter holds no funds
    assert "cost_center_unknown" not in summary.alerts  # no list on this meter: any name
    assert postroom.meters.pieces(SERIAL)[0].cost_center == "Legal dept"
    postroom.meters.set_cost_centers(SERIAL, ["Sales"])
    later = datacenter.finish(SyncResults(plan.sync_id, pieces=(piece(6),)))
    assert "cost_center_unknown" in later.alerts
    with pytest.raises(ValidationError):
        datacenter.finish(SyncResults(plan.sync_id, pieces=({"piece": "x"},)))
    with pytest.raises(NotFound):
        datacenter.finish(SyncResults("not-a-sync"))
    forged = {**report.registers, "registers": {**report.registers["registers"], "control": 9}}
    with pytest.raises(PermissionDenied) as refused:
        datacenter.begin(attrs.evolve(report, registers=forged))
    assert refused.value.code == "signature_invalid"
    for sig in ("zz", "00", 5):
        with pytest.raises(PermissionDenied):
            datacenter.begin(attrs.evolve(report, registers={**report.registers, "sig": sig}))
    other = attrs.evolve(report, identity={**report.identity, "serial": NEW})
    with pytest.raises(PermissionDenied):
        datacenter.begin(other)


def test_a_token_whose_reply_is_gone_is_proven_by_the_signed_control_sum(
    postroom: Postroom, device: MeterSimulator
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("12.00 USD"), "r1")
    with MeterClient.open(device.path, timeout=0.3) as meter:
        # applied under another request id (its reply since forgotten by the device)
        meter.refill(tokens.from_text(refill.token), request_id="elsewhere")
    later = postroom.meters.funds.refill(SERIAL, Money.parse("3.00 USD"), "r2")
    summary = connect(device, postroom).summary
    # the later token's signed reply comes first, yet both are recorded, in order
    assert summary.tokens_applied == (refill.reset.sequence, later.reset.sequence)
    assert summary.reconciled is True
    assert device.psd.state["descending"] == 15_000
    assert [t.applied for t in postroom.meters.funds.issued_tokens(SERIAL)] == [True, True]


@pytest.mark.parametrize(
    "step", ["begin", "log", "token 2", "token 3", "features", "registers", "finish"]
)
def test_a_sync_cut_at_any_step_and_run_again_neither_loses_nor_doubles_funds(
    postroom: Postroom, device: MeterSimulator, step: str
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    connect(device, postroom)  # token 1 and the rate package
    print_piece(device, postroom, 730, "p1", "Legal")
    print_piece(device, postroom, 500, "p2")
    postroom.meters.funds.refill(SERIAL, Money.parse("20.00 USD"), "r2")  # token 2
    postroom.meters.funds.refill(SERIAL, Money.parse("30.00 USD"), "r3")  # token 3
    postroom.meters.set_features(SERIAL, {"dept": True})

    def cut_and_garble(name: str) -> None:
        if name.startswith("token"):  # a lost and a damaged reply: the host retries
            device.faults.drop_replies, device.faults.corrupt_replies = 1, 1
        if name == step:
            raise Cut(name)

    with pytest.raises(Cut):
        connect(device, postroom, progress=cut_and_garble)
    summary = connect(device, postroom).summary
    assert summary.reconciled is True
    assert summary.alerts == ()
    state = device.psd.state
    assert (state["control"], state["ascending"], state["pieces"]) == (60_000, 1230, 2)
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.control_sum, registers.ascending, registers.pieces) == (60_000, 1230, 2)
    assert all(t.applied for t in postroom.meters.funds.issued_tokens(SERIAL))
    assert state["features"] == {"dept": True}
    assert postroom.ledger.verify().ok


def test_the_same_results_finished_twice_at_once_are_recorded_once(
    postroom: Postroom, device: MeterSimulator
) -> None:
    import threading

    postroom.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    connect(device, postroom)
    for n in range(1, 4):
        print_piece(device, postroom, 500, f"p{n}", "Legal")
    postroom.meters.funds.record_usage(SERIAL, Money.parse("0.10 USD"), 1, "phantom")  # a mismatch
    datacenter = postroom.meters.datacenter(SERIAL)
    captured: list[SyncResults] = []

    class Recorder:
        def begin(self, report: SyncReport) -> SyncPlan:
            return datacenter.begin(report)

        def finish(self, results: SyncResults) -> SyncSummary:
            captured.append(results)
            return datacenter.finish(results)

    with MeterClient.open(device.path, timeout=0.3) as meter:
        run_sync(meter, Recorder())
    postroom.meters.finish_sync(SERIAL, captured[0])  # a retry after a lost answer
    errors: list[BaseException] = []

    def again() -> None:
        try:
            datacenter.finish(captured[0])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=again) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.ascending, registers.pieces) == (1600, 4)
    assert [a.kind for a in postroom.meters.alerts(SERIAL)] == ["registers_mismatch"]
    assert postroom.ledger.verify().ok


def test_a_piece_printed_on_the_synced_rate_package_comes_back_as_usage(
    postroom: Postroom, device: MeterSimulator
) -> None:
    from postroom.core.meters.printing import PrintRequest
    from postroom.core.rates.model import Piece
    from postroom.core.units import Weight

    postroom.meters.funds.refill(SERIAL, Money.parse("10.00 USD"), "r1")
    connect(device, postroom)  # installs the rate package
    request = PrintRequest(
        carrier="usps",
        service="first-class-letter",
        piece=Piece(Weight.parse("1oz")),
        origin_zip="12345",
        cost_center="Legal",
    )
    with MeterClient.open(device.path, timeout=0.3) as meter:
        printed = postroom.printer.print(meter, request, request_id="letter-1")
    # the indicium names the table that priced it, one `rates show` knows, not the package
    named = printed.piece.record.rate_digest.hex()
    assert named == printed.quote.table.digest != postroom.meters.rate_digest(SERIAL)
    assert postroom.rates.get(named).digest == named
    summary = connect(device, postroom).summary
    assert summary.pieces_uploaded == 1
    assert summary.usage_recorded_mills == printed.quote.total.mills
    assert summary.reconciled is True
    assert postroom.meters.pieces(SERIAL)[0].cost_center == "Legal"


# ------------------------------------------------------------------- the piece log


def print_many(sim: MeterSimulator, postroom: Postroom, count: int, first: int = 0) -> None:
    """``count`` pieces of 10 mills printed on the device itself (no line: fast)."""
    digest = postroom.meters.rate_digest(SERIAL)
    for n in range(first, first + count):
        reply = sim.psd.handle(
            {
                "cmd": "print",
                "rid": f"bulk-{n}",
                "mills": 10,
                "currency": "USD",
                "rate_digest": digest,
                "service": "first-class-letter",
                "date": postroom.clock.now().date().isoformat(),
                "origin_zip": "12345",
                "cost_center": "Legal" if n % 2 else None,
            }
        )
        assert reply["ok"], reply


def logged(sim: MeterSimulator) -> tuple[int, int]:
    diagnostics = sim.psd.handle({"cmd": "diagnostics"})["diagnostics"]
    return diagnostics["pieces_logged"], diagnostics["log_acknowledged"]


def test_thousands_of_pieces_between_syncs_are_all_stored_once(
    postroom: Postroom, device: MeterSimulator
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    connect(device, postroom)
    print_many(device, postroom, 2_600)
    assert logged(device) == (2_600, 0)  # more than the 1000 a device used to keep

    summary = connect(device, postroom).summary
    assert (summary.pieces_uploaded, summary.usage_recorded_mills) == (2_600, 26_000)
    assert summary.alerts == ()  # no piece_log_gap
    assert summary.reconciled is True
    assert summary.acknowledged == 2_600
    assert logged(device) == (0, 2_600)  # dropped once the data center had them
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.pieces, registers.ascending) == (2_600, 26_000)
    assert postroom.meters.pieces(SERIAL, limit=1)[0].piece == 2_600

    print_many(device, postroom, 3, first=2_600)
    again = connect(device, postroom).summary
    assert (again.pieces_uploaded, again.acknowledged, again.alerts) == (3, 2_603, ())
    assert logged(device) == (0, 2_603)
    assert postroom.ledger.verify().ok


def test_a_full_log_stops_printing_until_a_sync(
    postroom: Postroom, registered: str, tmp_path: Path, clock: FrozenClock
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    with simulator(tmp_path, postroom, clock, log_capacity=45) as sim:
        connect(sim, postroom)
        print_many(sim, postroom, 45)  # three pages of the log command
        descending = sim.psd.registers()["descending"]
        with pytest.raises(Locked) as full:  # the host sees the device's refusal
            print_piece(sim, postroom, 730, "one-more")
        assert full.value.code == "piece_log_full"
        assert sim.psd.registers()["descending"] == descending  # nothing debited

        summary = connect(sim, postroom).summary
        assert (summary.pieces_uploaded, summary.alerts) == (45, ())
        assert logged(sim) == (0, 45)
        assert print_piece(sim, postroom, 730, "one-more").record.piece == 46
    assert postroom.meters.funds.registers(SERIAL).pieces == 45


def test_a_sync_cut_between_finish_and_the_acknowledgement_stores_nothing_twice(
    postroom: Postroom, device: MeterSimulator
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")
    connect(device, postroom)
    print_many(device, postroom, 30)
    with pytest.raises(Cut):
        connect(device, postroom, progress=cut_at("ack"))
    assert postroom.meters.funds.registers(SERIAL).pieces == 30  # the data center has them...
    assert logged(device) == (30, 0)  # ...and the device still does

    summary = connect(device, postroom).summary
    assert (summary.pieces_uploaded, summary.usage_recorded_mills) == (0, 0)
    assert (summary.acknowledged, summary.alerts) == (30, ())
    assert logged(device) == (0, 30)
    registers = postroom.meters.funds.registers(SERIAL)
    assert (registers.pieces, registers.ascending) == (30, 300)
    assert postroom.ledger.verify().ok
