"""``/console/reports``: volume by channel and department, first-response and resolution
times, SLA attainment and the backlog's age — as tables, SVG charts and CSV downloads
(``pr.case_reports``). Console users only; anyone else gets 404.

The period is two days (``since``, ``until``, both included, UTC), the last 30 days
by default; a bad date is said on the page and the default used.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _

from postroom.core.cases.reports import Report
from postroom.core.errors import PostroomError
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import CONSOLE_ROLES, case_term
from postroom.frontends.web.charts import bar_chart
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import roles_required

bp = Blueprint("console_reports", __name__, url_prefix="/console/reports")

DEFAULT_DAYS = 30
TABLES = ("channels", "departments", "times", "sla", "backlog")


def _day(name: str, default: date, errors: list[str]) -> date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(str(_("Enter dates as YYYY-MM-DD.")))
        return default


def _period(errors: list[str]) -> tuple[date, date]:
    today = current_postroom().case_reports.now().date()
    first = _day("since", today - timedelta(days=DEFAULT_DAYS - 1), errors)
    last = _day("until", today, errors)
    return first, last


def _report(errors: list[str]) -> tuple[Report | None, date, date]:
    first, last = _period(errors)
    since = datetime.combine(first, time(0), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    try:
        return current_postroom().case_reports.report(since, until), first, last
    except PostroomError as error:
        errors.append(error_text(error))
        return None, first, last


def _band(key: str) -> str:
    bands: dict[str, Any] = {
        "under_1_day": _("Under a day"),
        "1_to_3_days": _("1 to 3 days"),
        "3_to_7_days": _("3 to 7 days"),
        "7_to_30_days": _("7 to 30 days"),
        "over_30_days": _("Over 30 days"),
    }
    return str(bands.get(key, key))


def _hours(value: float) -> str:
    return str(format_decimal(round(value, 1), format="#,##0.0"))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{format_decimal(round(value, 1), format='#,##0.0')} %"


def rows_of(report: Report, table: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of one of the report's tables, in the reader's language."""
    if table == "channels":
        return [str(_("Channel")), str(_("Cases"))], [
            [case_term(k), str(n)] for k, n in report.by_channel
        ]
    if table == "departments":
        return [str(_("Department")), str(_("Cases"))], [
            [case_term(k), str(n)] for k, n in report.by_department
        ]
    if table == "times":
        header = [
            str(_("Measure")),
            str(_("Cases")),
            str(_("Mean (h)")),
            str(_("Median (h)")),
            str(_("90th percentile (h)")),
        ]
        return header, [
            [
                str(label),
                str(d.count),
                _hours(d.mean_hours),
                _hours(d.median_hours),
                _hours(d.p90_hours),
            ]
            for label, d in (
                (_("First response"), report.first_response),
                (_("Resolution"), report.resolution),
            )
        ]
    if table == "sla":
        header = [str(_("Target")), str(_("Met")), str(_("Due")), str(_("Attainment"))]
        return header, [
            [str(label), str(a.met), str(a.due), _percent(a.percent)]
            for label, a in (
                (_("First response"), report.first_response_sla),
                (_("Resolution"), report.resolution_sla),
            )
        ]
    return [str(_("Age")), str(_("Open cases"))], [[_band(k), str(n)] for k, n in report.backlog]


def _charts(report: Report) -> dict[str, Any]:
    def pct(value: float | None) -> float:
        return value or 0.0

    return {
        "channels": bar_chart(
            str(_("Cases by channel")), [(case_term(k), n) for k, n in report.by_channel]
        ),
        "departments": bar_chart(
            str(_("Cases by department")), [(case_term(k), n) for k, n in report.by_department]
        ),
        "times": bar_chart(
            str(_("Median hours to first response and to resolution")),
            [
                (str(_("First response")), report.first_response.median_hours),
                (str(_("Resolution")), report.resolution.median_hours),
            ],
            value_text=[
                _hours(report.first_response.median_hours),
                _hours(report.resolution.median_hours),
            ],
        ),
        "sla": bar_chart(
            str(_("SLA attainment")),
            [
                (str(_("First response")), pct(report.first_response_sla.percent)),
                (str(_("Resolution")), pct(report.resolution_sla.percent)),
            ],
            value_text=[
                _percent(report.first_response_sla.percent),
                _percent(report.resolution_sla.percent),
            ],
        ),
        "backlog": bar_chart(
            str(_("Open cases by age")), [(_band(k), n) for k, n in report.backlog]
        ),
    }


@bp.get("")
@roles_required(*CONSOLE_ROLES)
def reports() -> str:
    errors: list[str] = []
    report, first, last = _report(errors)
    titles = {
        "channels": _("Volume by channel"),
        "departments": _("Volume by department"),
        "times": _("First-response and resolution times"),
        "sla": _("SLA attainment"),
        "backlog": _("Backlog age"),
    }
    tables = [(name, titles[name], *rows_of(report, name)) for name in TABLES] if report else []
    return render_template(
        "console/reports.html",
        report=report,
        tables=tables,
        charts=_charts(report) if report else {},
        first=first,
        last=last,
        errors=errors,
    )


@bp.get("/<table>.csv")
@roles_required(*CONSOLE_ROLES)
def download(table: str) -> Response:
    if table not in TABLES:
        abort(404)
    errors: list[str] = []
    report, first, last = _report(errors)
    if report is None or errors:
        abort(400)
    header, rows = rows_of(report, table)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # a cell starting with = + - @ would run as a formula in a spreadsheet
        writer.writerow(["'" + cell if cell[:1] in "=+-@" else cell for cell in row])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="cases-{table}-{first.isoformat()}-{last.isoformat()}.csv"'
    )
    return response
