"""``/kiosk/print``: a kiosk bound to a customer account prints postage after pricing,
for a signed-in operator (``kiosk``, ``kiosk_account`` and ``signed_in``: conftest.py)."""

from __future__ import annotations

import re

import attrs
from flask.testing import FlaskClient
from sweep import Sweep

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import today
from postroom.core.demo import DEMO_CUSTOMER, DEMO_OPERATOR, demo_kiosk, load_demo
from postroom.core.meters.printing import verify_indicium
from postroom.frontends.web import create_app


def test_a_priced_letter_is_printed_and_its_indicium_verifies(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    page = kiosk.price()
    assert "Print postage" in page
    assert 'value="Legal" checked' in page
    assert 'value="Sales"' in page
    data = kiosk.print_form(page, cost_center="Sales")
    response = kiosk.post("/kiosk/print", data)
    assert response.status_code == 303
    serial = f"V{kiosk_account.number}"
    assert response.headers["Location"].endswith(f"/kiosk/printed/{serial}/1")

    shown = kiosk.client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="printed-cost-center">Sales</dd>' in shown
    assert f'src="/kiosk/printed/{serial}/1/indicium.png"' in shown
    assert 'id="print-button" hidden' in shown  # shown by the script only
    image = kiosk.client.get(f"/kiosk/printed/{serial}/1/indicium.png")
    assert image.mimetype == "image/png"
    key = postroom.meters.get(serial).public_key_pem
    assert key is not None
    check = verify_indicium(image.data, key, today=today(postroom.clock), serial=serial)
    assert check.valid

    # a second touch on the same form prints nothing more
    again = kiosk.post("/kiosk/print", data)
    assert again.headers["Location"].endswith(f"/kiosk/printed/{serial}/1")
    report = postroom.ledger.report(kiosk_account.number, cost_center="Sales")
    assert len(report.entries) == 1


def test_another_session_cannot_show_the_printed_piece(
    kiosk, app, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    location = kiosk.print_piece().headers["Location"]
    stranger = app.test_client()
    assert stranger.get(location).status_code == 404
    assert stranger.get(location + "/indicium.png").status_code == 404


def test_an_unbound_kiosk_refuses_printing_with_a_clear_page(kiosk, postroom: Postroom) -> None:
    page = kiosk.price()
    assert "Print postage" not in page
    response = kiosk.post(
        "/kiosk/print",
        {"csrf_token": kiosk.csrf(page), "service": "usps/first-class-letter", "weight": "1"},
    )
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "This kiosk does not print postage" in text
    assert "POSTROOM_KIOSK_ACCOUNT" in text


def test_without_funds_the_kiosk_says_so_and_charges_nothing(kiosk, postroom: Postroom) -> None:
    poor = postroom.accounts.create("Poor Mailroom", "US", "USD")
    postroom.config = attrs.evolve(
        postroom.config, kiosk_account=poor.number, kiosk_origin_zip="10001"
    )
    operator = postroom.accounts.add_operator(poor.number, "Bob", kiosk.pin)
    kiosk.sign_in(operator.id)
    response = kiosk.print_piece()
    assert response.status_code == 409
    assert "postage funds are too low" in response.get_data(as_text=True)
    assert postroom.meters.pieces(f"V{poor.number}") == []
    assert postroom.ledger.balance(poor.number).balances.debits_pending == 0


def test_a_cost_centre_not_of_the_account_is_refused(kiosk, signed_in: KioskOperator) -> None:
    response = kiosk.print_piece(cost_center="Marketing")
    assert response.status_code == 422
    assert "Choose one of the cost centres shown." in response.get_data(as_text=True)


def test_the_print_form_needs_its_csrf_token(kiosk, app, signed_in: KioskOperator) -> None:
    data = kiosk.print_form(kiosk.price())
    app.config["WTF_CSRF_ENABLED"] = True
    del data["csrf_token"]
    assert kiosk.post("/kiosk/print", data).status_code == 400


def test_the_kiosk_prints_in_french(kiosk, signed_in: KioskOperator) -> None:
    token = kiosk.csrf(kiosk.client.get("/kiosk/price").get_data(as_text=True))
    kiosk.client.post("/language", data={"lang": "fr", "next": "/kiosk/price", "csrf_token": token})
    page = kiosk.price(weight="1,5")
    assert "Imprimer l\u2019affranchissement" in page
    location = kiosk.post("/kiosk/print", kiosk.print_form(page)).headers["Location"]
    shown = kiosk.client.get(location).get_data(as_text=True)
    assert "Affranchissement imprimé" in shown
    assert re.search(r'id="printed-postage">[0-9]+,[0-9]{2}\xa0\$US</dd>', shown)


def test_the_demo_kiosk_prints_for_the_demo_operator(
    kiosk, client: FlaskClient, postroom: Postroom
) -> None:
    # `serve --demo` binds the kiosk to the demo customer, unless one is configured, and
    # shows the demo operator's PIN once
    facts: dict[str, str] = {}
    load_demo(postroom, facts=facts)
    demo_kiosk(postroom)
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    assert postroom.config.kiosk_account == customer.number
    match = re.fullmatch(rf"{DEMO_OPERATOR}, PIN ([0-9]{{6}}) .*", facts["demo kiosk operator"])
    assert match is not None
    (operator,) = postroom.accounts.operators(customer.number)
    assert kiosk.sign_in(operator.id, match.group(1)).status_code == 303
    before = postroom.ledger.balance(customer.number).balances.balance
    response = kiosk.print_piece()
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/kiosk/printed/V{customer.number}/1")
    assert postroom.ledger.balance(customer.number).balances.balance < before
    configured = attrs.evolve(postroom.config, kiosk_account="1234567897")
    postroom.config = configured
    demo_kiosk(postroom)
    assert postroom.config is configured


def test_no_kiosk_page_or_form_answers_a_server_error(
    postroom: Postroom, kiosk, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    """The portal's kiosk pages as a signed-in operator goes through them, the price
    and the printed piece's forms included, every form sent with hostile values and as
    it stands (``sweep.py``; the CSRF check off so that they reach the pages' own)."""
    app = create_app({"WTF_CSRF_ENABLED": False}, postroom=postroom)
    client = app.test_client()
    client.environ_base["HTTP_ORIGIN"] = "http://localhost"  # the kiosk's own pages send it
    signed = client.post("/kiosk/sign-in", data={"operator": str(operator.id), "pin": kiosk.pin})
    assert signed.status_code == 303
    sweep = Sweep(client)
    price = {"service": "usps/first-class-letter", "weight": "1", "unit": "oz"}
    priced = client.post("/kiosk/price", data=price).get_data(as_text=True)
    sweep.take("/kiosk/price", priced)
    printed = client.post("/kiosk/print", data=kiosk.print_form(priced))
    assert printed.status_code == 303, printed.get_data(as_text=True)
    sweep.crawl(["/kiosk", "/kiosk/price", printed.headers["Location"]], limit=50)
    assert len(sweep.pages) >= 3
    sweep.send_forms()
    assert sweep.failures == []
