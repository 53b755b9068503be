"""``/console/reports``: volume by channel and department, mean first-response and
resolution times in business hours, SLA attainment and the backlog — as tables, SVG
charts and CSV downloads (``pr.cases.report``). Console users only; anyone else gets 404.

The period is two days (``since``, ``until``, both included, UTC), the last 30 days
by default; a bad date is said on the page and the default used.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _

from postroom.core.cases.model import CaseReport, Channel, ReportRow
from postroom.core.errors import PostroomError
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import CONSOLE_ROLES, case_term
from postroom.frontends.web.charts import bar_chart
from postroom.frontends.web.console import staff_actor
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


def _report(errors: list[str]) -> tuple[CaseReport | None, date, date]:
    today = current_postroom().clock.now().astimezone(UTC).date()
    first = _day("since", today - timedelta(days=DEFAULT_DAYS - 1), errors)
    last = _day("until", today, errors)
    since = datetime.combine(first, time(0), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    try:
        return current_postroom().cases.report(since, until, by=staff_actor()), first, last
    except PostroomError as error:
        errors.append(error_text(error))
        return None, first, last


def _number(value: float | None, pattern: str = "#,##0.0") -> str:
    return "—" if value is None else str(format_decimal(value, format=pattern))


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{_number(100 * share)} %"


def _name(row: ReportRow) -> str:
    return str(_("All cases")) if row.key == "all" else case_term(row.key)


def _channels(report: CaseReport) -> list[ReportRow]:
    """A row for every channel, an empty one where no case came by it."""
    found = {row.key: row for row in report.by_channel}
    return [
        found.get(c.value) or ReportRow(c.value, 0, 0, None, None, None, 0, None) for c in Channel
    ]


def _lines(report: CaseReport) -> list[ReportRow]:
    return [*report.by_department, report.total]


#: each table: its columns, and how a row fills them
COLUMNS: dict[str, tuple[tuple[Any, Callable[[ReportRow], str]], ...]] = {
    "volume": (
        (_("Opened"), lambda r: str(r.opened)),
        (_("Resolved"), lambda r: str(r.resolved)),
    ),
    "times": (
        (_("Cases"), lambda r: str(r.opened)),
        (_("Mean business hours to first response"), lambda r: _number(r.first_response_hours)),
        (_("Mean business hours to resolution"), lambda r: _number(r.resolution_hours)),
    ),
    "sla": (
        (_("Cases"), lambda r: str(r.opened)),
        (_("Deadlines met"), lambda r: _percent(r.sla_attainment)),
    ),
    "backlog": (
        (_("Open cases"), lambda r: str(r.backlog)),
        (_("Oldest (days)"), lambda r: _number(r.oldest_backlog_days)),
    ),
}


def rows_of(report: CaseReport, table: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of one of the report's tables, in the reader's language."""
    if table == "channels":
        first, rows, columns = _("Channel"), _channels(report), COLUMNS["volume"]
    elif table == "departments":
        first, rows, columns = _("Department"), _lines(report), COLUMNS["volume"]
    else:
        first, rows, columns = _("Department"), _lines(report), COLUMNS[table]
    header = [str(first), *(str(title) for title, _cell in columns)]
    return header, [[_name(row), *(cell(row) for _title, cell in columns)] for row in rows]


def _charts(report: CaseReport) -> dict[str, Any]:
    departments = list(report.by_department)
    return {
        "channels": bar_chart(
            str(_("Cases opened by channel")),
            [(case_term(r.key), r.opened) for r in _channels(report)],
        ),
        "departments": bar_chart(
            str(_("Cases opened by department")),
            [(case_term(r.key), r.opened) for r in departments],
        ),
        "times": bar_chart(
            str(_("Mean business hours to first response, by department")),
            [(case_term(r.key), r.first_response_hours or 0) for r in departments],
            value_text=[_number(r.first_response_hours) for r in departments],
        ),
        "sla": bar_chart(
            str(_("Deadlines met, by department")),
            [(case_term(r.key), 100 * (r.sla_attainment or 0)) for r in departments],
            value_text=[_percent(r.sla_attainment) for r in departments],
        ),
        "backlog": bar_chart(
            str(_("Open cases, by department")),
            [(case_term(r.key), r.backlog) for r in departments],
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
        "backlog": _("Backlog"),
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
