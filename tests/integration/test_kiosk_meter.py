"""``postroom kiosk serve --meter``: the terminal prints on the account's own postage meter
(the meter simulator on a pty; the device debits and signs), books each piece to the
operator and the cost centre with the data center, reprints without a second debit,
reconciles a meter that resets or answers garbage mid-print by its signed piece count,
and flags a misprint for a refund. On the local store, and over HTTP with the kiosk key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, PermissionDenied
from postroom.core.kiosks.meter_pieces import MeterPrint
from postroom.core.meters import tokens
from postroom.core.meters.device import PrintJob
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.kiosk.backend import DataCenter, MeterReport
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.meter import TerminalMeter
from postroom.frontends.kiosk.remote import RemoteDataCenter
from postroom.frontends.kiosk.terminal import create_terminal_app
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator

SERIAL = "PR-KM-1"
PIN = "246813"  # the ``operator`` fixture's


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def _quick(url: str) -> MeterClient:
    """The meter's line with one retry: a silent meter fails after its first. (With 0.1 s
    timeouts a busy CI machine once left a live meter unanswered, and its offers lost the
    meter.)"""
    return MeterClient.open(url, timeout=0.5, retries=1)


def sync(sim: MeterSimulator, postroom: Postroom) -> None:
    with MeterClient.open(sim.path, timeout=0.5) as meter:
        assert run_sync(meter, postroom.meters.datacenter(SERIAL)).complete


@pytest.fixture
def sim(
    tmp_path: Path, postroom: Postroom, clock: FrozenClock, kiosk_account: CustomerAccount
) -> Iterator[MeterSimulator]:
    """The account's meter, registered, refilled with $9 and synced (rates installed)."""
    postroom.meters.register(kiosk_account.number, product_code="PR-VPSD1", serial=SERIAL)
    postroom.meters.funds.refill(SERIAL, Money.parse("9.00 USD"), "r1")
    key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
    with MeterSimulator(tmp_path / "meter", SERIAL, clock=clock, meter_key=key) as simulator:
        sync(simulator, postroom)
        yield simulator


class Screen:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str) -> str:
        return self.client.get(path, follow_redirects=True).get_data(as_text=True)

    def post(self, path: str, page: str, **form: str):
        return self.client.post(path, data={"csrf_token": _csrf(page), **form})

    def sign_in(self, operator: int) -> None:
        answer = self.post("/sign-in", self.get("/sign-in"), operator=str(operator), pin=PIN)
        assert answer.status_code == 303

    def offers(self, weight: str = "1") -> str:
        answer = self.post("/offers", self.get("/weigh"), weight=weight, unit="oz", source="keyed")
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    @staticmethod
    def letter_form(page: str) -> dict[str, str]:
        """The first-class letter's print form, on the meter, for the Legal cost centre."""
        form = next(f for f in page.split('class="offer"')[1:] if "first-class-letter" in f)
        form = form.split("</form>", 1)[0]
        data = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
        assert 'name="target" value="meter"' in form
        return {**data, "cost_center": "Legal", "target": "meter"}


def terminal(data_center: DataCenter, sim: MeterSimulator, clock: FrozenClock) -> Flask:
    meter = TerminalMeter(sim.path, opener=_quick, clock=clock)
    app = create_terminal_app(
        data_center, secret_key="terminal-test", origin_zip="10001", meter=meter
    )
    app.config["TESTING"] = True
    return app


@pytest.fixture
def screen(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,
    clock: FrozenClock,
) -> Screen:
    local = LocalDataCenter(postroom, kiosk_account.number, "Mailroom")
    screen = Screen(terminal(local, sim, clock).test_client())
    screen.sign_in(operator.id)
    return screen


def _print_letter(screen: Screen):
    page = screen.offers()
    return screen.client.post(
        "/print", data={"csrf_token": _csrf(page), **screen.letter_form(page)}
    )


