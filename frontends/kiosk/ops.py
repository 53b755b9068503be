"""The terminal's screens beside printing: sign-in with a badge, today's report (and its
CSV), tracking a number, asking for help (a support case with the meter and the last
pieces), and the notices every screen shows (the data center out of reach, funds low,
a meter's inspection due) with their fix.

Who may: the badge form is open (it is the sign-in); everything else needs the
signed-in operator, like the print screens (``terminal._check_operator``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from postroom.core.errors import Locked, NotFound, PostroomError, Unauthenticated, ValidationError
from postroom.core.kiosks.model import Notice, NoticeKind, PieceReport
from postroom.core.money import Money
from postroom.core.tracking.explanations import explain
from postroom.frontends.kiosk.backend import DataCenter, DataCenterUnreachable, OperatorChoice
from postroom.frontends.kiosk.offline import CaseQueued, OfflineQueue
from postroom.frontends.serialise.kiosks import piece_report_csv
from postroom.frontends.web.rates_pages import LOCALES

bp = Blueprint("terminal_ops", __name__, template_folder="templates")

#: Reachable without an operator: the badge is a way to sign in.
OPEN_ENDPOINTS = frozenset({"terminal_ops.sign_in_badge"})
MAX_BADGE_TEXT = 64
MAX_TRACKING_TEXT = 40
MAX_SUBJECT = 200
MAX_MESSAGE = 2000
#: The notices are asked of the data center at most this often (every screen shows them).
NOTICES_SECONDS = 60.0
#: How many of the session's last pieces a support case names.
CASE_PIECES = 5


def _state() -> dict[str, Any]:
    state: dict[str, Any] = current_app.extensions["postroom_terminal"]
    return state


def _data_center() -> DataCenter:
    found: DataCenter = _state()["data_center"]
    return found


def _operator() -> OperatorChoice | None:
    found: OperatorChoice | None = g.get("operator")
    return found


def _money(amount: Money) -> str:
    return amount.format(LOCALES.get(str(get_locale()), "en_US"))


def _language() -> str:
    return "fr" if str(get_locale()).startswith("fr") else "en"


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


# ----------------------------------------------------------------- sign in by badge


@bp.post("/sign-in/badge")
def sign_in_badge() -> ResponseReturnValue:
    """The badge reader typed a code and Enter into the sign-in screen's badge field."""
    from postroom.frontends.kiosk import terminal

    badge = request.form.get("badge", "")[:MAX_BADGE_TEXT]
    try:
        token = _data_center().sign_in_badge(badge)
    except Locked as error:
        seconds = error.details.get("retry_after", 1)
        message = _("Too many failed sign-ins. Try again in %(seconds)s seconds.", seconds=seconds)
        page, status = terminal.sign_in_page(429, message, badge_error=True)
        return page, status, {"Retry-After": str(seconds)}
    except Unauthenticated as error:
        if error.code == "badge_other_account":
            message = _(
                "This badge belongs to another account: it cannot sign in on this terminal. "
                "Sign in with your PIN, or ask your administrator."
            )
        else:
            message = _("Unknown badge. Sign in with your PIN, or ask your administrator.")
        return terminal.sign_in_page(401, message, badge_error=True)
    terminal.start_session(token)
    return redirect(url_for("terminal.weigh"), 303)


# ------------------------------------------------------------------------- report


def _report() -> PieceReport:
    return _data_center().report()


@bp.get("/report")
def report() -> tuple[str, int]:
    """Today's pieces of this terminal, by cost centre and by operator."""
    return _render("terminal/report.html", report=_report(), money=_money)


@bp.get("/report.csv")
def report_csv() -> Response:
    found = _report()
    return Response(
        piece_report_csv(found),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="pieces-{found.day.isoformat()}.csv"'
        },
    )


# -------------------------------------------------------------------------- track


@bp.route("/track", methods=["GET", "POST"])
def track() -> tuple[str, int]:
    """Look up a tracking number (typed on the screen or scanned) and say in plain words
    where the piece is."""
    number = request.form.get("number", "").strip()[:MAX_TRACKING_TEXT]
    if request.method == "GET" or not number:
        error = _("Scan or type a tracking number.") if request.method == "POST" else None
        return _render("terminal/track.html", 422 if error else 200, number=number, error=error)
    try:
        found = _data_center().track(number)
    except NotFound:
        message = _("No parcel is followed with this number. Check it, or ask for help.")
        return _render("terminal/track.html", 404, number=number, error=message)
    except ValidationError:
        message = _("This is not a tracking number postroom knows: check it.")
        return _render("terminal/track.html", 422, number=number, error=message)
    return _render(
        "terminal/track.html",
        number=number,
        found=found,
        explanation=explain(found.status, _language()),
    )


# --------------------------------------------------------------------------- help


def _case_description(message: str) -> str:
    """The operator's words, then what support needs: the terminal, its meter, the last
    pieces printed in this browser session."""
    state = _state()
    info = _data_center().terminal()
    operator = _operator()
    lines = [message, "", "--", f"Terminal: {info.label} (account {info.customer_number})"]
    if operator is not None:
        lines.append(f"Operator: {operator.name} (#{operator.id})")
    meter = state.get("meter_serial")
    if meter:
        lines.append(f"Attached meter: {meter}")
    pieces = session.get("terminal_pieces", [])[-CASE_PIECES:]
    if pieces:
        lines.append("Last pieces: " + ", ".join(f"{serial} #{piece}" for serial, piece in pieces))
    return "\n".join(lines)


