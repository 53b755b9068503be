"""Use cases of the shop (``pr.shop``); each runs in one unit of work.

The catalogue with "fits your meter", the customer's cart, checkout (paid from a payment
source through funding, or charged to the account as an invoice), the order's life
(staff move it on; cancelling returns its stock and refunds its payment), the customer's
order history and reorder.

Checkout in steps: one transaction checks the cart against the catalogue's prices of
the moment (a change stops it, the cart takes the new prices, ``price_changed``),
reserves the stock by conditional updates and writes the order under the checkout's
idempotency key; then the payment source is charged (outside any transaction, with a key
of the order and attempt, so a double click charges once); then the answer is recorded.
A declined payment leaves the order ``placed`` (unpaid, nothing shipped) with the
source's message; the customer may pay it with another instrument or cancel it.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence

import attrs
from sqlalchemy.exc import IntegrityError

from postroom.core.clock import Clock
from postroom.core.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.core.idempotency import check_key
from postroom.core.money import Money
from postroom.core.shop import model
from postroom.core.shop.addon_service import AddonsService
from postroom.core.shop.addon_service import RepositoryFactory as AddonRepositoryFactory
from postroom.core.shop.addon_service import store as _addon_store
from postroom.core.shop.model import (
    Cart,
    CartLine,
    Item,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OrderSummary,
    PaymentMethod,
    PriceChange,
    StockMove,
)
from postroom.core.shop.ports import (
    AccountCharges,
    ChargeLine,
    CustomerAccounts,
    CustomerMeters,
    MeterAssets,
    Purchases,
    Session,
    Shipments,
    Transactions,
    Untracked,
)
from postroom.core.shop.store import ShopRepository, ShopStore

log = logging.getLogger(__name__)

RepositoryFactory = Callable[[Session], ShopRepository]
MAX_PAGE = 500
CUSTOMER = "customer"


def _store(session: Session) -> ShopRepository:
    return ShopStore(session.connection)


@attrs.frozen
class CatalogEntry:
    """A catalogue item as one customer sees it."""

    item: Item
    #: in the account's currency (None: the item is not sold in it)
    price: Money | None
    fits_your_meter: bool


@attrs.frozen
class CartView:
    """The cart with the catalogue's items of its lines."""

    cart: Cart
    items: dict[str, Item]


@attrs.frozen
class Reordered:
    cart: Cart
    #: SKUs of the old order no longer sold
    skipped: tuple[str, ...]


def price_changed(changes: Sequence[PriceChange]) -> Conflict:
    return Conflict(
        "prices changed since the cart was filled: check the new total and order again",
        code="price_changed",
        changes=[{"sku": c.sku, "before": c.before.amount, "now": c.now.amount} for c in changes],
    )


