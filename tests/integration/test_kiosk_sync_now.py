"""The inspection notice's *Sync now* (issue 18, item 6): ``postroom kiosk serve --meter``
wires it to the attached meter's sync with the data center (``postroom meter connect``'s
sync), so the touch really syncs the meter (the simulator on a pty) and the notice goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from test_kiosk_meter import SERIAL, Screen, _quick, sim  # noqa: F401 (sim: a fixture)

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.units import Weight
from postroom.frontends.cli import cli
from postroom.frontends.kiosk import ops, terminal
from postroom.frontends.kiosk.backend import Offer
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.meter import TerminalMeter
from postroom.frontends.kiosk.terminal import create_terminal_app
from postroom.hal.meter.simulator import MeterSimulator


def test_sync_now_syncs_the_attached_meter_and_the_inspection_notice_goes(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,  # noqa: F811
    clock: FrozenClock,
) -> None:
    meter = TerminalMeter(sim.path, opener=_quick, clock=clock)
    app = create_terminal_app(
        LocalDataCenter(postroom, kiosk_account.number, "Mailroom"),
        secret_key="terminal-test",
        origin_zip="10001",
        meter=meter,
    )
    app.config["TESTING"] = True
    ops.configure(app, sync_meter=lambda: meter.sync(postroom.meters.datacenter))
    clock.advance(timedelta(days=91))  # past the inspection's due date, before its lock
    screen = Screen(app.test_client())
    screen.sign_in(operator.id)
    page = screen.get("/weigh")
    assert f"Meter {SERIAL} is due for inspection" in page
    assert 'id="sync-now"' in page

    answer = screen.post("/notices/sync", page)
    assert answer.status_code == 303
    assert postroom.meters.get(SERIAL).last_sync_at == clock.now()
    assert postroom.meters.get(SERIAL).inspection_due_at > clock.now()
    after = screen.get("/weigh")
    assert "due for inspection" not in after
    # the line was opened again after the sync: the meter still prints
    assert meter.can_print(meter_offer(screen)) is True


def meter_offer(screen: Screen) -> Offer:
    """The first-class letter's offer, as the terminal prices it now."""
    with screen.client.application.test_request_context():
        data_center = terminal.bp_state()["data_center"]
        return next(
            o for o in data_center.offers(Weight.of(1, "oz"), ()) if "first-class" in o.service
        )


def test_a_meter_that_does_not_answer_is_a_message_not_an_error(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,  # noqa: F811
    clock: FrozenClock,
) -> None:
    meter = TerminalMeter(sim.path + "-gone", opener=_quick, clock=clock)
    app = create_terminal_app(
        LocalDataCenter(postroom, kiosk_account.number, "Mailroom"),
        secret_key="terminal-test",
        origin_zip="10001",
    )
    app.config["TESTING"] = True
    ops.configure(app, sync_meter=lambda: meter.sync(postroom.meters.datacenter))
    clock.advance(timedelta(days=91))
    screen = Screen(app.test_client())
    screen.sign_in(operator.id)
    answer = screen.post("/notices/sync", screen.get("/weigh"))
    assert answer.status_code == 503
    assert "The meter could not be synced (meter_unavailable)" in answer.get_data(as_text=True)


def test_kiosk_serve_with_a_meter_wires_sync_now(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    sim: MeterSimulator,  # noqa: F811
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[Flask] = []

    class NotServed:  # what waitress would serve: the app, kept, and no port opened
        def __init__(self, app: Flask, **_options: object) -> None:
            served.append(app)

        def run(self) -> None:
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    monkeypatch.setattr("postroom.frontends.cli.kiosk.create_server", NotServed)
    key = postroom.kiosks.issue_key(kiosk_account.number, "Mailroom").token
    before = postroom.meters.get(SERIAL).last_sync_at
    ran = runner.invoke(
        cli,
        ["kiosk", "serve", "--key", key, "--meter", sim.path, "--origin-zip", "10001"],
    )
    assert ran.exit_code == 0, ran.output
    sync_meter = served[0].extensions["postroom_terminal"]["sync_meter"]
    assert sync_meter is not None
    sync_meter()  # the button's hook: one real sync of the simulator
    assert postroom.meters.get(SERIAL).last_sync_at != before
    without = runner.invoke(cli, ["kiosk", "serve", "--key", key, "--origin-zip", "10001"])
    assert without.exit_code == 0, without.output
    assert served[1].extensions["postroom_terminal"]["sync_meter"] is None  # no meter