def test_the_meter_debits_and_signs_once_booked_to_the_operator_and_a_misprint_is_refunded(
    screen: Screen,
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,
) -> None:
    funds = sim.psd.state["descending"]
    page = screen.offers()
    form = screen.letter_form(page)
    answer = screen.client.post("/print", data={"csrf_token": _csrf(page), **form})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert answer.headers["Location"].endswith(f"/printed/{SERIAL}/1")
    printed = screen.get(f"/printed/{SERIAL}/1")
    assert 'id="printed-serial">PR-KM-1' in printed
    assert 'id="printed-cost-center">Legal' in printed
    postage = funds - sim.psd.state["descending"]
    assert postage > 0
    assert sim.psd.state["pieces"] == 1

    # the data center has it, booked to Alice and Legal, and the indicium is the meter's
    [logged] = postroom.kiosk_pieces.pieces(kiosk_account.number)
    assert (logged.serial, logged.piece, logged.postage) == (SERIAL, 1, Money(postage, "USD"))
    assert (logged.operator_id, logged.operator_name) == (operator.id, "Alice Martin")
    assert (logged.cost_center, logged.service) == ("Legal", "first-class-letter")
    image = screen.client.get(f"/printed/{SERIAL}/1/indicium.png").data
    assert postroom.meters.verify_indicium(image).valid

    # a double touch, then a reprint: the same piece, never a second debit
    again = screen.client.post("/print", data={"csrf_token": _csrf(page), **form})
    assert again.headers["Location"].endswith(f"/printed/{SERIAL}/1")
    reprint = screen.post(f"/printed/{SERIAL}/1/meter", printed)
    assert reprint.status_code == 303
    assert "nothing was charged twice" in screen.get(reprint.headers["Location"])
    assert sim.psd.state["pieces"] == 1
    assert funds - sim.psd.state["descending"] == postage
    assert len(postroom.kiosk_pieces.pieces(kiosk_account.number)) == 1

    # a misprint: the refund waits for the meter's sync to count the piece, then is asked once
    waiting = screen.post(f"/printed/{SERIAL}/1/misprint", printed)
    assert "once the meter has been connected" in waiting.get_data(as_text=True)
    assert postroom.refunds.list(kiosk_account.number) == []
    sync(sim, postroom)
    asked = screen.post(f"/printed/{SERIAL}/1/misprint", printed)
    assert "refund request kiosk-PR-KM-1-1" in asked.get_data(as_text=True)
    [refund] = postroom.refunds.list(kiosk_account.number)
    assert refund.status.value == "requested"
    assert postroom.kiosk_pieces.pieces(kiosk_account.number)[0].refund_id == "kiosk-PR-KM-1-1"
    assert screen.post(f"/printed/{SERIAL}/1/misprint", printed).status_code == 200
    assert len(postroom.refunds.list(kiosk_account.number)) == 1

    # an extra service: Certified Mail, itemised, and on the meter for the letter + $5.30
    with_extra = screen.post(
        "/offers", screen.get("/weigh"), weight="1", unit="oz", source="keyed", extra="certified"
    ).get_data(as_text=True)
    assert 'name="extra" value="certified" checked' in with_extra
    assert "Certified Mail" in with_extra
    before = sim.psd.state["descending"]
    form = screen.letter_form(with_extra)
    assert form["extra"] == "certified"
    answer = screen.client.post("/print", data={"csrf_token": _csrf(with_extra), **form})
    assert answer.headers["Location"].endswith(f"/printed/{SERIAL}/2")
    assert before - sim.psd.state["descending"] == postage + 5300


def test_a_meter_that_resets_answers_garbage_or_goes_silent_never_charges_without_indicium(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, sim: MeterSimulator
) -> None:
    funds = sim.psd.state["descending"]
    # reset before the debit (the print and its retry): nothing charged, a clear message
    sim.psd.faults.reset_before_commit = 2
    answer = _print_letter(screen)
    assert answer.status_code == 503
    text = answer.get_data(as_text=True)
    assert "The meter did not print the piece. Nothing was charged" in text
    assert (sim.psd.state["pieces"], sim.psd.state["descending"]) == (0, funds)
    # "Print again" sends the same print: it prints now, once
    retry = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', text))
    assert screen.client.post("/print", data=retry).status_code == 303
    assert sim.psd.state["pieces"] == 1

    # garbage after the debit (the print and its retry): the piece count moved, so the
    # same request id fetches the indicium; charged once, booked once
    sim.faults.corrupt_replies = 2
    answer = _print_letter(screen)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert answer.headers["Location"].endswith(f"/printed/{SERIAL}/2")
    assert sim.psd.state["pieces"] == 2
    assert screen.client.get(f"/printed/{SERIAL}/2/indicium.png").status_code == 200
    assert [p.piece for p in postroom.kiosk_pieces.pieces(kiosk_account.number)] == [2, 1]

    # a meter gone silent after the debit: the screen says so, and "Print again" (the
    # same request id) shows that piece once the meter answers, never charging it twice
    sim.faults.drop_replies = 10
    answer = _print_letter(screen)
    sim.faults.drop_replies = 0
    assert answer.status_code == 503
    text = answer.get_data(as_text=True)
    assert "The meter does not answer" in text
    assert sim.psd.state["pieces"] == 3  # it printed before going silent
    retry = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', text))
    again = screen.client.post("/print", data=retry)
    assert again.headers["Location"].endswith(f"/printed/{SERIAL}/3")
    assert sim.psd.state["pieces"] == 3
    assert funds - sim.psd.state["descending"] == sum(
        p.postage.mills for p in postroom.kiosk_pieces.pieces(kiosk_account.number)
    )


