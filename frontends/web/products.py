"""``/products``: a customer's equipment, its contracts, registering a product and asking
to move one (docs/contracts.md).

Every page needs a signed-in user of a customer account and shows only that account's
products: another account's serial answers 404, as does a page a role may not use
(owners and admins register products and request address changes; users read).
Forms are Flask-WTF forms (CSRF on each); the core checks every value, and its error
codes are shown next to their field in the visitor's language.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from babel import Locale
from flask import Blueprint, abort, make_response, redirect, render_template, url_for
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import DateField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import InputRequired, Optional

from postroom.core.contracts.model import Contract, InstallationAddress, parse_address
from postroom.core.errors import PostroomError
from postroom.core.money import Money
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, login_required, roles_required

bp = Blueprint("products", __name__, url_prefix="/products")

#: Who may change what the account has: register products, move them.
MANAGERS = ("owner", "admin")
LOCALES = {"en": "en_US", "fr": "fr_FR"}
#: Regions babel lists that are not ISO 3166-1 countries (as accounts.model.NOT_COUNTRIES).
NOT_COUNTRIES = frozenset({"ZZ", "QO", "EU", "EZ", "UN"})


def error_messages() -> dict[str, Any]:
    """The visitor's-language text of each error code of the core."""
    return {
        "unknown_product_code": _("Enter the product code printed on the label, e.g. PR-VPSD1."),
        "invalid_serial": _("Enter the serial number printed on the label (letters, digits, -)."),
        "invalid_installation_number": _(
            "Enter the 11 digits of the installation account number; check them on the "
            "delivery note."
        ),
        "installation_number_unknown": _("No product was shipped with this number."),
        "invalid_registration": _(
            "Give the product code and serial number, or the installation account number."
        ),
        "meter_exists": _("This product is registered already."),
        "invalid_address_line1": _("Enter the street address (up to 100 characters)."),
        "invalid_address_line2": _("Up to 100 characters."),
        "invalid_postal_code": _("Enter the postal code (letters, digits, spaces, dashes)."),
        "invalid_city": _("Enter the city (up to 80 characters)."),
        "unknown_country": _("Choose the country."),
        "invalid_move_date": _("Choose a moving date from today to a year ahead."),
        "invalid_requested_by": _("Your name on your profile is needed for the request."),
        "control_character": _("Remove the control characters from this field."),
        "meter_withdrawn": _("This product was withdrawn: it is not moved any more."),
    }


#: Which form field an error code belongs to.
FIELD_OF_CODE = {
    "unknown_product_code": "product_code",
    "invalid_serial": "serial",
    "invalid_installation_number": "installation_number",
    "installation_number_unknown": "installation_number",
    "invalid_address_line1": "line1",
    "invalid_address_line2": "line2",
    "invalid_postal_code": "postal_code",
    "invalid_city": "city",
    "unknown_country": "country",
    "invalid_move_date": "move_on",
}
#: The field of a ``control_character`` error, by the core's field name.
FIELD_OF_NAME = {
    "address_line1": "line1",
    "address_line2": "line2",
    "postal_code": "postal_code",
    "city": "city",
}


@cache
def _countries(language: str) -> list[tuple[str, str]]:
    names = Locale.parse(LOCALES.get(language, "en_US")).territories
    found = [
        (str(code), str(name))
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    ]
    return sorted(found, key=lambda pair: pair[1])


def _language() -> str:
    return str(get_locale())


# Where a product stands, in both forms; the core checks and cleans each line.
LINE1 = StringField(_("Street address"), validators=[InputRequired()])
LINE2 = StringField(_("Building, floor, suite (optional)"), validators=[Optional()])
POSTAL_CODE = StringField(_("Postal code"), validators=[InputRequired()])
CITY = StringField(_("City"), validators=[InputRequired()])
COUNTRY = SelectField(_("Country"), validators=[InputRequired()], validate_choice=False)


class RegisterProductForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    method = RadioField(
        _("How do you identify the product?"),
        choices=[
            SelectChoice("label", _("Product code and serial number (on the label)")),
            SelectChoice("installation", _("Installation account number (on the delivery note)")),
        ],
        default="label",
    )
    product_code = StringField(_("Product code"))
    serial = StringField(_("Serial number"))
    installation_number = StringField(_("Installation account number"))
    line1 = LINE1
    line2 = LINE2
    postal_code = POSTAL_CODE
    city = CITY
    country = COUNTRY


class AddressChangeForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    line1 = LINE1
    line2 = LINE2
    postal_code = POSTAL_CODE
    city = CITY
    country = COUNTRY
    move_on = DateField(_("Moving date"), validators=[InputRequired()])


def _prepare(form: RegisterProductForm | AddressChangeForm, default_country: str) -> None:
    form.country.choices = [
        SelectChoice("", _("Choose…")),
        *(SelectChoice(code, name) for code, name in _countries(_language())),
    ]
    if not form.is_submitted():
        form.country.data = default_country


def _address(form: RegisterProductForm | AddressChangeForm) -> InstallationAddress:
    return parse_address(
        form.line1.data or "",
        form.line2.data or "",
        form.postal_code.data or "",
        form.city.data or "",
        form.country.data or "",
    )


