"""/api/v1/catalog, /cart and /orders: a customer orders by API key; another account's
order answers 404; only staff, by their portal session, move an order on, change the
stock (recorded with who and why) and decide on uploaded slogans (supervisors)."""

from __future__ import annotations

import re

import attrs
import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.shop.catalogue import demo_items

PASSWORD = "correct horse battery staple 7"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _person(postroom: Postroom, number: str | None, email: str, role: str) -> str:
    link = (
        postroom.identity.invite_staff(email, role)
        if number is None
        else postroom.identity.invite(number, email, role)
    )
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )
    return postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1").token


@pytest.fixture
def world(postroom: Postroom) -> dict[str, str]:
    for item in demo_items({"PR-VPSD1": "postroom-vpsd-1"}):
        postroom.shop.save_item(item)
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    other = postroom.accounts.create("Other Mailroom", "US", "USD").number
    postroom.meters.register(mine, product_code="PR-VPSD1", serial="PR-API-1")
    for number in (mine, other):
        postroom.billing.set_profile(number, region="NY")
    return {
        "mine": postroom.accounts.create_api_key(mine).token,
        "other": postroom.accounts.create_api_key(other).token,
        "card": postroom.funding.add_instrument(mine, "sandbox-card", CARD).id,
        "agent": _person(postroom, None, "agent@postroom.example", "agent"),
        "owner": _person(postroom, mine, "owner@acme.example", "owner"),
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def csrf_of(client: FlaskClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))
    assert match is not None
    return match.group(1)


