"""``postroom kiosk serve``'s screens (``frontends/kiosk/terminal.py``): an operator signs
in, weighs on the scale simulator (or keys the weight in), chooses among the services the
account can print, cheapest first, and prints; on the local store and against a real data
center over HTTP with the terminal's kiosk key (``kiosk_account``, ``operator``:
conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from served import served
from sweep import Sweep

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock, today
from postroom.core.meters.printing import verify_indicium
from postroom.frontends.kiosk.backend import DataCenter
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.remote import RemoteDataCenter
from postroom.frontends.kiosk.scale import TerminalScale
from postroom.frontends.kiosk.terminal import FACTS_TTL, create_terminal_app
from postroom.frontends.web import create_app
from postroom.hal.labels import ZplPrinter
from postroom.hal.labels.simulator import ZplPrinterSimulator
from postroom.hal.labels.zpl import datamatrix_contents
from postroom.hal.scales.simulators import NciSimulator, SicsSimulator

OPERATOR_PIN = "246813"  # the ``operator`` fixture's
IDLE = 60


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


class Screen:
    """Touches on the terminal's screen through one browser session."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str) -> str:
        return self.client.get(path, follow_redirects=True).get_data(as_text=True)

    def post(self, path: str, page: str, **form: str):
        return self.client.post(path, data={"csrf_token": _csrf(page), **form})

    def sign_in(self, operator: int, pin: str = OPERATOR_PIN):
        return self.post("/sign-in", self.get("/sign-in"), operator=str(operator), pin=pin)

    def offers(self, weight: str = "1", unit: str = "oz", **form: str):
        page = self.get("/weigh")
        return self.post("/offers", page, weight=weight, unit=unit, source="keyed", **form)

    @staticmethod
    def print_form(page: str, index: int = 0, **changes: str) -> dict[str, str]:
        form = page.split('class="offer"', index + 1)[index + 1].split("</form>", 1)[0]
        data = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
        centers = re.findall(r'name="cost_center" value="([^"]+)" checked', form)
        if centers:
            data["cost_center"] = centers[0]
        data.update(changes)
        return data


def _terminal(
    data_center: DataCenter, scale: TerminalScale | None = None, clock: FrozenClock | None = None
) -> Flask:
    app = create_terminal_app(
        data_center,
        secret_key="terminal-test",
        origin_zip="10001",
        idle_seconds=IDLE,
        scale=scale,
        clock=clock,
    )
    app.config["TESTING"] = True
    return app


@pytest.fixture
def local(postroom: Postroom, kiosk_account: CustomerAccount) -> LocalDataCenter:
    return LocalDataCenter(postroom, kiosk_account.number, "Mailroom")


@pytest.fixture
def screen(local: LocalDataCenter) -> Screen:
    return Screen(_terminal(local).test_client())


def test_nothing_but_sign_in_without_an_operator(screen: Screen) -> None:
    for path in ("/weigh", "/", "/printed/V1/1"):
        answer = screen.client.get(path)
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("/sign-in")
    page = screen.get("/sign-in")
    assert "Alice Martin" not in page  # no operator yet: the fixture adds her
    for asset in ("/static/favicon.svg", "/terminal-static/kiosk.css"):
        assert screen.client.get(asset).status_code == 200


def test_no_screen_or_form_answers_a_server_error(
    local: LocalDataCenter, operator: KioskOperator
) -> None:
    """Every screen the operator reaches and every form on them, the print and the
    printed piece's forms included, sent with hostile values and as they stand
    (``sweep.py``; the CSRF check off so that they reach the screens' own checks)."""
    with SicsSimulator("0.25", "kg") as scale:
        app = _terminal(local, TerminalScale(scale.path, "sics", timeout=0.5))
        app.config["WTF_CSRF_ENABLED"] = False
        screen = Screen(app.test_client())
        screen.sign_in(operator.id)
        sweep = Sweep(screen.client)
        offers = screen.offers("1", "oz").get_data(as_text=True)
        sweep.take("/offers", offers)
        printed = screen.client.post("/print", data=screen.print_form(offers))
        assert printed.status_code == 303
        sweep.crawl(["/weigh", "/", printed.headers["Location"]], limit=50)
        assert len(sweep.pages) >= 4
        sweep.send_forms()
        assert sweep.failures == []