def _show_error(form: FlaskForm, error: PostroomError, fallback: str) -> None:
    """Put the core's error next to its field (or at ``fallback``)."""
    text = error_messages().get(error.code, error.message)
    name = FIELD_OF_CODE.get(error.code)
    if error.code == "control_character":
        name = FIELD_OF_NAME.get(str(error.details.get("field")), fallback)
    field = getattr(form, name or fallback)
    field.errors = [*list(field.errors or ()), text]


def _customer() -> str:
    """The signed-in user's customer account (staff have none: these pages are not theirs)."""
    user = current_user()
    if user is None or user.account_number is None:
        abort(404)
    return user.account_number


def _may_manage() -> bool:
    user = current_user()
    return user is not None and not user.is_staff and user.role in MANAGERS


def _account_country(number: str) -> str:
    return current_postroom().accounts.get(number).country


# ------------------------------------------------------------------------ pages


@bp.get("")
@login_required
def index() -> str:
    """The account's products and their contracts: any signed-in user of the account."""
    number = _customer()
    pr = current_postroom()
    return render_template(
        "products/list.html",
        products=pr.equipment.products(number),
        today=pr.contracts.today(),
        may_manage=_may_manage(),
    )


@bp.route("/register", methods=["GET", "POST"])
@login_required
@roles_required(*MANAGERS)
def register() -> str | Response:
    """Register a product to the account: its owners and admins only."""
    number = _customer()
    form = RegisterProductForm()
    _prepare(form, _account_country(number))
    if form.validate_on_submit():
        by_label = form.method.data != "installation"
        try:
            done = current_postroom().equipment.register_product(
                number,
                _address(form),
                product_code=form.product_code.data or "" if by_label else None,
                serial=form.serial.data or "" if by_label else None,
                installation_number=None if by_label else form.installation_number.data or "",
            )
        except PostroomError as error:
            if error.code in ("meter_exists", "invalid_registration"):
                fallback = "serial" if by_label else "installation_number"
            else:
                fallback = "line1"
            _show_error(form, error, fallback)
        else:
            shown = make_response(render_template("products/registered.html", done=done))
            shown.headers["Cache-Control"] = "no-store"  # the meter's key, shown once
            return shown
    return render_template("products/register.html", form=form)


@bp.get("/<serial>")
@login_required
def detail(serial: str) -> str:
    """One product of the account with its contracts: any signed-in user of the account;
    another account's product answers 404."""
    number = _customer()
    pr = current_postroom()
    return render_template(
        "products/detail.html",
        product=pr.equipment.product(number, serial),
        today=pr.contracts.today(),
        may_manage=_may_manage(),
    )


@bp.route("/<serial>/address", methods=["GET", "POST"])
@login_required
@roles_required(*MANAGERS)
def change_address(serial: str) -> str | Response:
    """Ask support to move a product of the account: its owners and admins only;
    another account's product answers 404."""
    number = _customer()
    pr = current_postroom()
    product = pr.equipment.product(number, serial)
    form = AddressChangeForm()
    _prepare(form, product.address.country if product.address else _account_country(number))
    if form.validate_on_submit():
        user = current_user()
        assert user is not None  # login_required
        try:
            pr.equipment.request_address_change(
                number,
                product.serial,
                _address(form),
                form.move_on.data or date.min,
                user.name or user.email,
            )
        except PostroomError as error:
            _show_error(form, error, "line1")
        else:
            return redirect(url_for("products.detail", serial=product.serial), code=303)
    return render_template("products/address.html", form=form, product=product)


# -------------------------------------------------------------- template helpers


def _money(amount: Money) -> str:
    return amount.format(LOCALES.get(_language(), "en_US"))


def _day(day: date | None) -> str:
    return "" if day is None else str(format_date(day, "medium"))


@bp.app_template_global("contract_facts")
def contract_facts(contract: Contract, today: date) -> dict[str, Any]:
    """What a contract is on ``today``: its term, status, renewal date, notice deadline."""
    term = contract.term_on(today)
    return {
        "term": term,
        "status": contract.status_on(today).value,
        "renewal_date": contract.renewal_date(today),
        "notice_deadline": contract.notice_deadline(today),
    }


def _country(code: str) -> str:
    """The country's name in the visitor's language."""
    return dict(_countries(_language())).get(code, code)


def _label(value: str) -> str:
    """The visitor's-language name of a contract kind, status or billing period."""
    labels = {
        "lease": _("Lease"),
        "rental": _("Rental"),
        "maintenance": _("Maintenance"),
        "active": _("Active"),
        "expiring": _("Expiring"),
        "ended": _("Ended"),
        "cancelled": _("Cancelled"),
        "withdrawn": _("Withdrawn"),
        "monthly": _("per month"),
        "quarterly": _("per quarter"),
        "yearly": _("per year"),
    }
    return str(labels.get(value, value))


def _register_filters(state: Any) -> None:
    filters: dict[str, Callable[..., str]] = {
        "money": _money,
        "day": _day,
        "label": _label,
        "country": _country,
    }
    state.app.jinja_env.filters.update(filters)


bp.record_once(_register_filters)
