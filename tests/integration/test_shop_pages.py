"""/shop in English and French: the catalogue marks what fits, the cart orders once per
checkout key, a changed price shows before paying, a declined card leaves the order
unpaid, another account's order is 404 and only owners and admins order."""

from __future__ import annotations

import io
import re

import attrs
import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.shop.catalogue import demo_items
from postroom.core.shop.model import OrderStatus

PASSWORD = "correct horse battery staple 7"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}
DECLINING = {**CARD, "number": "4000000000000002"}


def _person(postroom: Postroom, number: str, email: str, role: str, language: str = "en") -> None:
    link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language=language,
    )


@pytest.fixture
def world(postroom: Postroom) -> dict[str, str]:
    for item in demo_items({"PR-VPSD1": "postroom-vpsd-1"}):
        postroom.shop.save_item(item)
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    other = postroom.accounts.create("Other Mailroom", "US", "USD").number
    postroom.meters.register(mine, product_code="PR-VPSD1", serial="PR-PAGE-1")
    postroom.billing.set_profile(mine, region="NY")
    _person(postroom, mine, "owner@acme.example", "owner")
    _person(postroom, mine, "operator@acme.example", "user", "fr")
    _person(postroom, other, "owner@other.example", "owner")
    return {
        "mine": mine,
        "other": other,
        "card": postroom.funding.add_instrument(mine, "sandbox-card", CARD).id,
        "declining": postroom.funding.add_instrument(mine, "sandbox-card", DECLINING).id,
    }


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    client.set_cookie(
        "postroom_session", postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1").token
    )


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def add(client: FlaskClient, sku: str, quantity: str) -> None:
    page = client.get("/shop").get_data(as_text=True)
    response = client.post(
        "/shop/cart/add",
        data={"csrf_token": field(page, "csrf_token"), "sku": sku, "quantity": quantity},
    )
    assert response.status_code == 303


def checkout(client: FlaskClient, payment: str, key: str | None = None):
    page = client.get("/shop/cart").get_data(as_text=True)
    return client.post(
        "/shop/checkout",
        data={
            "csrf_token": field(page, "csrf_token"),
            "checkout_key": key or field(page, "checkout_key"),
            "payment": payment,
        },
    )


