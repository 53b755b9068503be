"""``/products``: a customer's equipment and contracts behind the portal's sign-in.

Every route answers 404 for another account's product and for a role it is not for
(a ``user`` reads; owners and admins register and request moves), redirects to the
sign-in page without a session, and refuses a form without its CSRF token.
"""

from __future__ import annotations

import re
from datetime import date

import attrs
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from postroom.core.app import Postroom
from postroom.core.contracts.model import parse_address
from postroom.core.money import Money

PASSWORD = "quiet harbour lantern 8"
MINE = "PR-WEB-1"
THEIRS = "PR-WEB-9"


@attrs.frozen
class Portal:
    mine: str
    theirs: str
    contract: str
    their_contract: str


def _person(postroom: Postroom, number: str | None, email: str, role: str) -> None:
    if number is None:
        link = postroom.identity.invite_staff(email, role)
    else:
        link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )


def _contract(postroom: Postroom, number: str, serial: str) -> str:
    return postroom.contracts.add(
        number,
        serial,
        kind="lease",
        start=date(2026, 1, 1),
        term_months=36,
        billing_period="quarterly",
        amount=Money.parse("149.70 USD"),
        notice_days=90,
        auto_renew=True,
    ).number


@pytest.fixture
def portal(postroom: Postroom) -> Portal:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    theirs = postroom.accounts.create("Other Mailroom", "US", "USD").number
    address = parse_address("12 Harbor Street", "", "02110", "Boston", "US")
    postroom.equipment.register_product(mine, address, product_code="PR-VPSD1", serial=MINE)
    postroom.equipment.register_product(theirs, address, product_code="PR-VPSD1", serial=THEIRS)
    _person(postroom, mine, "owner@acme.example", "owner")
    _person(postroom, mine, "operator@acme.example", "user")
    _person(postroom, theirs, "owner@other.example", "owner")
    _person(postroom, None, "admin@postroom.example", "admin")
    return Portal(
        mine, theirs, _contract(postroom, mine, MINE), _contract(postroom, theirs, THEIRS)
    )


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def address_form(**changes: str) -> dict[str, str]:
    return {
        "line1": "1 Main Street",
        "line2": "",
        "postal_code": "10001",
        "city": "New York",
        "country": "US",
        **changes,
    }


ROUTES = ["/products", "/products/register", f"/products/{MINE}", f"/products/{MINE}/address"]


