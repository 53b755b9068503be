"""``/shop``: the supplies catalogue, the cart, checkout and the account's orders
(docs/shop.md).

Every page needs a signed-in user of a customer account and shows only that account's
cart and orders: another account's order answers 404. Any user of the account browses,
fills the cart and follows orders; its owners and admins order and pay (money leaves the
account). Each form carries its CSRF token; checkout carries a key drawn when the cart
page was drawn, so a double click places one order and charges once. The order page
follows the order by itself (static/shop-order.js polls the API) and by a plain reload.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from werkzeug.wrappers import Response

from postroom.core.errors import PostroomError
from postroom.core.shop.addons import SLOGAN_LIBRARY
from postroom.core.shop.graphics import MAX_BYTES, MAX_HEIGHT, MAX_WIDTH
from postroom.core.shop.model import MAX_QUANTITY, OrderStatus
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, login_required, roles_required

bp = Blueprint("shop_pages", __name__, url_prefix="/shop")

#: Who may spend the account's money: order and pay.
BUYERS = ("owner", "admin")
#: The status steps an order page shows, in order.
STEPS = ("placed", "paid", "picking", "shipped", "delivered")


def error_messages() -> dict[str, Any]:
    """The visitor's-language text of each error code of the core."""
    return {
        "invalid_quantity": _("Enter a quantity from 1 to %(max)s.", max=MAX_QUANTITY),
        "unknown_sku": _("This item is not in the catalogue any more."),
        "out_of_stock": _("Not enough of this item is in stock."),
        "cart_full": _("Your cart is full."),
        "cart_empty": _("Your cart is empty."),
        "price_changed": _(
            "Prices changed since you filled your cart: check the new total below and order again."
        ),
        "instrument_required": _("Choose how to pay."),
        "invalid_payment_method": _("Choose how to pay."),
        "instrument_not_for_purchases": _(
            "Bank debits cannot pay for supplies: pay by card, from your credit line, or on "
            "account."
        ),
        "instrument_not_found": _("Choose one of your payment methods."),
        "instrument_removed": _("This payment method was removed: choose another."),
        "order_not_payable": _("This order is paid or cancelled already."),
        "order_not_cancellable": _("This order is paid: ask us to cancel it."),
        "order_changed": _("The order changed meanwhile: here it is as it stands."),
        "billing_region_required": _(
            "Your billing address needs its state or province before we can invoice you."
        ),
        "unknown_addon": _("Choose one of the add-ons."),
        "addon_owned": _("This meter has this add-on already."),
        "meter_not_found": _("Choose one of your meters in service."),
        "unknown_slogan": _("Choose a slogan of the library."),
        "upload_empty": _("Choose a PNG or SVG file."),
        "upload_too_large": _("The file is too large."),
        "upload_not_an_image": _("The file is neither a PNG nor an SVG image."),
        "upload_type_mismatch": _("The file is not what its name or type says."),
        "upload_too_many_pixels": _("The image is too large: see the limits below."),
        "svg_invalid": _("The SVG could not be read safely."),
        "svg_size_required": _("The SVG needs its width and height in pixels."),
        "svg_script_refused": _("The SVG contains a script: it is refused."),
        "svg_foreign_object_refused": _("The SVG embeds foreign content: it is refused."),
        "svg_external_reference": _("The SVG refers to files outside itself: it is refused."),
        "svg_style_refused": _("The SVG uses style attributes: use presentation attributes."),
        "payment_source_unavailable": _(
            "The payment service could not be reached. Nothing was charged; try again."
        ),
    }


def _message(error: PostroomError) -> str:
    return str(error_messages().get(error.code, error.message))


def _customer() -> str:
    """The signed-in user's customer account (staff have none: these pages are not theirs)."""
    user = current_user()
    if user is None or user.account_number is None:
        abort(404)
    return user.account_number


def _may_buy() -> bool:
    user = current_user()
    return user is not None and not user.is_staff and user.role in BUYERS


def _quantity(text: str | None) -> int:
    """The form's quantity; anything but digits is handed on as 0, which the core
    refuses with its code."""
    clean = (text or "").strip()
    return int(clean) if clean.isascii() and clean.isdigit() and len(clean) <= 6 else 0


def _instruments(number: str) -> list[Any]:
    """The account's payment methods that pay supplies (cards and the credit line)."""
    pr = current_postroom()
    sources = pr.funding.offered_sources()
    return [
        i
        for i in pr.funding.instruments(number)
        if i.status == "active" and i.source in sources and sources[i.source].settlement_days == 0
    ]