def test_an_owner_orders_two_supplies_by_card_once(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    catalog = client.get("/shop").get_data(as_text=True)
    assert "Fits your meter" in catalog
    assert "$49.99" in catalog
    add(client, "INK-VPSD1", "1")
    add(client, "SEAL-1L", "2")
    cart = client.get("/shop/cart").get_data(as_text=True)
    assert "$75.79" in cart
    key = field(cart, "checkout_key")
    first = checkout(client, world["card"], key)
    assert first.status_code == 303
    number = first.headers["Location"].rsplit("/", 1)[-1]
    again = checkout(client, world["card"], key)  # the double click
    assert again.headers["Location"] == first.headers["Location"]
    orders = postroom.shop.orders(world["mine"])
    assert [(o.number, o.status) for o in orders] == [(number, OrderStatus.PAID)]
    page = client.get(f"/shop/orders/{number}").get_data(as_text=True)
    assert "shop-order.js" in page
    assert "<script>" not in page
    head = page.split("</head>")[0]  # without JavaScript the page refreshes itself
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in head
    assert "Paid" in page
    listed = client.get("/shop/orders").get_data(as_text=True)
    assert number in listed
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert number in dashboard  # paid, on its way: the dashboard's orders list it
    postroom.shop.set_status(number, "cancelled", staff="Sam", note="test")
    assert number not in client.get("/dashboard").get_data(as_text=True)


def test_a_changed_price_is_shown_before_paying(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    add(client, "SEAL-1L", "1")
    seal = postroom.shop.item("SEAL-1L")
    postroom.shop.save_item(attrs.evolve(seal, prices={**seal.prices, "USD": 14_900}))
    response = checkout(client, world["card"])
    assert response.headers["Location"] == "/shop/cart"
    cart = client.get("/shop/cart").get_data(as_text=True)
    assert "Prices changed since you filled your cart" in cart
    assert "$14.90" in cart
    assert postroom.shop.orders(world["mine"]) == []


def test_a_declined_card_leaves_the_order_unpaid_and_it_can_be_paid(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    add(client, "SEAL-1L", "1")
    response = checkout(client, world["declining"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your payment was declined" in page
    assert "Not paid" in page
    number = response.headers["Location"].rsplit("/", 1)[-1]
    paid = client.post(
        f"/shop/orders/{number}/pay",
        data={"csrf_token": field(page, "csrf_token"), "payment": world["card"]},
    )
    assert paid.status_code == 303
    assert postroom.shop.order(world["mine"], number).status is OrderStatus.PAID


def test_bad_quantities_are_a_message_not_an_error(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    for quantity in ("0", "-3", "abc", "99999999"):
        add(client, "INK-VPSD1", quantity)
        assert "Enter a quantity from 1 to 999." in client.get("/shop").get_data(as_text=True)
    add(client, "NOPE-1", "1")
    assert "This item is not in the catalogue any more." in client.get("/shop").get_data(
        as_text=True
    )
    assert postroom.shop.cart(world["mine"]).cart.lines == ()


def test_another_accounts_order_is_404_and_a_user_does_not_order(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    postroom.shop.add_to_cart(world["mine"], "SEAL-1L", 1)
    order = postroom.shop.checkout(world["mine"], "k", method="account")
    sign_in(client, postroom, "owner@other.example")
    assert client.get(f"/shop/orders/{order.number}").status_code == 404
    page = client.get("/shop").get_data(as_text=True)
    token = field(page, "csrf_token")
    assert (
        client.post(
            f"/shop/orders/{order.number}/pay", data={"csrf_token": token, "payment": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/shop/orders/{order.number}/reorder", data={"csrf_token": token}).status_code
        == 404
    )
    sign_in(client, postroom, "operator@acme.example")  # role user, reading French
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    add(client, "SEAL-1L", "1")
    cart = client.get("/shop/cart").get_data(as_text=True)
    assert "Un propriétaire ou un administrateur de votre compte passe la commande." in cart
    assert checkout(client, "account", "x-key").status_code == 404
    page = client.get(f"/shop/orders/{order.number}").get_data(as_text=True)
    assert "Payée" in page


def test_an_owner_buys_an_addon_and_uploads_a_slogan_bad_files_are_a_message(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "owner@acme.example")
    page = client.get("/shop/addons").get_data(as_text=True)
    assert "Department accounting" in page
    token = field(page, "csrf_token")
    bought = client.post(
        "/shop/addons/buy",
        data={"csrf_token": token, "serial": "PR-PAGE-1", "addon": "AD-SLOTS-4"},
    )
    assert bought.status_code == 303
    page = client.get("/shop/addons").get_data(as_text=True)
    assert "the meter PR-PAGE-1 gets it at its next sync" in page
    assert postroom.meters.get("PR-PAGE-1").features.get("ad_slots_4") is True

    def upload(data: bytes, name: str, mimetype: str) -> str:
        response = client.post(
            "/shop/slogans/upload",
            data={
                "csrf_token": token,
                "serial": "PR-PAGE-1",
                "graphic": (io.BytesIO(data), name, mimetype),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 303
        return client.get("/shop/addons").get_data(as_text=True)

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="90" height="30">'
    script = svg + b"<script>alert(1)</script></svg>"
    assert "The SVG contains a script: it is refused." in upload(script, "x.svg", "image/svg+xml")
    disguised = b"MZ\x90\x00" + b"\0" * 64
    assert "The file is neither a PNG nor an SVG image." in upload(disguised, "x.png", "image/png")
    fine = svg + b"<text>&lt;b&gt;Hi</text></svg>"
    page = upload(fine, "<i>logo</i>.svg", "image/svg+xml")
    assert "Waiting for approval" in page
    assert "<i>logo</i>" not in page  # the file name is escaped
    assert "&lt;i&gt;logo&lt;/i&gt;.svg" in page
    assert len(postroom.shop.addons.slogans(world["mine"])) == 1


def test_a_user_and_another_account_do_not_buy_for_the_meter(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    sign_in(client, postroom, "operator@acme.example")
    token = field(client.get("/shop/addons").get_data(as_text=True), "csrf_token")
    data = {"csrf_token": token, "serial": "PR-PAGE-1", "addon": "WEIGH-30KG"}
    assert client.post("/shop/addons/buy", data=data).status_code == 404
    sign_in(client, postroom, "owner@other.example")
    token = field(client.get("/shop/addons").get_data(as_text=True), "csrf_token")
    response = client.post("/shop/addons/buy", data={**data, "csrf_token": token})
    assert response.status_code == 303
    assert "Choose one of your meters in service." in client.get("/shop/addons").get_data(
        as_text=True
    )
    assert postroom.shop.addons.purchases(world["mine"]) == []
    assert postroom.billing.list(world["other"]) == []


def test_a_shipped_orders_page_links_its_parcel_which_my_shipments_lists(
    client: FlaskClient, postroom: Postroom, world: dict[str, str]
) -> None:
    postroom.shop.add_to_cart(world["mine"], "SEAL-1L", 1)
    order = postroom.shop.checkout(world["mine"], "k", method="account")
    postroom.shop.set_status(order.number, "picking", staff="Sam Staff")
    postroom.shop.set_status(
        order.number, "shipped", staff="Sam Staff", tracking_number="9400 1112 0108 0805 4830 16"
    )
    shipment = postroom.tracking.find(world["mine"], "9400111201080805483016")
    assert shipment is not None
    sign_in(client, postroom, "owner@acme.example")
    page = client.get(f"/shop/orders/{order.number}").get_data(as_text=True)
    assert f'href="/shipments/{shipment.id}"' in page
    assert "Follow the parcel" in page
    assert order.number in client.get("/shipments").get_data(as_text=True)
    sign_in(client, postroom, "owner@other.example")
    assert client.get(f"/shipments/{shipment.id}").status_code == 404
