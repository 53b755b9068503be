"""The shop's use cases on in-memory fakes (no I/O): what a customer and staff rely on,
and that bad input leaves no money or stock lost or doubled."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from contracts_fakes import FakeAccounts, account
from fakes_shop import (
    FakeAddonRepository,
    FakeCharges,
    FakeCustomerMeters,
    FakeMeterAssets,
    FakePurchases,
    FakeShopRepository,
)
from fakes_transactions import FakeDatabase

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.core.money import Money
from postroom.core.shop.model import OrderStatus, make_item
from postroom.core.shop.service import ShopService

MINE = "1000000009"
OTHER = "2000000008"
CARD = "in_card"
BAD_CARD = "in_declines"


def usd(text: str) -> Money:
    return Money.of(text, "USD")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def repo() -> FakeShopRepository:
    repo = FakeShopRepository()
    repo.save_item(
        make_item(
            "INK-VPSD1",
            "ink",
            {"en": "Ink cartridge", "fr": "Cartouche d'encre"},
            {"en": "Red ink", "fr": "Encre rouge"},
            {"USD": 49_990, "EUR": 45_000},
            10,
            fits=["PR-VPSD1"],
        )
    )
    repo.save_item(
        make_item(
            "LBL-100",
            "labels",
            {"en": "Labels", "fr": "Étiquettes"},
            {"en": "100 labels", "fr": "100 étiquettes"},
            {"USD": 12_500},
            5,
        )
    )
    repo.save_item(
        make_item(
            "ENV-EU",
            "envelopes",
            {"en": "Envelopes", "fr": "Enveloppes"},
            {"en": "Euro only", "fr": "En euros"},
            {"EUR": 9_000},
            5,
        )
    )
    return repo


@pytest.fixture
def purchases() -> FakePurchases:
    gateway = FakePurchases()
    gateway.declining.add(BAD_CARD)
    return gateway


@pytest.fixture
def charges() -> FakeCharges:
    return FakeCharges()


@pytest.fixture
def db(repo: FakeShopRepository, charges: FakeCharges) -> FakeDatabase:
    return FakeDatabase(repo, charges)


@pytest.fixture
def shop(
    db: FakeDatabase,
    clock: FrozenClock,
    repo: FakeShopRepository,
    purchases: FakePurchases,
    charges: FakeCharges,
) -> ShopService:
    meters = FakeCustomerMeters()
    meters.add(MINE, "PR-MINE-1")
    return ShopService(
        db,
        clock,
        accounts=FakeAccounts({MINE: account(MINE), OTHER: account(OTHER)}),
        meters=meters,
        purchases=purchases,
        charges=charges,
        assets=FakeMeterAssets(),
        repository=repo,
        addon_repository=FakeAddonRepository(),
    )


def stock(repo: FakeShopRepository, sku: str) -> int:
    return repo.catalogue[sku].stock


def test_the_catalogue_is_priced_in_the_accounts_currency_and_marks_what_fits(
    shop: ShopService,
) -> None:
    mine = {e.item.sku: e for e in shop.catalog(MINE)}
    assert set(mine) == {"INK-VPSD1", "LBL-100"}  # the euro-only envelopes are not sold
    assert mine["INK-VPSD1"].price == usd("49.99")
    assert mine["INK-VPSD1"].fits_your_meter
    assert not mine["LBL-100"].fits_your_meter
    assert not {e.item.sku: e for e in shop.catalog(OTHER)}["INK-VPSD1"].fits_your_meter


@pytest.mark.parametrize(
    ("sku", "quantity", "code"),
    [
        ("INK-VPSD1", 0, "invalid_quantity"),
        ("INK-VPSD1", -2, "invalid_quantity"),
        ("INK-VPSD1", True, "invalid_quantity"),
        ("NOPE-1", 1, "unknown_sku"),
        ("ENV-EU", 1, "unknown_sku"),
        ("<script>", 1, "unknown_sku"),
    ],
)
def test_bad_cart_input_is_refused_and_writes_nothing(
    shop: ShopService, repo: FakeShopRepository, sku: str, quantity: int, code: str
) -> None:
    with pytest.raises((ValidationError, NotFound)) as caught:
        shop.add_to_cart(MINE, sku, quantity)
    assert caught.value.code == code
    assert repo.carts == {}


def test_more_than_the_stock_is_out_of_stock(shop: ShopService) -> None:
    shop.add_to_cart(MINE, "LBL-100", 4)
    with pytest.raises(Conflict) as caught:
        shop.add_to_cart(MINE, "LBL-100", 2)
    assert caught.value.code == "out_of_stock"
    assert shop.cart(MINE).cart.quantity_of("LBL-100") == 4


def test_a_card_checkout_pays_reserves_stock_and_empties_the_cart(
    shop: ShopService, repo: FakeShopRepository, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 2)
    shop.add_to_cart(MINE, "LBL-100", 1)
    order = shop.checkout(MINE, "key-1", method="source", instrument_id=CARD)
    assert order.status is OrderStatus.PAID
    assert order.net == usd("112.48")
    assert order.tax == usd("11.24")  # billing's taxes on the lines (the fake's 10 %)
    assert order.total == usd("123.72")
    assert order.payment_id is not None
    assert [e.status for e in order.events] == [OrderStatus.PLACED, OrderStatus.PAID]
    assert stock(repo, "INK-VPSD1") == 8
    assert stock(repo, "LBL-100") == 4
    assert shop.cart(MINE).cart.lines == ()
    assert purchases.charged(MINE) == usd("123.72")  # the card pays taxes included


def test_a_card_order_gets_its_invoice_issued_paid_by_the_card_once(
    shop: ShopService, charges: FakeCharges
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 2)
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    assert order.invoice_number == "INV-2026-000001"
    assert charges.paid == {f"order:{order.number}": order.payment_id}
    again = shop.checkout(MINE, "k", method="source", instrument_id=CARD)  # double click
    assert again.invoice_number == order.invoice_number
    assert len(charges.invoices) == 1
    shop.set_status(order.number, "cancelled", staff="Ann", note="damaged")
    assert charges.credited == [order.invoice_number]  # refunded, and its credit note


def test_a_card_order_billing_would_price_otherwise_is_paid_without_an_invoice(
    shop: ShopService, charges: FakeCharges, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 1)
    unpaid = shop.checkout(MINE, "k", method="source", instrument_id=BAD_CARD)

    def changed_taxes(*args: object, **kwargs: object) -> None:
        raise Conflict("the taxes changed", code="receipt_total_mismatch")

    monkeypatch.setattr(charges, "paid_in", changed_taxes)  # the region changed meanwhile
    paid = shop.pay(MINE, unpaid.number, CARD)
    assert paid.status is OrderStatus.PAID
    assert paid.invoice_number is None


def test_a_double_clicked_checkout_charges_once(
    shop: ShopService, repo: FakeShopRepository, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 1)
    first = shop.checkout(MINE, "same-key", method="source", instrument_id=CARD)
    again = shop.checkout(MINE, "same-key", method="source", instrument_id=CARD)
    assert again.number == first.number
    assert again.replayed
    assert len(purchases.charges) == 1
    assert stock(repo, "INK-VPSD1") == 9


def test_a_price_change_stops_checkout_and_shows_the_new_price(
    shop: ShopService, repo: FakeShopRepository, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 2)
    ink = repo.catalogue["INK-VPSD1"]
    repo.save_item(attrs.evolve(ink, prices={**ink.prices, "USD": 54_990}))
    with pytest.raises(Conflict) as caught:
        shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    assert caught.value.code == "price_changed"
    assert caught.value.details["changes"] == [
        {"sku": "INK-VPSD1", "before": "49.99", "now": "54.99"}
    ]
    assert shop.cart(MINE).cart.total == usd("109.98")  # what the customer now sees
    assert stock(repo, "INK-VPSD1") == 10
    assert purchases.charges == {}
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    assert order.net == usd("109.98")


def test_a_declined_payment_leaves_the_order_unpaid_and_unshipped(
    shop: ShopService, repo: FakeShopRepository, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "LBL-100", 1)
    order = shop.checkout(MINE, "k", method="source", instrument_id=BAD_CARD)
    assert order.status is OrderStatus.PLACED
    assert order.payment_failure is not None
    assert order.payment_failure.startswith("card_declined")
    assert purchases.charges == {}
    with pytest.raises(Conflict) as caught:
        shop.set_status(order.number, "picking", staff="Ann")
    assert caught.value.code == "invalid_transition"
    # the double click of the declined checkout charges nothing either
    assert shop.checkout(MINE, "k", method="source", instrument_id=BAD_CARD).replayed
    paid = shop.pay(MINE, order.number, CARD)
    assert paid.status is OrderStatus.PAID
    assert purchases.charged(MINE) == usd("13.75")


def test_an_unreachable_gateway_changes_nothing_and_a_retry_charges_once(
    shop: ShopService, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "LBL-100", 1)
    purchases.unreachable = True
    with pytest.raises(PostroomError) as caught:
        shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    assert caught.value.code == "payment_source_unavailable"
    purchases.unreachable = False
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    assert order.status is OrderStatus.PAID
    assert len(purchases.charges) == 1


def test_stock_gone_before_checkout_is_out_of_stock_and_reserves_nothing(
    shop: ShopService, repo: FakeShopRepository
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 3)
    shop.add_to_cart(MINE, "LBL-100", 5)
    shop.adjust_stock("LBL-100", -1, staff="Ann", reason="torn")
    with pytest.raises(Conflict) as caught:
        shop.checkout(MINE, "k", method="account")
    assert caught.value.code == "out_of_stock"
    assert stock(repo, "INK-VPSD1") == 10  # the first line's reservation was rolled back
    assert len(shop.cart(MINE).cart.lines) == 2
    assert repo.placed == {}


def test_an_order_on_account_is_invoiced_and_a_cancel_credits_it(
    shop: ShopService, repo: FakeShopRepository, charges: FakeCharges
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 2)
    order = shop.checkout(MINE, "k", method="account")
    assert order.status is OrderStatus.PAID
    assert order.invoice_number is not None
    lines = charges.invoices[f"order:{order.number}"][1]
    assert [(ln.quantity, ln.unit_price) for ln in lines] == [(2, usd("49.99"))]
    cancelled = shop.set_status(order.number, "cancelled", staff="Ann", note="customer asked")
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.refund == "done"
    assert charges.credited == [order.invoice_number]
    assert stock(repo, "INK-VPSD1") == 10


def test_staff_move_an_order_to_shipped_with_a_tracking_number(shop: ShopService) -> None:
    shop.add_to_cart(MINE, "LBL-100", 1)
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    shop.set_status(order.number, "picking", staff="Ann")
    with pytest.raises(ValidationError) as caught:
        shop.set_status(order.number, "shipped", staff="Ann")
    assert caught.value.code == "tracking_required"
    shipped = shop.set_status(order.number, "shipped", staff="Ann", tracking_number="1Z999AA1")
    assert shipped.tracking_number == "1Z999AA1"
    delivered = shop.set_status(order.number, "delivered", staff="Ann")
    assert [e.status.value for e in delivered.events] == [
        "placed",
        "paid",
        "picking",
        "shipped",
        "delivered",
    ]
    with pytest.raises(Conflict):
        shop.set_status(order.number, "cancelled", staff="Ann", note="too late")
    with pytest.raises(ValidationError):
        shop.set_status(order.number, "paid", staff="Ann")


def test_cancelling_a_paid_order_returns_stock_and_refunds_once(
    shop: ShopService, repo: FakeShopRepository, purchases: FakePurchases
) -> None:
    shop.add_to_cart(MINE, "INK-VPSD1", 4)
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    shop.set_status(order.number, "picking", staff="Ann")
    with pytest.raises(ValidationError) as caught:
        shop.set_status(order.number, "cancelled", staff="Ann")
    assert caught.value.code == "invalid_note"  # a cancel says why
    done = shop.set_status(order.number, "cancelled", staff="Ann", note="damaged")
    assert done.refund == "done"
    assert stock(repo, "INK-VPSD1") == 10
    assert purchases.refunds == {order.payment_id: f"cancel:{order.number}"}
    shop.set_status(order.number, "cancelled", staff="Ann", note="again")
    assert stock(repo, "INK-VPSD1") == 10
    assert len(purchases.refunds) == 1


def test_another_accounts_order_is_not_found(shop: ShopService) -> None:
    shop.add_to_cart(MINE, "LBL-100", 1)
    order = shop.checkout(MINE, "k", method="account")
    for number in (order.number, "SO-2026-999999", "nonsense"):
        with pytest.raises(NotFound) as caught:
            shop.order(OTHER, number)
        assert caught.value.code == "order_not_found"
    with pytest.raises(NotFound):
        shop.reorder(OTHER, order.number)


def test_the_history_lists_two_years_and_reorder_refills_the_cart(
    shop: ShopService, repo: FakeShopRepository, clock: FrozenClock
) -> None:
    shop.add_to_cart(MINE, "LBL-100", 2)
    old = shop.checkout(MINE, "k1", method="account")
    clock.advance(timedelta(days=400))
    shop.add_to_cart(MINE, "INK-VPSD1", 1)
    recent = shop.checkout(MINE, "k2", method="account")
    assert [o.number for o in shop.orders(MINE)] == [recent.number, old.number]
    clock.advance(timedelta(days=400))
    assert [o.number for o in shop.orders(MINE)] == [recent.number]
    assert shop.orders(OTHER) == []
    label = repo.catalogue["LBL-100"]
    repo.save_item(attrs.evolve(label, prices={"USD": 13_000}))
    again = shop.reorder(MINE, old.number)
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in again.cart.lines] == [
        ("LBL-100", 2, usd("13.00"))
    ]
    assert again.skipped == ()


def test_checkout_refuses_an_empty_cart_and_a_missing_instrument(shop: ShopService) -> None:
    with pytest.raises(Conflict) as caught:
        shop.checkout(MINE, "k", method="account")
    assert caught.value.code == "cart_empty"
    with pytest.raises(ValidationError) as caught:
        shop.checkout(MINE, "k", method="source")
    assert caught.value.code == "instrument_required"
    with pytest.raises(ValidationError) as caught:
        shop.checkout(MINE, "k", method="cash")
    assert caught.value.code == "invalid_payment_method"


def test_the_customer_gives_up_an_unpaid_order_and_its_stock_returns(
    shop: ShopService, repo: FakeShopRepository
) -> None:
    shop.add_to_cart(MINE, "LBL-100", 3)
    unpaid = shop.checkout(MINE, "k1", method="source", instrument_id=BAD_CARD)
    assert stock(repo, "LBL-100") == 2
    with pytest.raises(NotFound):
        shop.cancel_unpaid(OTHER, unpaid.number)
    cancelled = shop.cancel_unpaid(MINE, unpaid.number)
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.refund is None  # nothing was charged
    assert stock(repo, "LBL-100") == 5
    with pytest.raises(Conflict):
        shop.cancel_unpaid(MINE, unpaid.number)
    shop.add_to_cart(MINE, "LBL-100", 1)
    paid = shop.checkout(MINE, "k2", method="source", instrument_id=CARD)
    with pytest.raises(Conflict) as caught:
        shop.cancel_unpaid(MINE, paid.number)
    assert caught.value.code == "order_not_cancellable"


def test_the_job_cancels_orders_unpaid_for_a_day_once(
    shop: ShopService, repo: FakeShopRepository, clock: FrozenClock
) -> None:
    shop.add_to_cart(MINE, "LBL-100", 2)
    unpaid = shop.checkout(MINE, "k1", method="source", instrument_id=BAD_CARD)
    shop.add_to_cart(MINE, "LBL-100", 1)
    paid = shop.checkout(MINE, "k2", method="source", instrument_id=CARD)
    clock.advance(timedelta(hours=23))
    assert shop.expire_unpaid() == []
    clock.advance(timedelta(hours=1))
    assert shop.expire_unpaid() == [unpaid.number]
    assert shop.expire_unpaid() == []  # a rerun changes nothing
    assert shop.order(MINE, unpaid.number).status is OrderStatus.CANCELLED
    assert shop.order(MINE, paid.number).status is OrderStatus.PAID
    assert stock(repo, "LBL-100") == 4


class FakeShipments:
    """The tracking area as the shop hands it parcels: follows what it is given, and
    refuses a number ending in 0 as mistyped."""

    def __init__(self) -> None:
        self.followed: list[tuple[str, str, str]] = []

    def follow_in(
        self, session: object, customer_number: str, tracking_number: str, order_number: str
    ) -> bool:
        if tracking_number.endswith("0"):
            raise ValidationError("mistyped", code="bad_check_digit")
        self.followed.append((customer_number, tracking_number, order_number))
        return True


def test_a_shipped_order_hands_its_parcel_over_and_its_delivery_comes_back(
    shop: ShopService,
) -> None:
    parcels = FakeShipments()
    shop.use_shipments(parcels)
    shop.add_to_cart(MINE, "LBL-100", 1)
    order = shop.checkout(MINE, "k", method="source", instrument_id=CARD)
    shop.set_status(order.number, "picking", staff="Ann")
    assert not shop.delivered_by_carrier(MINE, order.number, "3318810025")  # not shipped yet
    with pytest.raises(ValidationError) as caught:
        shop.set_status(order.number, "shipped", staff="Ann", tracking_number="3318810020")
    assert caught.value.code == "bad_check_digit"
    assert shop.order(MINE, order.number).status.value == "picking"  # nothing moved
    shop.set_status(order.number, "shipped", staff="Ann", tracking_number="33188-10025")
    assert parcels.followed == [(MINE, "33188-10025", order.number)]
    assert not shop.delivered_by_carrier(OTHER, order.number, "3318810025")
    assert not shop.delivered_by_carrier(MINE, order.number, "3318810033")
    assert not shop.delivered_by_carrier(MINE, "not an order", "3318810025")
    assert shop.delivered_by_carrier(MINE, order.number, "3318810025")
    delivered = shop.order(MINE, order.number)
    assert (delivered.status.value, delivered.events[-1].by) == ("delivered", "carrier")
    assert not shop.delivered_by_carrier(MINE, order.number, "3318810025")  # once


def test_a_stock_change_is_recorded_with_who_and_why_and_a_refused_one_not_at_all(
    shop: ShopService, repo: FakeShopRepository
) -> None:
    shop.adjust_stock("LBL-100", 20, staff="Ann", reason="delivery 4411")
    for change, staff, reason, code in (
        (-100, "Ann", "torn", "out_of_stock"),
        (1, "", "delivery", "invalid_staff"),
        (1, "Ann", " ", "invalid_note"),
        (0, "Ann", "nothing", "invalid_stock"),
    ):
        with pytest.raises(PostroomError) as caught:
            shop.adjust_stock("LBL-100", change, staff=staff, reason=reason)
        assert caught.value.code == code
    assert stock(repo, "LBL-100") == 25
    (move,) = shop.stock_moves("LBL-100")
    assert (move.change, move.stock_after, move.staff, move.reason) == (
        20,
        25,
        "Ann",
        "delivery 4411",
    )
    with pytest.raises(NotFound):
        shop.stock_moves("NOPE-1")