@pytest.mark.parametrize("path", ROUTES)
def test_every_page_sends_a_visitor_without_a_session_to_the_sign_in(
    client: FlaskClient, portal: Portal, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/sign-in?next=")


def test_the_list_shows_the_accounts_products_and_contracts_only(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    page = client.get("/products").get_data(as_text=True)
    assert MINE in page
    assert portal.contract in page
    assert "12 Harbor Street" in page
    assert THEIRS not in page
    assert portal.their_contract not in page
    assert "Register a product" not in page  # a user reads, an owner registers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/products/{THEIRS}"),
        ("GET", f"/products/{THEIRS}/address"),
        ("POST", f"/products/{THEIRS}/address"),
        ("GET", "/products/NO-SUCH-1"),
    ],
)
def test_another_accounts_product_answers_404_on_every_route(
    client: FlaskClient, postroom: Postroom, portal: Portal, method: str, path: str
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    token = csrf(client.get("/products").get_data(as_text=True))
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(
            path, data={"csrf_token": token, **address_form(move_on="2026-03-20")}
        )
    assert response.status_code == 404
    assert THEIRS not in postroom.equipment.address_requests(status=None).__repr__()


def test_the_detail_shows_the_contracts_terms_and_renewal(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    page = client.get(f"/products/{MINE}").get_data(as_text=True)
    assert portal.contract in page
    assert "$149.70" in page
    assert "Jan 1, 2029" in page  # the renewal date after the 36-month term
    assert "Change installation address" not in page  # not for a user
    assert "Change installation address" in _as_owner_detail(client, postroom)


def _as_owner_detail(client: FlaskClient, postroom: Postroom) -> str:
    sign_in(client, postroom, "owner@acme.example")
    return client.get(f"/products/{MINE}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/products/register"),
        ("POST", "/products/register"),
        ("GET", f"/products/{MINE}/address"),
        ("POST", f"/products/{MINE}/address"),
    ],
)
def test_a_user_may_not_register_products_or_move_them(
    client: FlaskClient, postroom: Postroom, portal: Portal, method: str, path: str
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    token = csrf(client.get("/products").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "method": "label",
        "product_code": "PR-VPSD1",
        "serial": "PR-WEB-5",
        **address_form(move_on="2026-03-20"),
    }
    response = client.get(path) if method == "GET" else client.post(path, data=data)
    assert response.status_code == 404
    assert [p.serial for p in postroom.equipment.products(portal.mine)] == [MINE]
    assert postroom.equipment.address_requests() == []


def test_an_owner_registers_a_product_by_its_label_and_sees_its_key_once(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    response = post_form(
        client,
        "/products/register",
        {"method": "label", "product_code": "pr-vpsd1", "serial": "PR-WEB-2", **address_form()},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Product registered" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert re.search(r"prm_[0-9a-f]{12}_", page)
    product = postroom.equipment.product(portal.mine, "PR-WEB-2")
    assert product.address == parse_address("1 Main Street", "", "10001", "New York", "US")
    assert "prm_" not in client.get("/products/PR-WEB-2").get_data(as_text=True)


def test_an_owner_registers_a_product_by_its_installation_number(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    shipped = postroom.meters.provision("PR-VPSD1", "PR-WEB-3")
    sign_in(client, postroom, "owner@acme.example")
    number = shipped.installation_number
    spaced = f"{number[:5]} {number[5:]}"
    response = post_form(
        client,
        "/products/register",
        {"method": "installation", "installation_number": spaced, **address_form()},
    )
    assert response.status_code == 200
    assert postroom.equipment.product(portal.mine, "PR-WEB-3").installation_number == number


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"product_code": "XX-1"}, "Enter the product code printed on the label"),
        ({"serial": THEIRS}, "This product is registered already."),
        ({"postal_code": "<script>alert(1)</script>"}, "Enter the postal code"),
        ({"city": "x" * 1_000_000}, "Enter the city"),
        ({"country": "ZZ"}, "Choose the country."),
        ({"method": "installation", "installation_number": "12345678901"}, "11 digits"),
    ],
)
def test_bad_registrations_show_the_message_by_the_field_and_register_nothing(
    client: FlaskClient, postroom: Postroom, portal: Portal, fields: dict[str, str], message: str
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    data = {"method": "label", "product_code": "PR-VPSD1", "serial": "PR-WEB-4", **address_form()}
    response = post_form(client, "/products/register", {**data, **fields})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert "<script>alert(1)</script>" not in page
    assert [p.serial for p in postroom.equipment.products(portal.mine)] == [MINE]


def test_a_form_without_its_csrf_token_is_refused(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    response = client.post(
        "/products/register",
        data={
            "method": "label",
            "product_code": "PR-VPSD1",
            "serial": "PR-WEB-6",
            **address_form(),
        },
    )
    assert response.status_code == 400
    moved = client.post(f"/products/{MINE}/address", data=address_form(move_on="2026-03-20"))
    assert moved.status_code == 400
    assert [p.serial for p in postroom.equipment.products(portal.mine)] == [MINE]
    assert postroom.equipment.address_requests() == []


def test_an_owner_asks_to_move_a_product_and_sees_the_request_waiting(
    client: FlaskClient, postroom: Postroom, portal: Portal
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    response = post_form(
        client, f"/products/{MINE}/address", address_form(move_on="2026-03-20", city="Brooklyn")
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/products/{MINE}"
    [request] = postroom.equipment.address_requests()
    assert request.change.move_on == date(2026, 3, 20)
    assert request.change.requested_by == "Owner"
    page = client.get(f"/products/{MINE}").get_data(as_text=True)
    assert f"Address change {request.reference} requested" in page
    assert "Brooklyn" in page
    assert "12 Harbor Street" in page  # installed there until support confirms


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"move_on": "2020-01-01"}, "Choose a moving date from today to a year ahead."),
        ({"move_on": "not a date"}, "Not a valid date value."),
        ({"line1": "<b>bold</b>\x07"}, "Remove the control characters"),
    ],
)
def test_a_bad_move_request_is_refused_by_the_field(
    client: FlaskClient, postroom: Postroom, portal: Portal, fields: dict[str, str], message: str
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    data = {**address_form(move_on="2026-03-20"), **fields}
    response = post_form(client, f"/products/{MINE}/address", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert "<b>bold</b>" not in page
    assert postroom.equipment.address_requests() == []


def test_the_pages_speak_french(client: FlaskClient, postroom: Postroom, portal: Portal) -> None:
    sign_in(client, postroom, "owner@acme.example")
    headers = {"Accept-Language": "fr"}
    listing = client.get("/products", headers=headers).get_data(as_text=True)
    assert "Mes produits" in listing
    detail = client.get(f"/products/{MINE}", headers=headers).get_data(as_text=True)
    assert "149,70" in detail
    assert "1 janv. 2029" in detail


@pytest.mark.parametrize("path", ROUTES)
def test_staff_have_no_products_page_of_their_own(
    client: FlaskClient, postroom: Postroom, portal: Portal, path: str
) -> None:
    sign_in(client, postroom, "admin@postroom.example")
    assert client.get(path).status_code == 404