# ------------------------------------------------------------------------ pages


@bp.get("")
@login_required
def catalog() -> str:
    """The catalogue priced in the account's currency, what fits its meters first."""
    number = _customer()
    entries = current_postroom().shop.catalog(number)
    entries.sort(key=lambda e: (not e.fits_your_meter, e.item.category.value, e.item.sku))
    cart = current_postroom().shop.cart(number).cart
    return render_template(
        "shop/catalog.html", entries=entries, cart=cart, max_quantity=MAX_QUANTITY
    )


@bp.post("/cart/add")
@login_required
def add_to_cart() -> Response:
    number = _customer()
    sku = request.form.get("sku", "")
    try:
        current_postroom().shop.add_to_cart(number, sku, _quantity(request.form.get("quantity")))
    except PostroomError as error:
        flash(_message(error), "error")
        return redirect(url_for("shop_pages.catalog"), code=303)
    flash(str(_("Added to your cart.")))
    return redirect(url_for("shop_pages.cart"), code=303)


@bp.get("/cart")
@login_required
def cart() -> str:
    number = _customer()
    view = current_postroom().shop.cart(number)
    return render_template(
        "shop/cart.html",
        view=view,
        may_buy=_may_buy(),
        instruments=_instruments(number) if _may_buy() else [],
        checkout_key=uuid.uuid4().hex,
        max_quantity=MAX_QUANTITY,
    )


@bp.post("/cart/update")
@login_required
def update_cart() -> Response:
    number = _customer()
    sku = request.form.get("sku", "")
    shop = current_postroom().shop
    try:
        if request.form.get("remove"):
            shop.remove_from_cart(number, sku)
        else:
            shop.set_quantity(number, sku, _quantity(request.form.get("quantity")))
    except PostroomError as error:
        flash(_message(error), "error")
    return redirect(url_for("shop_pages.cart"), code=303)


@bp.post("/checkout")
@login_required
@roles_required(*BUYERS)
def checkout() -> Response:
    """Order the cart: the account's owners and admins only."""
    number = _customer()
    choice = request.form.get("payment", "")
    method, instrument = ("account", None) if choice == "account" else ("source", choice)
    try:
        order = current_postroom().shop.checkout(
            number,
            request.form.get("checkout_key", ""),
            method=method,
            instrument_id=instrument,
        )
    except PostroomError as error:
        flash(_message(error), "error")
        return redirect(url_for("shop_pages.cart"), code=303)
    if order.status is OrderStatus.PLACED and order.payment_failure:
        flash(str(_("Your payment was declined: the order is not paid.")), "error")
    return redirect(url_for("shop_pages.order", number=order.number), code=303)


@bp.get("/orders")
@login_required
def orders() -> str:
    """The account's orders of the last two years."""
    number = _customer()
    return render_template(
        "shop/orders.html", orders=current_postroom().shop.orders(number), may_buy=_may_buy()
    )


@bp.get("/orders/<number>")
@login_required
def order(number: str) -> str:
    """One order of the account with its progress; another account's answers 404."""
    customer = _customer()
    found = current_postroom().shop.order(customer, number)
    # the parcel the order was shipped with, when tracking follows it
    parcel = (
        current_postroom().tracking.find(customer, found.tracking_number)
        if found.tracking_number
        else None
    )
    return render_template(
        "shop/order.html",
        order=found,
        parcel=parcel,
        steps=STEPS,
        reached={e.status.value for e in found.events},
        may_buy=_may_buy(),
        instruments=_instruments(customer)
        if _may_buy() and found.status is OrderStatus.PLACED
        else [],
    )


@bp.post("/orders/<number>/pay")
@login_required
@roles_required(*BUYERS)
def pay(number: str) -> Response:
    """Pay an unpaid order with another payment method: owners and admins only."""
    customer = _customer()
    try:
        paid = current_postroom().shop.pay(customer, number, request.form.get("payment", ""))
    except PostroomError as error:
        if error.code == "order_not_found":
            abort(404)
        flash(_message(error), "error")
        return redirect(url_for("shop_pages.order", number=number), code=303)
    if paid.payment_failure and paid.status is OrderStatus.PLACED:
        flash(str(_("Your payment was declined: the order is not paid.")), "error")
    return redirect(url_for("shop_pages.order", number=paid.number), code=303)