def test_over_the_api_the_piece_is_booked_and_only_the_accounts_own_meter_may_report(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,
    clock: FrozenClock,
    data_center_url: str,
) -> None:
    key = postroom.kiosks.issue_key(kiosk_account.number, "Mailroom").token
    remote = RemoteDataCenter(data_center_url, key)
    screen = Screen(terminal(remote, sim, clock).test_client())
    screen.sign_in(operator.id)
    answer = _print_letter(screen)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert {"certified", "return-receipt"} <= {
        extra.code for extra in remote.offers(Weight.of(1, "oz"), ())[0].extras
    }
    [logged] = postroom.kiosk_pieces.pieces(kiosk_account.number)
    assert (logged.serial, logged.operator_name, logged.cost_center) == (
        SERIAL,
        "Alice Martin",
        "Legal",
    )
    printed = MeterPrint(
        *_signed_piece(sim, postroom), carrier="usps", cost_center="Legal", request_id="x-1"
    )
    token = remote.sign_in(operator.id, PIN)

    # a record the meter did not sign is refused; so is another account's terminal
    with pytest.raises(PermissionDenied):
        remote.record_meter_pieces(
            token, [MeterReport(printed.record, bytes(70), "usps", "Legal", printed.request_id)]
        )
    other = postroom.accounts.create("Other Co", "US", "USD")
    intruder = postroom.accounts.add_operator(other.number, "Mallory", PIN)
    stranger = RemoteDataCenter(data_center_url, postroom.kiosks.issue_key(other.number, "X").token)
    intruding = stranger.sign_in(intruder.id, PIN)
    with pytest.raises(NotFound) as refused:
        stranger.record_meter_pieces(
            intruding, [MeterReport(printed.record, printed.signature, "usps", None, "x-1")]
        )
    assert refused.value.code == "meter_not_found"
    with pytest.raises(NotFound):
        stranger.flag_misprint(intruding, SERIAL, 1)
    assert len(postroom.kiosk_pieces.pieces(kiosk_account.number)) == 1


def _signed_piece(sim: MeterSimulator, postroom: Postroom) -> tuple[bytes, bytes]:
    """A second piece printed on the meter directly: its signed record and signature."""
    digest = postroom.meters.rate_digest(SERIAL)
    assert digest is not None
    with _quick(sim.path) as meter:
        job = PrintJob(
            Money(730, "USD"), digest, "first-class-letter", postroom.clock.now().date(), "10001"
        )
        piece = meter.print_postage(job, request_id="x-1")
    return piece.record_bytes, piece.signature


def _add(screen: Screen, weight: str):
    return screen.post(
        "/batch/pieces", screen.get("/batch"), weight=weight, unit="oz", source="keyed"
    )


def test_a_batch_of_letters_prints_on_the_meter_once_with_one_receipt(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, sim: MeterSimulator
) -> None:
    page = screen.offers("1")
    form = {**screen.letter_form(page), "csrf_token": _csrf(page)}
    form.pop("target")
    started = screen.client.post("/batch", data=form)
    assert started.headers["Location"].endswith("/batch")
    assert _add(screen, "2").status_code == 303
    assert _add(screen, "0.5").status_code == 303
    assert _add(screen, "40").status_code == 422  # over the letter's limit: printed apart
    batch = screen.get("/batch")
    assert 'id="batch-count">3 pieces' in batch
    funds = sim.psd.state["descending"]
    done = screen.post("/batch/print", batch)
    assert done.headers["Location"].endswith("/batch/receipt")
    receipt = screen.get("/batch/receipt")
    charged = funds - sim.psd.state["descending"]
    assert sim.psd.state["pieces"] == 3
    assert f'id="receipt-total">{Money(charged, "USD").format("en_US")}' in receipt
    assert 'id="receipt-cost-center">Legal' in receipt
    logged = postroom.kiosk_pieces.pieces(kiosk_account.number)
    assert sorted(p.piece for p in logged) == [1, 2, 3]
    assert {p.cost_center for p in logged} == {"Legal"}
    # "Print all" touched again: nothing left to print, nothing charged
    assert (
        screen.client.post("/batch/print", data={"csrf_token": _csrf(receipt)}).status_code == 303
    )
    assert sim.psd.state["pieces"] == 3


def test_a_batch_without_a_meter_prints_on_the_virtual_meter(
    postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    app = create_terminal_app(
        LocalDataCenter(postroom, kiosk_account.number, "Mailroom"),
        secret_key="terminal-test",
        origin_zip="10001",
    )
    screen = Screen(app.test_client())
    screen.sign_in(operator.id)
    page = screen.offers("1")
    data = dict(
        re.findall(
            r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page.split('class="offer"')[1]
        )
    )
    started = screen.client.post("/batch", data={**data, "cost_center": "Sales"})
    assert started.status_code == 303
    assert _add(screen, "1.5").status_code == 303
    done = screen.post("/batch/print", screen.get("/batch"))
    assert done.headers["Location"].endswith("/batch/receipt")
    receipt = screen.get("/batch/receipt")
    assert receipt.count("/batch/pieces/") == 2  # both indicia, to print on the office printer
    assert screen.client.get("/batch/pieces/1/indicium.png").status_code == 200
    pieces = postroom.meters.pieces(postroom.meters.virtual_meter(kiosk_account.number).serial)
    assert sorted((p.piece, p.cost_center) for p in pieces) == [(1, "Sales"), (2, "Sales")]