@bp.route("/help", methods=["GET", "POST"])
def ask_for_help() -> ResponseReturnValue:
    """Open a support case from the terminal; kept on the terminal while the data center
    cannot be reached, and sent once it can."""
    if request.method == "GET":
        return _render("terminal/help.html", key="case-" + secrets.token_hex(12))
    subject = " ".join(request.form.get("subject", "").split())[:MAX_SUBJECT]
    message = request.form.get("message", "").strip()[:MAX_MESSAGE]
    key = request.form.get("idempotency_key", "")[:64] or "case-" + secrets.token_hex(12)
    if not subject:
        return _render(
            "terminal/help.html",
            422,
            key=key,
            subject=subject,
            message=message,
            error=_("Say in a few words what the problem is."),
        )
    operator = _operator()
    name = operator.name if operator is not None else "?"
    try:
        number = _data_center().open_case(name, subject, _case_description(message or subject), key)
    except CaseQueued:
        return _render("terminal/help_sent.html", 202, number=None)
    except DataCenterUnreachable:
        return _render(
            "terminal/help.html",
            503,
            key=key,
            subject=subject,
            message=message,
            error=_("The data center cannot be reached: try again in a moment."),
        )
    except PostroomError as error:
        return _render(
            "terminal/help.html",
            error.http_status,
            key=key,
            subject=subject,
            message=message,
            error=_("The case could not be opened (%(code)s).", code=error.code),
        )
    return _render("terminal/help_sent.html", 201, number=number)


# ------------------------------------------------------------- notices and offline


@bp.post("/notices/sync")
def sync_meter() -> ResponseReturnValue:
    """The inspection notice's fix: sync the attached meter now (when one is)."""
    sync: Callable[[], None] | None = _state().get("sync_meter")
    if sync is None:
        return redirect(url_for("terminal.weigh"), 303)
    try:
        sync()
    except PostroomError as error:
        return _render(
            "terminal/problem.html",
            503,
            message=_("The meter could not be synced (%(code)s).", code=error.code),
        )
    _state().pop("notices_at", None)
    return redirect(url_for("terminal.weigh", synced=1), 303)


def _notices() -> list[Notice]:
    """The data center's notices, asked at most once a minute (not on every screen)."""
    state = _state()
    now = time.monotonic()
    if now - state.get("notices_at", -NOTICES_SECONDS) >= NOTICES_SECONDS:
        try:
            state["notices"] = _data_center().notices()
        except PostroomError:  # out of reach: the offline banner says so
            state.setdefault("notices", [])
        state["notices_at"] = now
    found: list[Notice] = state.get("notices", [])
    return found


def notice_text(notice: Notice) -> str:
    if notice.kind is NoticeKind.FUNDS_LOW and notice.available is not None:
        return str(
            _(
                "The account's postage funds are low: %(amount)s left. An administrator adds "
                "funds in the portal.",
                amount=_money(notice.available),
            )
        )
    day = notice.due_at.date().isoformat() if notice.due_at else "?"
    if notice.kind is NoticeKind.INSPECTION_OVERDUE:
        return str(
            _(
                "Meter %(serial)s missed its inspection (%(day)s): it will not print until "
                "it syncs with the data center.",
                serial=notice.serial,
                day=day,
            )
        )
    return str(
        _(
            "Meter %(serial)s is due for inspection (%(day)s): sync it with the data center.",
            serial=notice.serial,
            day=day,
        )
    )


@bp.app_context_processor
def _context() -> dict[str, object]:
    if _operator() is None:
        return {"terminal_ops": None}
    state = _state()
    data_center = state["data_center"]
    queue: OfflineQueue | None = getattr(data_center, "queue", None)
    notices = _notices()
    return {
        "terminal_ops": {
            "offline": bool(getattr(data_center, "offline", False)),
            "waiting": queue.waiting() if queue is not None else 0,
            "notices": [(n.kind.value, notice_text(n)) for n in notices],
            "funds_url": state.get("funds_url"),
            "can_sync": state.get("sync_meter") is not None,
        }
    }


def init_app(app: Flask) -> None:
    """Add these screens to the terminal's app (``create_terminal_app`` does)."""
    app.extensions["postroom_terminal"].update(funds_url=None, sync_meter=None, meter_serial=None)
    app.register_blueprint(bp)


def configure(
    app: Flask,
    *,
    funds_url: str | None = None,
    sync_meter: Callable[[], None] | None = None,
    meter_serial: str | None = None,
) -> None:
    """``funds_url``: the portal's page where an administrator adds funds (the low-funds
    notice links it); ``sync_meter``: syncs the attached meter (the inspection notice's
    fix); ``meter_serial``: the attached meter, named in support cases."""
    app.extensions["postroom_terminal"].update(
        funds_url=funds_url, sync_meter=sync_meter, meter_serial=meter_serial
    )
