"""The account's kiosk operators and the terminals' report, in the portal.

Who may: the account's owners and admins (``roles_required``: anyone else gets 404, as
if the page did not exist). An operator of another account answers 404 too
(``operator_not_found``). The badge is typed by a reader at the admin's desk (or by
hand) into a password field: only its keyed hash is kept.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from postroom.core.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.core.money import Money
from postroom.frontends.serialise.kiosks import piece_report_csv
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.rates_pages import money_locale
from postroom.frontends.web.signin import roles_required, signed_in_person

bp = Blueprint("kiosk_admin", __name__, url_prefix="/account/kiosk")

MAX_FIELD = 100


def _number() -> str:
    person = signed_in_person()
    if person is None or person.account_number is None:
        abort(404)
    number: str = person.account_number
    return number


def _money(amount: Money) -> str:
    return amount.format(money_locale())


#: What a refused change means, for the admin.
MESSAGES = {
    "invalid_pin": lambda: _("A PIN is 6 to 12 digits."),
    "weak_pin": lambda: _("Choose a PIN that is not one repeated digit or a run of digits."),
    "invalid_operator_name": lambda: _("Give the operator a name of 1 to 100 characters."),
    "invalid_badge": lambda: _("A badge code is 4 to 64 characters: hold the badge to the reader."),
    "badge_taken": lambda: _("Another operator of the account has this badge."),
    "unknown_cost_center": lambda: _("Choose among the account's cost centres."),
    "invalid_cost_center": lambda: _("Choose among the account's cost centres."),
}


def _refused(error: PostroomError) -> None:
    message = MESSAGES.get(error.code)
    flash(str(message()) if message else error.message, "error")


def _done(message: str) -> ResponseReturnValue:
    flash(message)
    return redirect(url_for("kiosk_admin.operators"), code=303)


@bp.get("/operators")
@roles_required("owner", "admin")
def operators() -> str:
    """The people who may print on the account's terminals: PIN, badge, cost centres."""
    number = _number()
    postroom = current_postroom()
    return render_template(
        "account/kiosk_operators.html",
        operators=postroom.accounts.operators(number),
        cost_centers=postroom.kiosks.cost_centers(number),
    )


@bp.post("/operators")
@roles_required("owner", "admin")
def add_operator() -> ResponseReturnValue:
    number = _number()
    try:
        operator = current_postroom().accounts.add_operator(
            number, request.form.get("name", "")[:MAX_FIELD], request.form.get("pin", "")[:64]
        )
    except ValidationError as error:
        _refused(error)
        return redirect(url_for("kiosk_admin.operators"), code=303)
    return _done(_("%(name)s may now sign in at the kiosks.", name=operator.name))


def _change(operator_id: int, change: str) -> ResponseReturnValue:
    number = _number()
    postroom = current_postroom()
    form = request.form
    try:
        if change == "pin":
            postroom.accounts.set_operator_pin(number, operator_id, form.get("pin", "")[:64])
            return _done(_("The PIN was changed: the operator was signed out."))
        if change == "badge":
            postroom.accounts.set_operator_badge(number, operator_id, form.get("badge", "")[:64])
            return _done(_("The badge was set: the operator signs in with it from now on."))
        if change == "remove-badge":
            postroom.accounts.set_operator_badge(number, operator_id, None)
            return _done(_("The badge was removed: it no longer signs anyone in."))
        if change == "cost-centers":
            names = [name[:MAX_FIELD] for name in form.getlist("cost_center")][:50]
            postroom.kiosks.set_operator_cost_centers(number, operator_id, names)
            return _done(_("The operator's cost centres were saved."))
        if change == "remove":
            removed = postroom.accounts.remove_operator(number, operator_id)
            return _done(
                _("%(name)s was removed; their prints stay booked to them.", name=removed.name)
            )
    except NotFound:
        abort(404)
    except (ValidationError, Conflict) as error:
        _refused(error)
        return redirect(url_for("kiosk_admin.operators"), code=303)
    abort(404)


@bp.post(
    "/operators/<int:operator_id>/<any(pin, badge, 'remove-badge', 'cost-centers', remove):change>"
)
@roles_required("owner", "admin")
def change_operator(operator_id: int, change: str) -> ResponseReturnValue:
    """Owners and admins: a new PIN, a badge set or removed, the cost centres, removal."""
    return _change(operator_id, change)


def _day() -> date | None:
    text = request.args.get("day", "")
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("/report")
@roles_required("owner", "admin")
def report() -> str:
    """The pieces the account's terminals printed on a day, by cost centre and operator."""
    found = current_postroom().kiosks.report(_number(), _day())
    return render_template("account/kiosk_report.html", report=found, money=_money)


@bp.get("/report.csv")
@roles_required("owner", "admin")
def report_csv() -> Response:
    found = current_postroom().kiosks.report(_number(), _day())
    name = f"kiosk-pieces-{found.day.isoformat()}.csv"
    return Response(
        piece_report_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
