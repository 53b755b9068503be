"""Bulk shipments from CSV (``postroom track import``): the file's shape and its rows
read into typed values, each bad row reported with its line number and reason. Pure:
the caller hands in the file's lines.

Columns (a header row names them, in any order; only ``number`` is required):
``number``, ``carrier``, ``service``, ``sender``, ``recipient``, ``origin``,
``destination``, ``mailed_on`` (YYYY-MM-DD), ``reference``, and for customs
``contents``, ``hs_codes`` (separated by spaces or ``;``), ``value`` (``45.00 USD``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date

import attrs

from postroom.core.errors import PostroomError, ValidationError
from postroom.core.money import Money
from postroom.core.tracking.model import Customs, Parties

COLUMNS = (
    "number",
    "carrier",
    "service",
    "sender",
    "recipient",
    "origin",
    "destination",
    "mailed_on",
    "reference",
    "contents",
    "hs_codes",
    "value",
)
#: The most rows one file may hold, and the longest field: a bigger file is refused
#: before anything is written.
MAX_ROWS = 200_000
MAX_FIELD = 1_000


@attrs.frozen
class ImportRow:
    line: int
    number: str
    carrier: str | None
    service: str
    parties: Parties
    mailed_on: date | None
    reference: str
    customs: Customs | None


@attrs.frozen
class RowError:
    line: int
    code: str
    message: str


def read_rows(lines: Iterable[str]) -> Iterator[ImportRow | RowError]:
    """Each data row of the CSV ``lines``, read or refused. Raises ValidationError for a
    file that cannot be read at all (no header, no ``number`` column, an unknown column,
    too many rows)."""
    csv.field_size_limit(MAX_FIELD * 4)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("the file is empty", code="csv_empty") from None
    except csv.Error as error:
        raise ValidationError(
            f"the header cannot be read: {error}", code="csv_malformed"
        ) from error
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise ValidationError(
            f"unknown column(s) {', '.join(repr(u[:40]) for u in unknown[:5])} "
            f"(known: {', '.join(COLUMNS)})",
            code="csv_unknown_column",
        )
    if "number" not in names:
        raise ValidationError("the header has no 'number' column", code="csv_missing_column")
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield RowError(reader.line_num, "csv_malformed", str(error))
            continue
        count += 1
        if count > MAX_ROWS:
            raise ValidationError(f"at most {MAX_ROWS:,} rows a file", code="csv_too_many_rows")
        if not any(cell.strip() for cell in cells):
            continue
        yield _row(reader.line_num, names, cells)


def _row(line: int, names: list[str], cells: list[str]) -> ImportRow | RowError:
    if len(cells) != len(names):
        return RowError(line, "csv_wrong_field_count", f"{len(cells)} fields, {len(names)} columns")
    if any(len(cell) > MAX_FIELD for cell in cells):
        return RowError(line, "csv_field_too_long", f"a field is longer than {MAX_FIELD}")
    values = {name: cell.strip() for name, cell in zip(names, cells, strict=True)}
    try:
        return ImportRow(
            line=line,
            number=values["number"],
            carrier=values.get("carrier") or None,
            service=values.get("service", ""),
            parties=Parties(
                values.get("sender", ""),
                values.get("recipient", ""),
                values.get("origin", ""),
                values.get("destination", ""),
            ),
            mailed_on=_day(values.get("mailed_on", "")),
            reference=values.get("reference", ""),
            customs=_customs(values),
        )
    except PostroomError as error:
        return RowError(line, error.code, error.message)


def _day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{text[:20]!r} is not a date YYYY-MM-DD", code="invalid_mailed_on"
        ) from None


def _customs(values: dict[str, str]) -> Customs | None:
    contents, codes, value = (values.get(k, "") for k in ("contents", "hs_codes", "value"))
    if not (contents or codes or value):
        return None
    if not (contents and value):
        raise ValidationError("customs need contents and a value", code="invalid_customs")
    return Customs(contents, tuple(codes.replace(";", " ").split()), Money.parse(value))
