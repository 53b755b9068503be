"""Kiosk keys and a terminal's offers as the API and ``postroom kiosk keys ... --json``
write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from postroom.core.errors import ValidationError
from postroom.core.kiosks.meter_pieces import LoggedMeterPiece
from postroom.core.kiosks.model import (
    IssuedKioskKey,
    KioskKey,
    KioskPiece,
    Notice,
    NoticeKind,
    PieceReport,
    PieceSource,
    ReportLine,
)
from postroom.core.kiosks.service import Offers
from postroom.core.money import Money
from postroom.core.rates.model import ExtraService, Quote
from postroom.core.rates.service import RatesService
from postroom.frontends.serialise import money, utc
from postroom.frontends.serialise.rates import quote_json


def kiosk_key_json(key: KioskKey) -> dict[str, Any]:
    """A key as it may be shown: its prefix, never its secret."""
    return {
        "prefix": key.prefix,
        "customer_number": key.customer_number,
        "label": key.label,
        "created_at": utc(key.created_at),
        "revoked_at": utc(key.revoked_at),
        "last_contact_at": utc(key.last_contact_at),
    }


def issued_kiosk_key_json(issued: IssuedKioskKey) -> dict[str, Any]:
    """A fresh key with its token: shown this once."""
    return {**kiosk_key_json(issued.key), "token": issued.token}


def offers_json(
    offers: Offers, extras: Callable[[Quote], Sequence[ExtraService]] = lambda quote: ()
) -> dict[str, Any]:
    """The offers; ``extras(quote)``: the extras the quote's service sells, listed with
    each option when they have a fixed price (one priced by declared value needs it)."""
    return {
        "currency": offers.currency,
        "options": [
            {
                **quote_json(option),
                "extras_offered": [
                    {"code": extra.code, "name": extra.name, "price": money(extra.price)}
                    for extra in extras(option)
                    if extra.price is not None
                ],
            }
            for option in offers.options
        ],
        "refused": [
            {
                "carrier": refusal.carrier,
                "service": refusal.service,
                "name": refusal.name,
                "code": refusal.code,
                "message": refusal.message,
                "limit": refusal.limit,
                "dimension": refusal.dimension,
                "bound": refusal.bound,
            }
            for refusal in offers.refused
        ],
    }


def meter_piece_json(piece: LoggedMeterPiece) -> dict[str, Any]:
    return {
        "serial": piece.serial,
        "piece": piece.piece,
        "postage": money(piece.postage),
        "carrier": piece.carrier,
        "service": piece.service,
        "cost_center": piece.cost_center,
        "operator": {"id": piece.operator_id, "name": piece.operator_name},
        "printed_at": utc(piece.printed_at),
        "misprint_at": None if piece.misprint_at is None else utc(piece.misprint_at),
        "refund_id": piece.refund_id,
    }


def table_extras(rates: RatesService, quote: Quote) -> tuple[ExtraService, ...]:
    """The extras of the table that priced ``quote`` (the quote names the table only)."""
    table = rates.in_force(quote.table.carrier, quote.table.service, on=quote.table.effective_from)
    return table.extras if table.digest == quote.table.digest else ()


def kiosk_piece_json(piece: KioskPiece) -> dict[str, Any]:
    return {
        "serial": piece.serial,
        "piece": piece.piece,
        "printed_at": utc(piece.printed_at),
        "postage": piece.postage.to_json(),
        "carrier": piece.carrier,
        "service": piece.service,
        "cost_center": piece.cost_center,
        "operator": piece.operator_id,
        "operator_name": piece.operator_name,
        "terminal": piece.terminal,
        "source": piece.source.value,
    }


def kiosk_piece_from_json(data: dict[str, Any], terminal: str) -> KioskPiece:
    """A piece a terminal sends (its body checked against the API document), logged
    as printed at ``terminal``: the one whose key sent it."""
    try:
        printed_at = datetime.fromisoformat(data["printed_at"])
    except ValueError:
        raise ValidationError("printed_at is an ISO 8601 time", code="invalid_time") from None
    if printed_at.tzinfo is None:
        raise ValidationError("printed_at names its UTC offset", code="invalid_time")
    return KioskPiece(
        serial=data["serial"],
        piece=data["piece"],
        printed_at=printed_at.astimezone(UTC),
        postage=Money.of(data["postage"]["amount"], data["postage"]["currency"]),
        carrier=data["carrier"],
        service=data["service"],
        cost_center=data.get("cost_center"),
        operator_id=data.get("operator"),
        operator_name=data["operator_name"],
        terminal=terminal,
        source=PieceSource(data.get("source", PieceSource.METER.value)),
    )


def _line_json(line: ReportLine) -> dict[str, Any]:
    return {"name": line.name, "pieces": line.pieces, "postage": line.postage.to_json()}


def piece_report_json(report: PieceReport) -> dict[str, Any]:
    return {
        "day": report.day.isoformat(),
        "currency": report.currency,
        "pieces": [kiosk_piece_json(piece) for piece in report.pieces],
        "by_cost_center": [_line_json(line) for line in report.by_cost_center],
        "by_operator": [_line_json(line) for line in report.by_operator],
        "total": report.total.to_json(),
    }


def piece_report_from_json(data: dict[str, Any]) -> PieceReport:
    def line(item: dict[str, Any]) -> ReportLine:
        return ReportLine(
            item["name"],
            int(item["pieces"]),
            Money.of(item["postage"]["amount"], item["postage"]["currency"]),
        )

    return PieceReport(
        date.fromisoformat(data["day"]),
        data["currency"],
        tuple(kiosk_piece_from_json(p, p["terminal"]) for p in data["pieces"]),
        tuple(line(item) for item in data["by_cost_center"]),
        tuple(line(item) for item in data["by_operator"]),
        Money.of(data["total"]["amount"], data["total"]["currency"]),
    )


def notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "kind": notice.kind.value,
        "serial": notice.serial,
        "available": None if notice.available is None else notice.available.to_json(),
        "due_at": utc(notice.due_at),
    }


def notice_from_json(data: dict[str, Any]) -> Notice:
    available = data.get("available")
    due = data.get("due_at")
    return Notice(
        NoticeKind(data["kind"]),
        data.get("serial"),
        None if available is None else Money.of(available["amount"], available["currency"]),
        None if due is None else datetime.fromisoformat(due),
    )


#: A report as CSV: one row per piece, money as exact decimal strings from mills.
CSV_COLUMNS = (
    "printed_at",
    "terminal",
    "operator",
    "cost_center",
    "carrier",
    "service",
    "serial",
    "piece",
    "postage",
    "currency",
    "source",
)


def piece_report_csv(report: PieceReport) -> str:
    """The day's pieces, one row each, then the totals by cost centre and by operator
    (``total`` rows), for a spreadsheet; amounts are exact (``12.345``), never floats."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.pieces:
        writer.writerow(
            [
                utc(p.printed_at),
                _cell(p.terminal),
                _cell(p.operator_name),
                _cell(p.cost_center or ""),
                _cell(p.carrier),
                _cell(p.service),
                _cell(p.serial),
                p.piece,
                p.postage.decimal,
                p.postage.currency,
                p.source.value,
            ]
        )
    writer.writerow([])
    writer.writerow(["total", "by", "name", "pieces", "postage", "currency"])
    for kind, lines in (("cost_center", report.by_cost_center), ("operator", report.by_operator)):
        for line in lines:
            writer.writerow(
                [
                    "total",
                    kind,
                    _cell(line.name),
                    line.pieces,
                    line.postage.decimal,
                    report.currency,
                ]
            )
    writer.writerow(["total", "all", "", len(report.pieces), report.total.decimal, report.currency])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
