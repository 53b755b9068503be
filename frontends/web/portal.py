"""The portal's front page, where a visitor lands, and the dashboard, where a signed-in
customer lands. The installation's state (version, database, worker, plugins) is for its
operators only, as on ``/healthz``."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import get_datetime_format
from flask import Blueprint, redirect, render_template, url_for
from flask_babel import format_date, format_time, get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from postroom.core.dashboard import customer_dashboard
from postroom.core.ledger.service import RecentRefill
from postroom.core.money import Money
from postroom.frontends.web.case_terms import CONSOLE_ROLES
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.health import may_see_details
from postroom.frontends.web.signin import current_user, has_role, login_required

bp = Blueprint("portal", __name__)

#: how many open support cases the dashboard lists (the nearest deadline first)


@bp.get("/")
def home() -> str:
    """Anyone may read it; the state of the installation only loopback or a token holder."""
    postroom = current_postroom()
    if not may_see_details():
        return render_template("home.html", health=None, plugins=None)
    return render_template(
        "home.html",
        health=postroom.health(),
        plugins=postroom.plugins.plugin_infos(),
    )


def _refill_text(refill: RecentRefill) -> str:
    if refill.meter is not None:
        return str(_("Postage loaded into meter %(serial)s", serial=refill.meter))
    return str(_("Funds added to the postage account"))


@bp.get("/dashboard")
@login_required
def dashboard() -> str | Response:
    """A signed-in, verified user of a customer account (owner, admin or user) sees that
    account's dashboard and no other; staff who work cases go to the support console,
    other staff (who belong to no customer account) to their profile."""
    user = current_user()
    if user is not None and user.is_staff and has_role(user, CONSOLE_ROLES):
        return redirect(url_for("console.queue"))  # staff who answer customers
    if user is None or user.account_number is None:
        return redirect(url_for("account.profile"))
    board = customer_dashboard(current_postroom(), user.account_number)
    return render_template(
        "dashboard.html",
        board=board,
        open_cases=board.open_cases,
        balance=Money(board.postage.available_mills, board.postage.currency),
        may_manage=user.role in ("owner", "admin"),
    )


def _when(moment: datetime | None) -> str:
    """A day and a time to the minute in the reader's language and the portal's time
    zone ("Dec 2, 2026, 10:23 AM", "2 déc. 2026, 10:23")."""
    if moment is None:
        return ""
    pattern = get_datetime_format("medium", locale=get_locale())
    return (
        str(pattern)
        .replace("{1}", format_date(moment, "medium"))
        .replace("{0}", format_time(moment, "short"))
    )


def _day_of(moment: date | datetime | None) -> str:
    return "" if moment is None else str(format_date(moment, "long"))


bp.add_app_template_filter(_when, "when")
bp.add_app_template_filter(_refill_text, "refill_text")
bp.add_app_template_filter(_day_of, "long_day")
