"""Transaction reports rendered for people and programs: JSON with Money objects
(``{"amount": "12.34", "currency": "USD"}``) and CSV. Shared by the CLI and the API."""

from __future__ import annotations

import csv
import io
from typing import Any

from postroom.core.ledger.model import REPORT_CSV_COLUMNS, TransactionReport
from postroom.core.money import Money


def _m(mills: int, currency: str) -> dict[str, str]:
    return Money(mills, currency).to_json()


def report_json(report: TransactionReport) -> dict[str, Any]:
    cur = report.currency
    data = report.to_json()
    for entry in data["entries"]:
        entry["amount"] = _m(entry.pop("amount_mills"), entry.pop("currency"))
    for total in data["totals"]:
        for name in ("credits", "debits", "net"):
            total[name] = _m(total.pop(f"{name}_mills"), total["currency"])
        del total["currency"]
    for kind in data["by_type"]:
        kind["net"] = _m(kind.pop("net_mills"), cur)
    for center in data["by_cost_center"]:
        center["net"] = _m(center.pop("net_mills"), cur)
    return data


def report_csv(report: TransactionReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for e in report.entries:
        row = e.to_json()
        row["amount"] = Money(e.amount, e.currency).amount
        writer.writerow([_cell(row[c]) for c in REPORT_CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a reference someone typed as a formula.
    return (
        "'" + text
        if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number_like(text)
        else text
    )


def _number_like(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
