"""``/kiosk/print``: a kiosk bound to a customer account prints postage after pricing."""

from __future__ import annotations

import re

import attrs
import pytest
from flask.testing import FlaskClient

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import today
from postroom.core.demo import DEMO_CUSTOMER, demo_kiosk, load_demo
from postroom.core.meters.printing import verify_indicium
from postroom.core.money import Money


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def _field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match is not None, name
    return match.group(1)


def _price(client: FlaskClient, **fields: object) -> str:
    token = _csrf(client.get("/kiosk/price").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "service": "usps/first-class-letter",
        "weight": "1",
        "unit": "oz",
        **fields,
    }
    response = client.post("/kiosk/price", data=data)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _print_form(page: str, **changes: str) -> dict[str, str]:
    form = page.split('class="kiosk-print"', 1)[1].split("</form>", 1)[0]
    data = {
        name: _field(form, name)
        for name in ("csrf_token", "idempotency_key", "service", "weight", "unit")
    }
    centers = re.findall(r'name="cost_center" value="([^"]+)" checked', form)
    if centers:
        data["cost_center"] = centers[0]
    data.update(changes)
    return data


@pytest.fixture
def kiosk_account(postroom: Postroom) -> CustomerAccount:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.vault.deposit(account.number, Money.parse("10 USD"), "dep-1")
    serial = postroom.meters.virtual_meter(account.number).serial
    postroom.meters.set_cost_centers(serial, ["Legal", "Sales"])
    postroom.config = attrs.evolve(
        postroom.config, kiosk_account=account.number, kiosk_origin_zip="10001"
    )
    return account


def test_a_priced_letter_is_printed_and_its_indicium_verifies(
    client: FlaskClient, postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    page = _price(client)
    assert "Print postage" in page
    assert 'value="Legal" checked' in page
    assert 'value="Sales"' in page
    data = _print_form(page, cost_center="Sales")
    response = client.post("/kiosk/print", data=data)
    assert response.status_code == 303
    serial = f"V{kiosk_account.number}"
    assert response.headers["Location"].endswith(f"/kiosk/printed/{serial}/1")

    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="printed-cost-center">Sales</dd>' in shown
    assert f'src="/kiosk/printed/{serial}/1/indicium.png"' in shown
    assert 'id="print-button" hidden' in shown  # shown by the script only
    image = client.get(f"/kiosk/printed/{serial}/1/indicium.png")
    assert image.mimetype == "image/png"
    key = postroom.meters.get(serial).public_key_pem
    assert key is not None
    check = verify_indicium(image.data, key, today=today(postroom.clock), serial=serial)
    assert check.valid

    # a second touch on the same form prints nothing more
    again = client.post("/kiosk/print", data=data)
    assert again.headers["Location"].endswith(f"/kiosk/printed/{serial}/1")
    report = postroom.vault.report(kiosk_account.number, cost_center="Sales")
    assert len(report.entries) == 1


def test_another_session_cannot_show_the_printed_piece(
    client: FlaskClient, app, kiosk_account: CustomerAccount
) -> None:
    page = _price(client)
    location = client.post("/kiosk/print", data=_print_form(page)).headers["Location"]
    stranger = app.test_client()
    assert stranger.get(location).status_code == 404
    assert stranger.get(location + "/indicium.png").status_code == 404


def test_an_unbound_kiosk_refuses_printing_with_a_clear_page(
    client: FlaskClient, postroom: Postroom
) -> None:
    page = _price(client)
    assert "Print postage" not in page
    token = _csrf(page)
    response = client.post(
        "/kiosk/print",
        data={"csrf_token": token, "service": "usps/first-class-letter", "weight": "1"},
    )
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "This kiosk does not print postage" in text
    assert "POSTROOM_KIOSK_ACCOUNT" in text


def test_without_funds_the_kiosk_says_so_and_charges_nothing(
    client: FlaskClient, postroom: Postroom
) -> None:
    poor = postroom.accounts.create("Poor Mailroom", "US", "USD")
    postroom.config = attrs.evolve(
        postroom.config, kiosk_account=poor.number, kiosk_origin_zip="10001"
    )
    response = client.post("/kiosk/print", data=_print_form(_price(client)))
    assert response.status_code == 409
    assert "postage funds are too low" in response.get_data(as_text=True)
    assert postroom.meters.pieces(f"V{poor.number}") == []
    assert postroom.vault.balance(poor.number).balances.debits_pending == 0


def test_a_cost_centre_not_of_the_account_is_refused(
    client: FlaskClient, kiosk_account: CustomerAccount
) -> None:
    data = _print_form(_price(client), cost_center="Marketing")
    response = client.post("/kiosk/print", data=data)
    assert response.status_code == 422
    assert "Choose one of the cost centres shown." in response.get_data(as_text=True)


def test_the_print_form_needs_its_csrf_token(
    client: FlaskClient, app, kiosk_account: CustomerAccount
) -> None:
    data = _print_form(_price(client))
    app.config["WTF_CSRF_ENABLED"] = True
    del data["csrf_token"]
    assert client.post("/kiosk/print", data=data).status_code == 400


def test_the_kiosk_prints_in_french(
    client: FlaskClient, postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    token = _csrf(client.get("/kiosk/price").get_data(as_text=True))
    client.post("/language", data={"lang": "fr", "next": "/kiosk/price", "csrf_token": token})
    page = _price(client, weight="1,5")
    assert "Imprimer l\u2019affranchissement" in page
    location = client.post("/kiosk/print", data=_print_form(page)).headers["Location"]
    shown = client.get(location).get_data(as_text=True)
    assert "Affranchissement imprimé" in shown
    assert re.search(r'id="printed-postage">[0-9]+,[0-9]{2}\xa0\$US</dd>', shown)


def test_the_demo_kiosk_prints_for_the_demo_customer(
    client: FlaskClient, postroom: Postroom
) -> None:
    # `serve --demo` binds the kiosk to the demo customer, unless one is configured.
    load_demo(postroom)
    demo_kiosk(postroom)
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    assert postroom.config.kiosk_account == customer.number
    before = postroom.vault.balance(customer.number).balances.balance
    response = client.post("/kiosk/print", data=_print_form(_price(client)))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/kiosk/printed/V{customer.number}/1")
    assert postroom.vault.balance(customer.number).balances.balance < before
    configured = attrs.evolve(postroom.config, kiosk_account="1234567897")
    postroom.config = configured
    demo_kiosk(postroom)
    assert postroom.config is configured