@bp.post("/orders/<number>/cancel")
@login_required
@roles_required(*BUYERS)
def cancel(number: str) -> Response:
    """Give up an unpaid order (its stock goes back): owners and admins only."""
    customer = _customer()
    try:
        current_postroom().shop.cancel_unpaid(customer, number)
    except PostroomError as error:
        if error.code == "order_not_found":
            abort(404)
        flash(_message(error), "error")
    return redirect(url_for("shop_pages.order", number=number), code=303)


@bp.post("/orders/<number>/reorder")
@login_required
def reorder(number: str) -> Response:
    """Put an earlier order's items back in the cart, at today's prices."""
    customer = _customer()
    done = current_postroom().shop.reorder(customer, number)
    if done.skipped:
        flash(
            str(_("Not sold any more: %(skus)s.", skus=", ".join(done.skipped))),
            "error",
        )
    else:
        flash(str(_("The items are in your cart again, at today's prices.")))
    return redirect(url_for("shop_pages.cart"), code=303)


# --------------------------------------------------------- add-ons and slogans


@bp.get("/addons")
@login_required
def addons() -> str:
    """Meter add-ons and ad slogans of the account: any user reads; owners and admins buy."""
    number = _customer()
    pr = current_postroom()
    meters = [m for m in pr.meters.list(number) if m.status.value == "active"]
    return render_template(
        "shop/addons.html",
        offer=pr.shop.addons.offer(number),
        meters=meters,
        slogans=pr.shop.addons.slogans(number),
        library=SLOGAN_LIBRARY,
        may_buy=_may_buy(),
        max_kib=MAX_BYTES // 1024,
        max_width=MAX_WIDTH,
        max_height=MAX_HEIGHT,
    )


@bp.post("/addons/buy")
@login_required
@roles_required(*BUYERS)
def buy_addon() -> Response:
    number = _customer()
    try:
        bought = current_postroom().shop.addons.buy(
            number, request.form.get("serial", ""), request.form.get("addon", "")
        )
    except PostroomError as error:
        flash(_message(error), "error")
    else:
        flash(
            str(
                _(
                    "Invoiced (%(invoice)s): the meter %(serial)s gets it at its next sync.",
                    invoice=bought.invoice_number,
                    serial=bought.serial,
                )
            )
        )
    return redirect(url_for("shop_pages.addons"), code=303)


@bp.post("/slogans/library")
@login_required
@roles_required(*BUYERS)
def choose_slogan() -> Response:
    number = _customer()
    try:
        current_postroom().shop.addons.choose_slogan(
            number,
            request.form.get("serial", ""),
            request.form.get("slogan", ""),
            str(get_locale()),
        )
    except PostroomError as error:
        flash(_message(error), "error")
    else:
        flash(str(_("The slogan goes to your meter at its next sync.")))
    return redirect(url_for("shop_pages.addons"), code=303)


@bp.post("/slogans/upload")
@login_required
@roles_required(*BUYERS)
def upload_slogan() -> Response:
    number = _customer()
    upload = request.files.get("graphic")
    try:
        current_postroom().shop.addons.upload_slogan(
            number,
            request.form.get("serial", ""),
            upload.filename or "" if upload else "",
            upload.read(MAX_BYTES + 1) if upload else b"",
            upload.mimetype if upload else None,
        )
    except PostroomError as error:
        flash(_message(error), "error")
    else:
        flash(str(_("Thank you: our staff check your slogan before it goes to the meter.")))
    return redirect(url_for("shop_pages.addons"), code=303)


def status_label(value: str) -> str:
    """The visitor's-language name of an order status."""
    labels = {
        "placed": _("Placed"),
        "paid": _("Paid"),
        "picking": _("Being prepared"),
        "shipped": _("Shipped"),
        "delivered": _("Delivered"),
        "cancelled": _("Cancelled"),
        "ink": _("Ink"),
        "labels": _("Labels"),
        "sealing": _("Sealing"),
        "envelopes": _("Envelopes"),
        "office": _("Office supplies"),
        "pending": _("Waiting for approval"),
        "rejected": _("Rejected"),
        "queued": _("Sent at the next sync"),
        "invoiced": _("Invoiced"),
    }
    return str(labels.get(value, value))


def _register_filters(state: Any) -> None:
    state.app.jinja_env.filters["shop_label"] = status_label


bp.record_once(_register_filters)