class ShopService:
    """``pr.shop``: the supplies catalogue, carts and orders."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        accounts: CustomerAccounts,
        meters: CustomerMeters,
        purchases: Purchases,
        charges: AccountCharges,
        assets: MeterAssets,
        repository: RepositoryFactory = _store,
        addon_repository: AddonRepositoryFactory = _addon_store,
        shipments: Shipments | None = None,
    ) -> None:
        self._db = db
        self._shipments = shipments or Untracked()
        self._clock = clock
        self._accounts = accounts
        self._meters = meters
        self._purchases = purchases
        self._charges = charges
        self._assets = assets
        self._repository = repository
        self._addon_repository = addon_repository
        #: meter add-ons and ad slogans
        self.addons = AddonsService(
            db,
            clock,
            accounts=accounts,
            meters=meters,
            charges=charges,
            assets=assets,
            repository=addon_repository,
        )

    def use_shipments(self, shipments: Shipments) -> None:
        """Hand shipped orders' parcels to ``shipments`` (the tracking area, wired by
        the composition root once both areas exist)."""
        self._shipments = shipments

    def as_of(self, clock: Clock) -> ShopService:
        """The same shop on another clock: the demo writes its order history as it
        happened, months ago."""
        return ShopService(
            self._db,
            clock,
            accounts=self._accounts,
            meters=self._meters,
            purchases=self._purchases,
            charges=self._charges,
            assets=self._assets,
            repository=self._repository,
            addon_repository=self._addon_repository,
            shipments=self._shipments,
        )

    # ------------------------------------------------------------- catalogue

    def catalog(self, customer_number: str | None = None) -> builtins.list[CatalogEntry]:
        """The items on sale; for a customer, priced in the account's currency (items
        without a price in it are left out) and marked when they fit one of its meters."""
        items = self._db.run(lambda uow: self._repository(uow).items(), readonly=True)
        if customer_number is None:
            return [CatalogEntry(item, None, False) for item in items]
        account = self._accounts.get(customer_number)
        codes = self._meters.product_codes(account.number)
        return [
            CatalogEntry(item, item.price(account.currency), item.fits_any(codes))
            for item in items
            if item.price(account.currency) is not None
        ]

    def item(self, sku: str) -> Item:
        clean = model.parse_sku(sku)
        found = self._db.run(
            lambda uow: self._repository(uow).items_by_sku([clean]).get(clean), readonly=True
        )
        if found is None:
            raise NotFound(f"no item {sku!r} in the catalogue", code="unknown_sku")
        return found

    def save_item(self, item: Item) -> Item:
        """Add an item to the catalogue, or change its texts, prices and models (staff;
        the stock changes only through ``adjust_stock``)."""
        if not isinstance(item, Item):
            raise ValidationError("give a catalogue item", code="invalid_item")

        def work(uow: Session) -> Item:
            repository = self._repository(uow)
            repository.save_item(item)
            uow.commit()
            return repository.items_by_sku([item.sku])[item.sku]

        return self._db.run(work)

    def adjust_stock(self, sku: str, change: int, *, staff: str, reason: str) -> Item:
        """Receive goods (``change`` > 0) or write off stock (< 0; never below zero),
        recorded with who did it and why (``stock_moves``)."""
        clean = model.parse_sku(sku)
        amount = model.check_stock_change(change)
        who = model.parse_staff(staff)
        why = model.parse_note(reason, required=True)
        now = self._clock.now()

        def work(uow: Session) -> Item:
            repository = self._repository(uow)
            if clean not in repository.items_by_sku([clean]):
                raise NotFound(f"no item {sku!r} in the catalogue", code="unknown_sku")
            left = repository.adjust_stock(clean, amount)
            if left is None:
                raise Conflict(f"{clean} has less stock than that", code="out_of_stock")
            repository.add_stock_move(StockMove(clean, amount, left, who, why, now))
            uow.commit()
            return repository.items_by_sku([clean])[clean]

        return self._db.run(work)

    def stock_moves(self, sku: str, *, limit: int = 100) -> builtins.list[StockMove]:
        """The item's stock changes by staff, newest first (staff)."""
        clean = model.parse_sku(sku)
        wanted = _limit(limit)

        def work(uow: Session) -> builtins.list[StockMove]:
            repository = self._repository(uow)
            if clean not in repository.items_by_sku([clean]):
                raise NotFound(f"no item {sku!r} in the catalogue", code="unknown_sku")
            return repository.stock_moves(clean, limit=wanted)

        return self._db.run(work, readonly=True)

    # ------------------------------------------------------------------ cart

    def cart(self, customer_number: str) -> CartView:
        account = self._accounts.get(customer_number)

        def work(uow: Session) -> CartView:
            repository = self._repository(uow)
            lines = repository.cart_lines(account.number)
            items = repository.items_by_sku(line.sku for line in lines)
            return CartView(Cart(account.number, tuple(lines), account.currency), items)

        return self._db.run(work, readonly=True)

    def add_to_cart(self, customer_number: str, sku: str, quantity: int) -> CartView:
        """Put ``quantity`` more of ``sku`` in the cart at today's price."""
        return self._set_line(customer_number, sku, quantity, add=True)

    def set_quantity(self, customer_number: str, sku: str, quantity: int) -> CartView:
        """Make the cart hold ``quantity`` of ``sku`` (``remove_from_cart`` takes it out)."""
        return self._set_line(customer_number, sku, quantity, add=False)

    def _set_line(self, customer_number: str, sku: str, quantity: int, *, add: bool) -> CartView:
        clean = model.parse_sku(sku)
        wanted = model.check_quantity(quantity)
        account = self._accounts.get(customer_number)
        now = self._clock.now()

        def work(uow: Session) -> None:
            repository = self._repository(uow)
            item = model.sellable(
                repository.items_by_sku([clean]).get(clean), sku, account.currency
            )
            lines = repository.cart_lines(account.number)
            held = sum(line.quantity for line in lines if line.sku == clean)
            total = model.check_quantity(held + wanted if add else wanted)
            if clean not in {line.sku for line in lines} and len(lines) >= model.MAX_CART_LINES:
                raise ValidationError("the cart is full", code="cart_full")
            if item.stock < total:
                raise Conflict(
                    f"{item.stock} of {clean} in stock", code="out_of_stock", available=item.stock
                )
            price = item.price(account.currency)
            assert price is not None  # sellable
            repository.set_cart_line(account.number, CartLine(clean, total, price), now)
            uow.commit()

        self._db.run(work)
        return self.cart(account.number)

    def remove_from_cart(self, customer_number: str, sku: str) -> CartView:
        clean = model.parse_sku(sku)
        account = self._accounts.get(customer_number)

        def work(uow: Session) -> None:
            self._repository(uow).remove_cart_line(account.number, clean)
            uow.commit()

        self._db.run(work)
        return self.cart(account.number)

    # -------------------------------------------------------------- checkout

    def checkout(
        self,
        customer_number: str,
        checkout_key: str,
        *,
        method: str,
        instrument_id: str | None = None,
    ) -> Order:
        """Order what is in the cart. ``method`` ``source`` charges ``instrument_id``;
        ``account`` invoices the account. The same ``checkout_key`` again answers the
        first order (``replayed``) and charges nothing more."""
        key = check_key(checkout_key, "checkout key")
        how = _method(method)
        if how is PaymentMethod.SOURCE and not (isinstance(instrument_id, str) and instrument_id):
            raise ValidationError("choose how to pay", code="instrument_required")
        account = self._accounts.get(customer_number)
        # a card order is charged what an invoice of its lines would total
        tax_of = self._charges.tax_rule(account.number) if how is PaymentMethod.SOURCE else None
        now = self._clock.now()

        def work(uow: Session) -> Order | builtins.list[PriceChange]:
            repository = self._repository(uow)
            first = repository.order_by_key(account.number, key)
            if first is not None:
                return attrs.evolve(first, replayed=True)
            lines = repository.cart_lines(account.number)
            if not lines:
                # a simultaneous click may have ordered the cart since the look-up above
                # (each statement sees what committed before it): its order, replayed
                first = repository.order_by_key(account.number, key)
                if first is not None:
                    return attrs.evolve(first, replayed=True)
                raise Conflict("the cart is empty", code="cart_empty")
            items = repository.items_by_sku(line.sku for line in lines)
            for line in lines:
                model.sellable(items.get(line.sku), line.sku, account.currency)
            changes = model.repriced(lines, items)
            if changes:  # the cart takes the new prices: the customer sees them, then orders
                for change in changes:
                    line = next(x for x in lines if x.sku == change.sku)
                    repository.set_cart_line(
                        account.number, attrs.evolve(line, unit_price=change.now), now
                    )
                uow.commit()
                return changes
            # in SKU order: two checkouts lock rows in the same order (no deadlock)
            for line in sorted(lines, key=lambda x: x.sku):
                if not repository.reserve(line.sku, line.quantity):
                    raise Conflict(
                        f"not enough {line.sku} in stock",
                        code="out_of_stock",
                        sku=line.sku,
                        available=items[line.sku].stock,
                    )
            number = model.new_order_number(now.date())
            while repository.number_taken(number):  # a million a year: rarely
                number = model.new_order_number(now.date())
            order_lines = tuple(
                model.order_line(items[line.sku], line.quantity, line.unit_price) for line in lines
            )
            charges = _charge_lines(order_lines)
            net = Money.zero(account.currency)
            for ol in order_lines:
                net = net + ol.total
            tax = Money.zero(account.currency) if tax_of is None else tax_of(charges)
            order = Order(
                number=number,
                customer_number=account.number,
                lines=order_lines,
                total=net + tax,
                tax=tax,
                status=OrderStatus.PLACED,
                method=how,
                placed_at=now,
                updated_at=now,
                events=(OrderEvent(OrderStatus.PLACED, now, CUSTOMER),),
            )
            if how is PaymentMethod.ACCOUNT:
                charged = self._charges.charge_in(
                    uow, account.number, charges, kind="supplies", reference=f"order:{number}"
                )
                invoice = charged.invoice_number
                order = attrs.evolve(
                    order,
                    total=net + charged.tax,
                    tax=charged.tax,
                    status=OrderStatus.PAID,
                    invoice_number=invoice,
                    events=(*order.events, OrderEvent(OrderStatus.PAID, now, CUSTOMER, invoice)),
                )
            repository.add_order(order, key)
            repository.clear_cart(account.number)
            uow.commit()
            return order

        try:
            done = self._db.run(work)
        except IntegrityError:  # a concurrent click wrote the order of this key first
            done = self._db.run(work)
        except Conflict:  # out of stock, say: unless a simultaneous click took it for us
            first = self._db.run(
                lambda uow: self._repository(uow).order_by_key(account.number, key),
                readonly=True,
            )
            if first is None:
                raise
            done = attrs.evolve(first, replayed=True)
        if isinstance(done, builtins.list):
            raise price_changed(done)
        if done.method is PaymentMethod.SOURCE and done.status is OrderStatus.PLACED:
            if done.replayed and done.payment_failure is not None:
                return done  # the first click's payment was declined: nothing more
            assert instrument_id is not None
            return self._pay(done, instrument_id)
        return done

    def pay(self, customer_number: str, number: str, instrument_id: str) -> Order:
        """Pay an unpaid order (its payment was declined) with ``instrument_id``."""
        order = self.order(customer_number, number)
        if order.status is not OrderStatus.PLACED or order.method is not PaymentMethod.SOURCE:
            raise Conflict(
                f"order {order.number} is {order.status.value}", code="order_not_payable"
            )
        return self._pay(order, instrument_id)

    def _pay(self, order: Order, instrument_id: str) -> Order:
        attempt = order.payment_attempts
        # the same order and attempt: the same key, so a repeated click charges once
        key = f"order:{order.number}:{attempt}"
        try:
            paid = self._purchases.purchase(order.customer_number, instrument_id, order.total, key)
        except PostroomError as error:
            if error.http_status >= 500:
                raise  # not an answer: the order stays as it is, retry with the same key
            failure = f"{error.code}: {error.message}"[:400]
            declined_payment = error.details.get("payment_id") or order.payment_id

            def declined(uow: Session) -> None:
                self._repository(uow).update_order(
                    order.number,
                    OrderStatus.PLACED,
                    attempts=attempt,
                    payment_failure=failure,
                    payment_attempts=attempt + 1,
                    payment_id=declined_payment,
                )
                uow.commit()

            self._db.run(declined)
            return self._reread(order.number)
        now = self._clock.now()

        def record(uow: Session) -> bool:
            repository = self._repository(uow)
            moved = repository.move(
                order.number,
                OrderStatus.PLACED,
                OrderEvent(OrderStatus.PAID, now, CUSTOMER, paid.payment_id),
                payment_id=paid.payment_id,
                payment_failure=None,
            )
            if moved:
                invoice = self._receipt(uow, order, paid.payment_id)
                if invoice is not None:
                    repository.update_order(order.number, OrderStatus.PAID, invoice_number=invoice)
            uow.commit()
            return moved

        if not self._db.run(record):
            current = self._reread(order.number)
            if current.status is OrderStatus.CANCELLED and current.payment_id != paid.payment_id:
                # cancelled while the source was charging: the money goes back
                self._purchases.refund(order.customer_number, paid.payment_id, f"cancel:{key}")
            return current
        return self._reread(order.number)

    def _receipt(self, uow: Session, order: Order, payment_id: str) -> str | None:
        """The invoice of a card order, issued paid with the order's payment (in the
        order's transaction); None, logged, when billing would not total what the card
        was charged (the tax table or the region changed since the order was placed):
        the order stays paid, its receipt is the order."""
        try:
            charged = self._charges.paid_in(
                uow,
                order.customer_number,
                _charge_lines(order.lines),
                kind="supplies",
                reference=f"order:{order.number}",
                payment_id=payment_id,
                paid=order.total,
            )
        except PostroomError as error:
            log.warning("order %s paid without an invoice: %s", order.number, error.message)
            return None
        return charged.invoice_number

    def cancel_unpaid(self, customer_number: str, number: str) -> Order:
        """The customer gives up an order that is not paid (its payment was declined):
        cancelled, its stock back on the shelf. A paid order is cancelled by staff."""
        order = self.order(customer_number, number)
        if order.status is not OrderStatus.PLACED:
            raise Conflict(
                f"order {order.number} is {order.status.value}: ask us to cancel it",
                code="order_not_cancellable",
            )
        now = self._clock.now()

        def work(uow: Session) -> None:
            repository = self._repository(uow)
            event = OrderEvent(OrderStatus.CANCELLED, now, CUSTOMER, "unpaid")
            if not repository.move(order.number, OrderStatus.PLACED, event):
                raise Conflict(
                    f"order {order.number} changed meanwhile: reload it", code="order_changed"
                )
            for line in order.lines:
                repository.release(line.sku, line.quantity)
            uow.commit()

        self._db.run(work)
        return self._reread(order.number)

    def expire_unpaid(self) -> builtins.list[str]:
        """The worker's job: cancel the orders still unpaid ``UNPAID_HOLD`` after they
        were placed, their stock back on the shelf. Returns their numbers (none on a
        rerun: a cancelled order is not placed any more)."""
        now = self._clock.now()
        before = now - model.UNPAID_HOLD

        def work(uow: Session) -> builtins.list[str]:
            repository = self._repository(uow)
            expired = []
            for order in repository.orders(status=OrderStatus.PLACED, limit=MAX_PAGE):
                if order.placed_at > before:
                    continue
                event = OrderEvent(OrderStatus.CANCELLED, now, "postroom", "unpaid for 24 hours")
                if repository.move(order.number, OrderStatus.PLACED, event):
                    for line in order.lines:
                        repository.release(line.sku, line.quantity)
                    expired.append(order.number)
            if expired:
                uow.commit()
            return expired

        return self._db.run(work)

    # ---------------------------------------------------------------- orders

    def order(self, customer_number: str, number: str) -> Order:
        """The customer's order; another account's is ``order_not_found``."""
        account = self._accounts.get(customer_number)
        clean = model.parse_order_number(number)
        found = None
        if clean is not None:
            found = self._db.run(lambda uow: self._repository(uow).order(clean), readonly=True)
        if found is None or found.customer_number != account.number:
            raise NotFound(f"no order {number!r}", code="order_not_found")
        return found

    def orders(self, customer_number: str, *, limit: int = 100) -> builtins.list[Order]:
        """The customer's orders of the last two years, newest first (older ones are
        kept, not listed)."""
        account = self._accounts.get(customer_number)
        page = _limit(limit)
        since = model.listed_since(self._clock.now())
        return self._db.run(
            lambda uow: self._repository(uow).orders(
                customer_number=account.number, since=since, limit=page
            ),
            readonly=True,
        )

    def open_orders_in(
        self, session: Session, customer_number: str, *, limit: int = 5
    ) -> builtins.list[OrderSummary]:
        """The customer's newest ``limit`` orders not yet delivered or cancelled, without
        their lines, inside the caller's unit of work (the dashboard's one read)."""
        since = model.listed_since(self._clock.now())
        return self._repository(session).open_order_summaries(
            customer_number, since=since, limit=limit
        )

    def reorder(self, customer_number: str, number: str) -> Reordered:
        """Put an earlier order's items back in the cart, at today's prices; items no
        longer sold are skipped and named."""
        old = self.order(customer_number, number)
        account = self._accounts.get(customer_number)
        now = self._clock.now()

        def work(uow: Session) -> tuple[str, ...]:
            repository = self._repository(uow)
            items = repository.items_by_sku(line.sku for line in old.lines)
            held = {line.sku: line.quantity for line in repository.cart_lines(account.number)}
            skipped = []
            for line in old.lines:
                item = items.get(line.sku)
                price = None if item is None or not item.active else item.price(account.currency)
                if price is None:
                    skipped.append(line.sku)
                    continue
                quantity = min(model.MAX_QUANTITY, held.get(line.sku, 0) + line.quantity)
                held[line.sku] = quantity
                repository.set_cart_line(account.number, CartLine(line.sku, quantity, price), now)
            uow.commit()
            return tuple(skipped)

        skipped = self._db.run(work)
        return Reordered(self.cart(account.number).cart, skipped)

    # ----------------------------------------------------------------- staff

    def all_orders(self, status: str | None = None, *, limit: int = 100) -> builtins.list[Order]:
        """Every account's orders (staff), newest first, of one status when given."""
        wanted = None if status is None else model.parse_status(status)
        page = _limit(limit)
        return self._db.run(
            lambda uow: self._repository(uow).orders(status=wanted, limit=page), readonly=True
        )

    def staff_order(self, number: str) -> Order:
        return self._reread(number)

    def set_status(
        self,
        number: str,
        status: str,
        *,
        staff: str,
        tracking_number: str | None = None,
        note: str = "",
    ) -> Order:
        """Move an order on (staff): ``picking``, ``shipped`` (with its tracking number),
        ``delivered``, or ``cancelled`` (the stock goes back; a payment is refunded)."""
        to = model.parse_status(status)
        if to not in model.STAFF_STATUSES:
            raise ValidationError(f"staff do not set {to.value}", code="invalid_status")
        who = model.parse_staff(staff)
        clean_note = model.parse_note(note, required=to is OrderStatus.CANCELLED)
        tracking = None if tracking_number is None else model.parse_tracking_number(tracking_number)
        order = self._reread(number)
        if to is OrderStatus.CANCELLED and order.status is OrderStatus.CANCELLED:
            return self._finish_refund(order)  # a retry of a refund that failed
        model.check_transition(order, to, tracking)
        now = self._clock.now()

        def work(uow: Session) -> None:
            repository = self._repository(uow)
            fields: dict[str, object] = {}
            if to is OrderStatus.SHIPPED:
                fields["tracking_number"] = tracking
            if to is OrderStatus.CANCELLED and _charged(order):
                fields["refund"] = "due"
            if not repository.move(
                order.number, order.status, OrderEvent(to, now, who, clean_note), **fields
            ):
                raise Conflict(
                    f"order {order.number} changed meanwhile: reload it", code="order_changed"
                )
            if to is OrderStatus.CANCELLED:
                for line in order.lines:
                    repository.release(line.sku, line.quantity)
            if tracking is not None:
                # the parcel is followed with the move: both stand or neither
                self._shipments.follow_in(uow, order.customer_number, tracking, order.number)
            uow.commit()

        self._db.run(work)
        return self._finish_refund(self._reread(order.number))

    def delivered_by_carrier(
        self, customer_number: str, order_number: str, tracking_number: str
    ) -> bool:
        """The carrier delivered the parcel ``tracking_number`` (told by the tracking
        area): the account's shipped order whose parcel it is becomes delivered. Answers
        whether it moved; any other order, status or number is left alone, so a second
        word of the same delivery changes nothing."""
        clean = model.parse_order_number(order_number)
        if clean is None:
            return False
        now = self._clock.now()

        def work(uow: Session) -> bool:
            repository = self._repository(uow)
            order = repository.order(clean)
            if (
                order is None
                or order.customer_number != customer_number
                or order.status is not OrderStatus.SHIPPED
                or not model.same_parcel(order.tracking_number, tracking_number)
            ):
                return False
            event = OrderEvent(OrderStatus.DELIVERED, now, model.CARRIER, tracking_number)
            if not repository.move(order.number, order.status, event):
                return False  # moved meanwhile (staff marked it delivered)
            uow.commit()
            return True

        return self._db.run(work)

    def _finish_refund(self, order: Order) -> Order:
        """Give a cancelled order's money back, once: the payment source refunds the
        purchase (its key is the order's), or the invoice gets a credit note."""
        if order.refund != "due":
            return order
        reason = next(
            (e.note for e in reversed(order.events) if e.status is OrderStatus.CANCELLED), ""
        )
        if order.payment_id is not None and order.method is PaymentMethod.SOURCE:
            self._purchases.refund(
                order.customer_number, order.payment_id, f"cancel:{order.number}"
            )
        if order.invoice_number is not None:  # on account, or a card order's paid invoice
            self._charges.credit(
                order.customer_number,
                order.invoice_number,
                reason or f"order {order.number} cancelled",
            )

        def work(uow: Session) -> None:
            self._repository(uow).update_order(order.number, OrderStatus.CANCELLED, refund="done")
            uow.commit()

        self._db.run(work)
        return self._reread(order.number)

    def _reread(self, number: str) -> Order:
        clean = model.parse_order_number(number)
        found = None
        if clean is not None:
            found = self._db.run(lambda uow: self._repository(uow).order(clean), readonly=True)
        if found is None:
            raise NotFound(f"no order {number!r}", code="order_not_found")
        return found


def _charge_lines(lines: Sequence[OrderLine]) -> builtins.list[ChargeLine]:
    """An order's lines as billing invoices them."""
    return [
        ChargeLine(
            f"{ol.sku} {ol.name('en')}",
            ol.quantity,
            ol.unit_price,
            "catalogue",
            (("name_en", ol.name("en")), ("name_fr", ol.name("fr")), ("sku", ol.sku)),
        )
        for ol in lines
    ]


def _charged(order: Order) -> bool:
    """Whether the order's money was taken (a settled purchase or an invoice)."""
    if order.method is PaymentMethod.ACCOUNT:
        return order.invoice_number is not None
    return order.status is not OrderStatus.PLACED and order.payment_id is not None


def _method(text: object) -> PaymentMethod:
    clean = text.strip().lower() if isinstance(text, str) else ""
    try:
        return PaymentMethod(clean)
    except ValueError:
        raise ValidationError(
            "pay from a payment source or on account", code="invalid_payment_method"
        ) from None


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit is 1 to {MAX_PAGE}", code="invalid_limit")
    return limit