def test_a_wrong_pin_is_refused_and_the_right_one_signs_in(
    screen: Screen, operator: KioskOperator
) -> None:
    wrong = screen.sign_in(operator.id, "000000")
    assert wrong.status_code == 401
    assert "Unknown operator or wrong PIN." in wrong.get_data(as_text=True)
    right = screen.sign_in(operator.id)
    assert right.status_code == 303
    assert right.headers["Location"].endswith("/weigh")
    page = screen.get("/weigh")
    assert 'id="signed-in-operator">Alice Martin' in page
    assert 'value="oz" checked' in page  # a US account weighs in ounces
    assert 'value="g"' not in page
    assert f'content="{IDLE + 1};url=/sign-in?idle=1"' in page


def test_a_keyed_in_letter_is_offered_cheapest_first_and_printed_once(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    offers = screen.offers("1", "oz")
    assert offers.status_code == 200
    page = offers.get_data(as_text=True)
    assert "laposte" not in page
    totals = [Decimal(t) for t in re.findall(r'class="offer-total">\$([0-9.]+)<', page)]
    assert totals
    assert totals == sorted(totals)

    form = screen.print_form(page)
    printed = screen.client.post("/print", data=form)
    assert printed.status_code == 303, printed.get_data(as_text=True)
    location = printed.headers["Location"]
    again = screen.client.post("/print", data=form)  # a double touch
    assert again.headers["Location"] == location
    assert len(postroom.ledger.report(kiosk_account.number, cost_center="Legal").entries) == 1

    shown = screen.get(location)
    assert 'id="printed-cost-center">Legal</dd>' in shown
    image = screen.client.get(location + "/indicium.png")
    assert image.mimetype == "image/png"
    serial = location.split("/")[-2]
    key = postroom.meters.get(serial).public_key_pem
    assert key is not None
    assert verify_indicium(image.data, key, today=today(postroom.clock)).valid
    document = screen.client.get(location + "/indicium.pdf")
    assert document.mimetype == "application/pdf"
    assert document.data.startswith(b"%PDF-")
    assert 'id="indicium-pdf"' in shown
    # another session (another screen) cannot show the piece
    stranger = Screen(screen.client.application.test_client())
    stranger.sign_in(operator.id)
    assert stranger.client.get(location).status_code == 404


def test_bad_weights_are_form_errors(screen: Screen, operator: KioskOperator) -> None:
    screen.sign_in(operator.id)
    for weight, unit in (("", "oz"), ("abc", "oz"), ("-1", "oz"), ("0", "oz"), ("1", "g")):
        answer = screen.offers(weight, unit)
        assert answer.status_code == 422, (weight, unit)
        assert "Enter a weight greater than zero" in answer.get_data(as_text=True)


def test_a_euro_service_sent_anyway_is_refused_with_the_real_reason(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    page = screen.offers("0.5", "oz").get_data(as_text=True)
    before = postroom.ledger.report(kiosk_account.number).entries
    form = screen.print_form(page, carrier="laposte", service="lettre-verte")
    answer = screen.client.post("/print", data=form)
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "cannot print this service: it is priced in EUR and the account pays in USD" in text
    assert "try again" not in text
    assert postroom.ledger.report(kiosk_account.number).entries == before


def test_a_cost_centre_not_shown_is_refused(screen: Screen, operator: KioskOperator) -> None:
    screen.sign_in(operator.id)
    page = screen.offers().get_data(as_text=True)
    answer = screen.client.post("/print", data=screen.print_form(page, cost_center="Nope"))
    assert answer.status_code == 422
    assert "Choose one of the cost centres shown." in answer.get_data(as_text=True)


def test_idle_signs_out_and_clears_the_screen(
    screen: Screen, clock: FrozenClock, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    clock.advance(timedelta(seconds=IDLE + 1))
    answer = screen.client.get("/weigh")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/sign-in?idle=1")
    page = screen.get(answer.headers["Location"])
    assert "You were signed out after 60 seconds without a touch." in page
    assert "signed-in-operator" not in page


def test_the_screens_speak_french(screen: Screen, operator: KioskOperator) -> None:
    page = screen.get("/sign-in")
    screen.client.post(
        "/language", data={"csrf_token": _csrf(page), "lang": "fr", "next": "/sign-in"}
    )
    assert "Se connecter pour imprimer" in screen.get("/sign-in")
    screen.sign_in(operator.id)
    assert "Peser le pli" in screen.get("/weigh")
    assert "Choisir le service" in screen.offers().get_data(as_text=True)


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        ({"weight": "0.50", "unit": "lb"}, ["8.00 oz", "Stable", 'id="use-scale">']),
        ({"weight": "0.50", "unit": "lb", "motion": True}, ["In motion: wait a moment."]),
        ({"weight": "0.00", "unit": "lb"}, ["Zero: put the piece on the scale."]),
        ({"weight": "9.00", "overload": True}, ["Over capacity: take the piece off the scale."]),
        ({"weight": "1.00", "silent": True}, ["The scale does not answer"]),
    ],
)
def test_the_weigh_screen_shows_the_scale(
    local: LocalDataCenter, operator: KioskOperator, state: dict, shown: list[str]
) -> None:
    with NciSimulator(**state) as simulator:
        screen = Screen(
            _terminal(local, TerminalScale(simulator.path, "nci", timeout=0.3)).test_client()
        )
        screen.sign_in(operator.id)
        page = screen.get("/weigh")
    for text in shown:
        assert text in page
    if "Stable" not in shown:
        assert 'id="use-scale" disabled' in page


def test_a_stable_weight_from_the_scale_is_priced(
    local: LocalDataCenter, operator: KioskOperator
) -> None:
    with NciSimulator(weight="0.06", unit="lb") as simulator:
        scale = TerminalScale(simulator.path, "nci", timeout=0.5)
        screen = Screen(_terminal(local, scale).test_client())
        screen.sign_in(operator.id)
        page = screen.get("/weigh")
        answer = screen.post("/offers", page, source="scale")
        assert answer.status_code == 200
        assert "Piece of 0.96 oz, cheapest first." in answer.get_data(as_text=True)
        simulator.state.weight = Decimal("0.02")
        zeroed = screen.post("/weigh/zero", screen.get("/weigh"))
        assert zeroed.status_code == 303
        assert simulator.state.weight == 0


def test_a_missing_scale_leaves_manual_entry(local: LocalDataCenter, operator) -> None:
    scale = TerminalScale("/nonexistent/tty-of-no-scale", "nci", timeout=0.2)
    screen = Screen(_terminal(local, scale).test_client())
    screen.sign_in(operator.id)
    page = screen.get("/weigh")
    assert "No scale is connected: key the weight in." in page
    assert screen.offers("1", "oz").status_code == 200


def test_over_the_api_with_the_kiosk_key(
    data_center_url: str,
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator,
    clock: FrozenClock,
) -> None:
    issued = postroom.kiosks.issue_key(kiosk_account.number, "Mailroom, 2nd floor")
    remote = RemoteDataCenter(data_center_url, issued.token)
    screen = Screen(_terminal(remote, clock=clock).test_client())
    assert "Mailroom, 2nd floor" in screen.get("/sign-in")
    assert screen.sign_in(operator.id, "000000").status_code == 401
    assert screen.sign_in(operator.id).status_code == 303
    page = screen.offers("0.5", "oz").get_data(as_text=True)
    assert "laposte" not in page
    printed = screen.client.post("/print", data=screen.print_form(page))
    assert printed.status_code == 303, printed.get_data(as_text=True)
    image = screen.client.get(printed.headers["Location"] + "/indicium.png")
    assert image.mimetype == "image/png"
    [key] = postroom.kiosks.keys(kiosk_account.number)
    assert key.last_contact_at is not None

    # a euro service: the data center's reason, shown as the local store shows it
    euro = screen.client.post(
        "/print",
        data=screen.print_form(
            page, carrier="laposte", service="lettre-verte", idempotency_key="terminal-euro"
        ),
    )
    assert euro.status_code == 422
    assert "priced in EUR and the account pays in USD" in euro.get_data(as_text=True)

    postroom.kiosks.revoke_key(kiosk_account.number, issued.key.prefix)
    # the terminal trusts its last answer for FACTS_TTL (3 s), then asks again
    assert screen.client.get("/weigh").status_code == 200
    clock.advance(FACTS_TTL)
    refused = screen.client.get("/weigh")
    assert refused.status_code == 303  # the revoked key's operator session is refused too


def test_an_unreachable_data_center_says_it_waits(operator) -> None:
    remote = RemoteDataCenter("http://127.0.0.1:9", "prt_0123456789ab_secret", timeout=0.5)
    screen = Screen(_terminal(remote).test_client())
    answer = screen.client.get("/sign-in")
    assert answer.status_code == 503
    assert "The data center cannot be reached" in answer.get_data(as_text=True)


def test_a_parcel_label_goes_to_the_zpl_printer_and_a_reprint_charges_nothing(
    local: LocalDataCenter, postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    with ZplPrinterSimulator() as printer:
        app = create_terminal_app(
            local,
            secret_key="terminal-test",
            origin_zip="10001",
            scale=None,
            label_printer=ZplPrinter(printer.path, timeout=0.5),
        )
        screen = Screen(app.test_client())
        screen.sign_in(operator.id)
        page = screen.offers("1", "oz").get_data(as_text=True)
        printed = screen.client.post("/print", data=screen.print_form(page))
        assert printed.status_code == 303, printed.get_data(as_text=True)
        location = printed.headers["Location"]
        [label] = printer.wait_for_labels(1)
        assert datamatrix_contents(label)

        printer.state.paper_out = True
        shown = screen.get(location)
        again = screen.post(location + "/label", shown)
        assert again.status_code == 503
        assert "out of labels" in again.get_data(as_text=True)
        printer.state.paper_out = False
        assert screen.post(location + "/label", shown).status_code == 303
        labels = printer.wait_for_labels(2)
        assert datamatrix_contents(labels[1]) == datamatrix_contents(label)
    report = postroom.ledger.report(kiosk_account.number, cost_center="Legal")
    assert len(report.entries) == 1  # two labels, one charge


def test_a_printer_out_of_labels_is_refused_before_any_charge(
    local: LocalDataCenter, postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    with ZplPrinterSimulator(paper_out=True) as printer:
        app = create_terminal_app(
            local,
            secret_key="terminal-test",
            origin_zip="10001",
            label_printer=ZplPrinter(printer.path, timeout=0.5),
        )
        screen = Screen(app.test_client())
        screen.sign_in(operator.id)
        before = postroom.ledger.report(kiosk_account.number).entries
        page = screen.offers("1", "oz").get_data(as_text=True)
        answer = screen.client.post("/print", data=screen.print_form(page))
    assert answer.status_code == 503
    text = answer.get_data(as_text=True)
    assert "The label printer is out of labels: load a new roll. Nothing was charged." in text
    assert postroom.ledger.report(kiosk_account.number).entries == before


def test_tare_on_a_sics_scale_and_its_absence_on_nci(
    local: LocalDataCenter, operator: KioskOperator
) -> None:
    with SicsSimulator(weight="40.0", unit="g") as simulator:
        screen = Screen(
            _terminal(local, TerminalScale(simulator.path, "sics", timeout=0.5)).test_client()
        )
        screen.sign_in(operator.id)
        assert screen.post("/weigh/tare", screen.get("/weigh")).status_code == 303
        simulator.state.weight = Decimal("68.3")  # a 28.3 g letter in the tared tray
        assert 'id="scale-weight">1.00 oz' in screen.get("/weigh")  # net: 28.3 g = 0.998 oz
    with NciSimulator(weight="0.10", unit="lb") as simulator:
        screen = Screen(
            _terminal(local, TerminalScale(simulator.path, "nci", timeout=0.5)).test_client()
        )
        screen.sign_in(operator.id)
        answer = screen.post("/weigh/tare", screen.get("/weigh"))
        assert answer.status_code == 409
        assert "This scale cannot tare" in answer.get_data(as_text=True)


def test_a_print_whose_answer_is_lost_is_retried_with_the_same_key(
    postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    """The data center stops answering at the print: the screen offers the same print
    again, with the same key; once it is back, that touch prints, and a lost answer
    after a charge would show the piece without charging twice."""
    issued = postroom.kiosks.issue_key(kiosk_account.number, "Mailroom")
    with served(create_app(postroom=postroom)) as port:
        remote = RemoteDataCenter(f"http://127.0.0.1:{port}", issued.token, timeout=2)
        screen = Screen(_terminal(remote).test_client())
        screen.sign_in(operator.id)
        page = screen.offers("1", "oz").get_data(as_text=True)
        form = screen.print_form(page)

    lost = screen.client.post("/print", data=form)
    assert lost.status_code == 503
    text = lost.get_data(as_text=True)
    assert "The data center did not answer" in text
    assert f'name="idempotency_key" value="{form["idempotency_key"]}"' in text
    assert postroom.ledger.report(kiosk_account.number, cost_center="Legal").entries == ()

    with served(create_app(postroom=postroom), port=port):
        retried = screen.client.post("/print", data={**form, "csrf_token": _csrf(text)})
        assert retried.status_code == 303, retried.get_data(as_text=True)
        again = screen.client.post("/print", data={**form, "csrf_token": _csrf(text)})
        assert again.headers["Location"] == retried.headers["Location"]
    assert len(postroom.ledger.report(kiosk_account.number, cost_center="Legal").entries) == 1


def test_a_piece_over_every_limit_is_offered_nothing(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    screen.sign_in(operator.id)
    page = screen.offers("70", "lb").get_data(as_text=True)
    assert 'id="no-offers"' in page
    assert "print-button" not in page