def order_two(client: FlaskClient, world: dict[str, str], key: str = "api-1") -> dict:
    for sku, quantity in (("INK-VPSD1", 1), ("SEAL-1L", 2)):
        response = client.post(
            "/api/v1/cart/lines",
            json={"sku": sku, "quantity": quantity},
            headers=bearer(world["mine"]),
        )
        assert response.status_code == 200, response.get_json()
    response = client.post(
        "/api/v1/orders",
        json={"id": key, "payment_method": "source", "instrument_id": world["card"]},
        headers=bearer(world["mine"]),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_customer_orders_by_api_and_a_retry_answers_the_same_order(
    client: FlaskClient, world: dict[str, str]
) -> None:
    catalog = client.get("/api/v1/catalog", headers=bearer(world["mine"])).get_json()["items"]
    ink = next(i for i in catalog if i["sku"] == "INK-VPSD1")
    assert ink["fits_your_meter"] is True
    assert ink["price"] == {"amount": "49.99", "currency": "USD"}
    order = order_two(client, world)
    assert order["status"] == "paid"
    assert order["net"] == {"amount": "75.79", "currency": "USD"}
    assert order["total"] == {"amount": "78.82", "currency": "USD"}  # with New York's tax
    again = client.post(
        "/api/v1/orders",
        json={"id": "api-1", "payment_method": "source", "instrument_id": world["card"]},
        headers=bearer(world["mine"]),
    )
    assert again.status_code == 200
    assert again.get_json()["number"] == order["number"]
    listed = client.get("/api/v1/orders", headers=bearer(world["mine"])).get_json()["items"]
    assert [o["number"] for o in listed] == [order["number"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sku": "INK-VPSD1", "quantity": 0}, 422, "invalid_quantity"),
        ({"sku": "INK-VPSD1", "quantity": -1}, 422, "invalid_quantity"),
        ({"sku": "NOPE-9", "quantity": 1}, 404, "unknown_sku"),
        ({"sku": "INK-VPSD1", "quantity": 999}, 409, "out_of_stock"),
        ({"sku": "<b>x</b>", "quantity": 1}, 422, "unknown_sku"),
    ],
)
def test_bad_cart_input_answers_a_stable_code(
    client: FlaskClient, world: dict[str, str], body: dict, status: int, code: str
) -> None:
    response = client.post("/api/v1/cart/lines", json=body, headers=bearer(world["mine"]))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert client.get("/api/v1/cart", headers=bearer(world["mine"])).get_json()["lines"] == []


def test_another_accounts_order_answers_404(client: FlaskClient, world: dict[str, str]) -> None:
    order = order_two(client, world)
    for path in (
        f"/api/v1/orders/{order['number']}",
        "/api/v1/orders/SO-2026-000000",
    ):
        response = client.get(path, headers=bearer(world["other"]))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "order_not_found"
    for path, body in (
        (f"/api/v1/orders/{order['number']}/reorder", None),
        (f"/api/v1/orders/{order['number']}/payment", {"instrument_id": world["card"]}),
    ):
        assert client.post(path, json=body, headers=bearer(world["other"])).status_code == 404


def test_only_staff_move_an_order_on(client: FlaskClient, world: dict[str, str]) -> None:
    order = order_two(client, world)
    path = f"/api/v1/orders/{order['number']}/status"
    body = {"status": "cancelled", "note": "refund me"}
    # the customer's API key, and the customer's own portal session, are refused
    refused = client.post(path, json=body, headers=bearer(world["mine"]))
    assert refused.status_code == 401
    client.set_cookie("postroom_session", world["owner"])
    refused = client.post(path, json=body, headers={"X-CSRFToken": csrf_of(client)})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "staff_only"
    client.set_cookie("postroom_session", world["agent"])
    assert client.post(path, json=body).status_code == 403  # no CSRF token
    token = csrf_of(client)
    moved = client.post(path, json={"status": "picking"}, headers={"X-CSRFToken": token})
    assert moved.status_code == 200
    shipped = client.post(
        path,
        json={"status": "shipped", "tracking_number": "1Z999AA10123456784"},
        headers={"X-CSRFToken": token},
    )
    assert shipped.get_json()["status"] == "shipped"
    assert shipped.get_json()["events"][-1]["by"] == "Agent"
    client.delete_cookie("postroom_session")
    seen = client.get(f"/api/v1/orders/{order['number']}", headers=bearer(world["mine"]))
    assert seen.get_json()["tracking_number"] == "1Z999AA10123456784"


def test_a_price_change_answers_409_with_the_new_prices(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    client.post(
        "/api/v1/cart/lines", json={"sku": "SEAL-1L", "quantity": 1}, headers=bearer(world["mine"])
    )
    seal = postroom.shop.item("SEAL-1L")
    postroom.shop.save_item(attrs.evolve(seal, prices={**seal.prices, "USD": 14_900}))
    response = client.post(
        "/api/v1/orders",
        json={"id": "p-1", "payment_method": "source", "instrument_id": world["card"]},
        headers=bearer(world["mine"]),
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "price_changed"
    assert error["details"]["changes"] == [{"sku": "SEAL-1L", "before": "12.90", "now": "14.90"}]
    cart = client.get("/api/v1/cart", headers=bearer(world["mine"])).get_json()
    assert cart["total"] == {"amount": "14.90", "currency": "USD"}


def test_another_account_cannot_pay_with_my_card(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    client.post(
        "/api/v1/cart/lines", json={"sku": "SEAL-1L", "quantity": 1}, headers=bearer(world["other"])
    )
    response = client.post(
        "/api/v1/orders",
        json={"id": "steal-1", "payment_method": "source", "instrument_id": world["card"]},
        headers=bearer(world["other"]),
    )
    # the order is placed unpaid: the card is not the caller's, nothing was charged
    assert response.status_code == 201
    order = response.get_json()
    assert order["status"] == "placed"
    assert order["payment_failure"].startswith("instrument_not_found")
    purchases = [
        p for n in ("mine", "other") for p in postroom.funding.payments(
            postroom.accounts.authenticate(world[n]).number
        ) if p.kind == "purchase"
    ]  # fmt: skip
    assert purchases == []
    stock = postroom.shop.item("SEAL-1L").stock
    cancelled = client.post(
        f"/api/v1/orders/{order['number']}/cancel", headers=bearer(world["other"])
    )
    assert cancelled.get_json()["status"] == "cancelled"
    assert postroom.shop.item("SEAL-1L").stock == stock + 1


def test_only_staff_change_the_stock_and_each_change_says_who_and_why(
    client: FlaskClient, world: dict[str, str], postroom: Postroom
) -> None:
    path = "/api/v1/catalog/SEAL-1L/stock"
    body = {"change": 12, "reason": "delivery 4411"}
    assert client.post(path, json=body, headers=bearer(world["mine"])).status_code == 401
    client.set_cookie("postroom_session", world["owner"])
    refused = client.post(path, json=body, headers={"X-CSRFToken": csrf_of(client)})
    assert refused.get_json()["error"]["code"] == "staff_only"
    client.set_cookie("postroom_session", world["agent"])
    assert client.post(path, json=body).status_code == 403  # no CSRF token
    token = {"X-CSRFToken": csrf_of(client)}
    for bad, status, code in (
        ({"change": 0, "reason": "x"}, 422, "invalid_stock"),
        ({"change": 5}, 422, "missing_field"),
        ({"change": -10_000, "reason": "count"}, 409, "out_of_stock"),
    ):
        answer = client.post(path, json=bad, headers=token)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (status, code)
    assert client.post("/api/v1/catalog/NOPE-1/stock", json=body, headers=token).status_code == 404
    received = client.post(path, json=body, headers=token)
    assert received.status_code == 200
    assert received.get_json()["stock"] == 72
    moves = client.get("/api/v1/catalog/SEAL-1L/stock-moves", headers=token).get_json()["items"]
    assert [(m["change"], m["stock_after"], m["staff"], m["reason"]) for m in moves] == [
        (12, 72, "Agent", "delivery 4411")
    ]
    assert postroom.shop.item("SEAL-1L").stock == 72


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100">'
    b'<rect width="300" height="100" fill="#036"/></svg>'
)


def test_supervisors_decide_on_uploaded_slogans_agents_look_and_customers_cannot(
    client: FlaskClient, world: dict[str, str], postroom: Postroom
) -> None:
    customer = postroom.accounts.authenticate(world["mine"]).number
    number = postroom.shop.addons.upload_slogan(customer, "PR-API-1", "ad.svg", SVG).number
    decide = f"/api/v1/slogans/{number}/decision"
    assert client.get("/api/v1/slogans", headers=bearer(world["mine"])).status_code == 401
    assert (
        client.post(decide, json={"decision": "approve"}, headers=bearer(world["mine"])).status_code
        == 401
    )
    client.set_cookie("postroom_session", world["owner"])
    owner = client.post(
        decide, json={"decision": "approve"}, headers={"X-CSRFToken": csrf_of(client)}
    )
    assert owner.get_json()["error"]["code"] == "staff_only"
    client.set_cookie("postroom_session", world["agent"])
    token = {"X-CSRFToken": csrf_of(client)}
    (waiting,) = client.get("/api/v1/slogans", headers=token).get_json()["items"]
    assert (waiting["number"], waiting["status"]) == (number, "pending")
    graphic = client.get(f"/api/v1/slogans/{number}/graphic", headers=token)
    assert graphic.mimetype == "image/svg+xml"
    assert "sandbox" in graphic.headers["Content-Security-Policy"]
    agent = client.post(decide, json={"decision": "approve"}, headers=token)
    assert (agent.status_code, agent.get_json()["error"]["code"]) == (403, "staff_only")
    supervisor = _person(postroom, None, "supervisor@postroom.example", "supervisor")
    client.set_cookie("postroom_session", supervisor)
    token = {"X-CSRFToken": csrf_of(client)}
    no_reason = client.post(decide, json={"decision": "reject"}, headers=token)
    assert no_reason.get_json()["error"]["code"] == "invalid_note"
    approved = client.post(decide, json={"decision": "approve"}, headers=token)
    assert approved.status_code == 200
    assert (approved.get_json()["status"], approved.get_json()["decided_by"]) == (
        "queued",
        "Supervisor",
    )
    again = client.post(decide, json={"decision": "reject", "reason": "no"}, headers=token)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "slogan_decided")
    assert client.get("/api/v1/slogans", headers=token).get_json()["items"] == []
