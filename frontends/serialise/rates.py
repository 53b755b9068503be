"""Quotes, comparisons and rate imports as the API and ``postroom rates ... --json`` write
them."""

from __future__ import annotations

from typing import Any

from postroom.core.rates.model import Quote, QuoteLine, TableRef
from postroom.core.rates.service import Comparison, ImportReport, Refusal
from postroom.frontends.serialise import converter, money


def quote_line_json(line: QuoteLine) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "code": line.code,
        "description": line.description,
        "rule": line.rule,
        "amount": money(line.amount),
    }


def table_ref_json(table: TableRef) -> dict[str, Any]:
    return {
        "carrier": table.carrier,
        "service": table.service,
        "name": table.name,
        "effective_from": table.effective_from.isoformat(),
        "digest": table.digest,
        "source": {"document": table.source.document, "url": table.source.url},
        "delivery": table.delivery,
    }


def quote_json(quote: Quote) -> dict[str, Any]:
    """``{"total", "lines", "table"}``; the base line also tells the charged weight and the
    zone."""
    lines = [quote_line_json(line) for line in quote.lines]
    lines[0]["charged_weight"] = quote.charged_weight.json()
    lines[0]["zone"] = quote.zone
    return {"total": money(quote.total), "lines": lines, "table": table_ref_json(quote.table)}


def import_report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "added": list(report.added),
        "unchanged": list(report.unchanged),
        "failed": [{"source": name, "error": error} for name, error in report.failed],
    }


def refusal_json(refusal: Refusal) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(refusal)
    return data


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "options": [quote_json(option) for option in comparison.options],
        "cheapest": {currency: quote_json(q) for currency, q in comparison.cheapest.items()},
        "refused": [refusal_json(refusal) for refusal in comparison.refused],
    }
