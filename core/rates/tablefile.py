"""Reading rate files (TOML price lists) and zone charts (CSV). Pure: text in, tables out.

A file is validated completely before anything is returned: a caller either gets every
table of the file or a ``MalformedRateFile`` naming the line at fault. The format is
described in docs/rates.md.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final, NoReturn

from postroom.core.errors import PostroomError
from postroom.core.money import Money
from postroom.core.rates.model import (
    SHAPES,
    Bracket,
    BracketPricing,
    ExtraService,
    Limits,
    MalformedRateFile,
    NameCatalogue,
    Pricing,
    RateTable,
    Source,
    StepPricing,
    Surcharge,
    ValueBracket,
)
from postroom.core.units import Dimensions, Weight

FORMAT: Final = "postroom-rates/1"
_CODE_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")
_ZIP3_RE: Final = re.compile(r"[0-9]{3}")
_ZONE_RE: Final = re.compile(r"[0-9A-Za-z]{1,8}")

_FILE_KEYS: Final = {
    "format",
    "carrier",
    "currency",
    "effective_from",
    "effective_until",
    "source",
    "services",
    "extras",
    "names",
}
_LANG_RE: Final = re.compile(r"[a-z]{2}")
_NAME_KINDS: Final = ("services", "extras", "surcharges")
_SERVICE_KEYS: Final = {
    "code",
    "name",
    "shape",
    "delivery",
    "max_weight",
    "max_dimensions",
    "min_dimensions",
    "steps",
    "brackets",
    "surcharges",
}
_EXTRA_KEYS: Final = {"code", "name", "price", "value_brackets", "requires", "services"}


class _Locator:
    """Finds the line of a problem: the first line at or after an anchor naming a key."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines = text.splitlines()

    def line(self, key: str | None = None, anchor: str | None = None) -> int:
        start = 0
        if anchor is not None:
            for index, line in enumerate(self.lines):
                if anchor in line:
                    start = index
                    break
        if key is None:
            return start + 1
        pattern = re.compile(rf"(^|[\s{{,\[]){re.escape(key)}\s*=")
        for index in range(start, len(self.lines)):
            if pattern.search(self.lines[index]):
                return index + 1
        return start + 1

    def fail(self, message: str, key: str | None = None, anchor: str | None = None) -> NoReturn:
        line = self.line(key, anchor)
        raise MalformedRateFile(f"{self.name}, line {line}: {message}", line=line, file=self.name)


def parse_rate_file(text: str, name: str = "<rates>") -> list[RateTable]:
    """Every table of one rate file, or ``MalformedRateFile`` (nothing half-read)."""
    return read_rate_file(text, name)[0]


def read_rate_file(text: str, name: str = "<rates>") -> tuple[list[RateTable], NameCatalogue]:
    """The tables of one rate file and the names it gives them in other languages.

    The names (``[names.fr.services]``...) are not part of any table: they are not in the
    canonical form, so adding or correcting a translation never changes a digest.
    """
    at = _Locator(name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else 1
        raise MalformedRateFile(
            f"{name}, line {line}: not valid TOML ({error})", line=line, file=name
        ) from None
    _only(at, data, _FILE_KEYS, "the file", None)
    if data.get("format") != FORMAT:
        at.fail(f'expected format = "{FORMAT}"', "format")
    carrier = _code(at, data, "carrier", None)
    currency = _guard(at, "currency", None, lambda: Money.zero(_str(at, data, "currency", None)))
    effective_from = _date(at, data, "effective_from")
    effective_until = _date(at, data, "effective_until") if "effective_until" in data else None
    if effective_until is not None and effective_until <= effective_from:
        at.fail("effective_until must be after effective_from", "effective_until")
    source_data = data.get("source")
    if not isinstance(source_data, dict):
        at.fail("a rate file must cite its source: add a [source] table with document and url")
    _only(at, source_data, {"document", "url", "note"}, "[source]", "[source]")
    source = Source(
        _str(at, source_data, "document", "[source]"),
        _str(at, source_data, "url", "[source]"),
        str(source_data.get("note", "")),
    )
    money = _money_parser(at, currency.currency)

    services = data.get("services")
    if not isinstance(services, list) or not services:
        at.fail("the file has no [[services]]")
    codes = [s.get("code") if isinstance(s, dict) else None for s in services]
    extras_by_service = _extras(at, data.get("extras", []), codes, money)

    tables: list[RateTable] = []
    seen: set[str] = set()
    for raw in services:
        if not isinstance(raw, dict):
            at.fail("each [[services]] entry must be a table", "services")
        code = _code(at, raw, "code", "[[services]]")
        anchor = f'"{code}"'
        if code in seen:
            at.fail(f"service {code!r} appears twice", "code", anchor)
        seen.add(code)
        _only(at, raw, _SERVICE_KEYS, f"service {code!r}", anchor)
        shape = _str(at, raw, "shape", anchor)
        if shape not in SHAPES:
            at.fail(f"shape must be one of {', '.join(SHAPES)}", "shape", anchor)
        max_weight = _weight(at, raw, "max_weight", anchor)
        limits = Limits(
            max_weight,
            _dimensions(at, raw, "max_dimensions", anchor),
            _dimensions(at, raw, "min_dimensions", anchor),
        )
        pricing = _pricing(at, raw, anchor, money, max_weight)
        surcharges = tuple(
            Surcharge(
                _code(at, s, "code", anchor),
                _str(at, s, "name", anchor),
                money(s.get("amount"), "amount", anchor),
                str(s.get("applies_to", "nonmachinable")),
            )
            for s in _list_of_tables(at, raw, "surcharges", anchor)
        )
        for surcharge in surcharges:
            if surcharge.applies_to != "nonmachinable":
                at.fail("surcharges apply_to 'nonmachinable' only", "applies_to", anchor)
        tables.append(
            RateTable(
                carrier=carrier,
                service=code,
                name=_str(at, raw, "name", anchor),
                currency=currency.currency,
                effective_from=effective_from,
                effective_until=effective_until,
                source=source,
                shape=shape,
                delivery=str(raw.get("delivery", "")),
                limits=limits,
                pricing=pricing,
                surcharges=surcharges,
                extras=tuple(extras_by_service.get(code, ())),
            )
        )
    return tables, _names(at, data.get("names", {}), carrier, tables)


def _names(at: _Locator, raw: Any, carrier: str, tables: list[RateTable]) -> NameCatalogue:
    """``[names.<lang>.services|extras|surcharges]``: code = "name in that language"."""
    known = {
        "services": {t.service for t in tables},
        "extras": {e.code for t in tables for e in t.extras},
        "surcharges": {s.code for t in tables for s in t.surcharges},
    }
    if not isinstance(raw, dict):
        at.fail("names must be tables such as [names.fr.services]", "names")
    entries: dict[tuple[str, str, str, str], str] = {}
    for lang, kinds in raw.items():
        anchor = f"[names.{lang}"
        if not _LANG_RE.fullmatch(lang) or not isinstance(kinds, dict):
            at.fail(f"names.{lang}: use a two-letter language code such as fr", None, anchor)
        for kind, codes in kinds.items():
            if kind not in _NAME_KINDS or not isinstance(codes, dict):
                at.fail(
                    f"names.{lang}.{kind}: expected one of {', '.join(_NAME_KINDS)}",
                    None,
                    anchor,
                )
            for code, text in codes.items():
                if code not in known[kind]:
                    at.fail(f"names.{lang}.{kind} names unknown code {code!r}", code, anchor)
                if not isinstance(text, str) or not text.strip():
                    at.fail(f"names.{lang}.{kind}.{code} must be a non-empty string", code, anchor)
                entries[(lang, carrier, kind, code)] = text.strip()
    return NameCatalogue.of(entries)


# -- pieces of the file ------------------------------------------------------------------------


def _only(
    at: _Locator, data: Mapping[str, Any], keys: set[str], what: str, anchor: str | None
) -> None:
    for key in data:
        if key not in keys:
            at.fail(f"unknown key {key!r} in {what}", key, anchor)


def _guard(at: _Locator, key: str, anchor: str | None, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except MalformedRateFile:
        raise
    except PostroomError as error:
        at.fail(f"{key}: {error.message}", key, anchor)


def _str(at: _Locator, data: Mapping[str, Any], key: str, anchor: str | None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        at.fail(f"{key} must be a non-empty string", key, anchor)
    return value.strip()


def _code(at: _Locator, data: Mapping[str, Any], key: str, anchor: str | None) -> str:
    value = _str(at, data, key, anchor)
    if not _CODE_RE.fullmatch(value):
        at.fail(f"{key} {value!r}: use lower-case letters, digits and '-'", key, anchor)
    return value


def _date(at: _Locator, data: Mapping[str, Any], key: str) -> date:
    value = data.get(key)
    if isinstance(value, datetime) or not isinstance(value, date):
        at.fail(f"{key} must be a date such as 2025-07-13 (unquoted)", key)
    return value


def _weight(at: _Locator, data: Mapping[str, Any], key: str, anchor: str | None) -> Weight:
    text = _str(at, data, key, anchor)
    weight: Weight = _guard(at, key, anchor, lambda: Weight.parse(text))
    if not weight:
        at.fail(f"{key} must be more than zero", key, anchor)
    return weight


def _dimensions(
    at: _Locator, data: Mapping[str, Any], key: str, anchor: str | None
) -> Dimensions | None:
    if key not in data:
        return None
    text = _str(at, data, key, anchor)
    dims: Dimensions = _guard(at, key, anchor, lambda: Dimensions.parse(text))
    return dims.sorted()


def _money_parser(at: _Locator, currency: str) -> Callable[[Any, str, str | None], Money]:
    def money(value: Any, key: str, anchor: str | None) -> Money:
        if not isinstance(value, str):
            at.fail(f'{key}: write prices as quoted decimals ("0.74"), got {value!r}', key, anchor)
        amount: Money = _guard(at, key, anchor, lambda: Money.of(value, currency))
        if amount.mills < 0:
            at.fail(f"{key}: a price cannot be negative", key, anchor)
        return amount

    return money


def _list_of_tables(
    at: _Locator, data: Mapping[str, Any], key: str, anchor: str | None
) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        at.fail(f"{key} must be a list of tables", key, anchor)
    return value


def _pricing(
    at: _Locator,
    raw: Mapping[str, Any],
    anchor: str,
    money: Callable[[Any, str, str | None], Money],
    max_weight: Weight,
) -> Pricing:
    if ("steps" in raw) == ("brackets" in raw):
        at.fail("give exactly one of steps or brackets", "code", anchor)
    if "steps" in raw:
        steps = raw["steps"]
        if not isinstance(steps, dict):
            at.fail("steps must be a table", "steps", anchor)
        _only(at, steps, {"step", "first", "additional"}, "steps", anchor)
        return StepPricing(
            _weight(at, steps, "step", anchor),
            money(steps.get("first"), "first", anchor),
            money(steps.get("additional"), "additional", anchor),
        )
    brackets = raw["brackets"]
    if not isinstance(brackets, dict):
        at.fail("brackets must be a table", "brackets", anchor)
    _only(at, brackets, {"zones", "rows"}, "brackets", anchor)
    zones = brackets.get("zones", [])
    if not isinstance(zones, list) or not all(
        isinstance(z, str) and _ZONE_RE.fullmatch(z) for z in zones
    ):
        at.fail('zones must be a list of short strings ("1", "2"...)', "zones", anchor)
    if len(set(zones)) != len(zones):
        at.fail("a zone appears twice", "zones", anchor)
    rows = brackets.get("rows")
    if not isinstance(rows, list) or not rows:
        at.fail("brackets need rows", "rows", anchor)
    width = 1 + max(1, len(zones))
    parsed: list[Bracket] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != width:
            at.fail(f"bracket row {number} must be [weight, {width - 1} price(s)]", "rows", anchor)
        up_to = _weight(at, {"up_to": row[0]}, "up_to", anchor)
        if parsed and up_to <= parsed[-1].up_to:
            at.fail(f"bracket row {number}: weights must increase", "rows", anchor)
        parsed.append(Bracket(up_to, tuple(money(p, "rows", anchor) for p in row[1:])))
    if parsed[-1].up_to < max_weight:
        at.fail("the last bracket must reach max_weight", "max_weight", anchor)
    return BracketPricing(tuple(parsed), tuple(zones))


def _extras(
    at: _Locator,
    raw: Any,
    service_codes: list[Any],
    money: Callable[[Any, str, str | None], Money],
) -> dict[str, list[ExtraService]]:
    if not isinstance(raw, list):
        at.fail("extras must be [[extras]] tables", "extras")
    result: dict[str, list[ExtraService]] = {}
    parsed: list[tuple[ExtraService, list[str]]] = []
    for item in raw:
        if not isinstance(item, dict):
            at.fail("each [[extras]] entry must be a table", "extras")
        code = _code(at, item, "code", "[[extras]]")
        anchor = f'"{code}"'
        _only(at, item, _EXTRA_KEYS, f"extra {code!r}", anchor)
        if ("price" in item) == ("value_brackets" in item):
            at.fail("give exactly one of price or value_brackets", "code", anchor)
        price = money(item["price"], "price", anchor) if "price" in item else None
        brackets: list[ValueBracket] = []
        for row in item.get("value_brackets", []):
            if not isinstance(row, list) or len(row) != 2:
                at.fail("value_brackets rows are [up_to, price]", "value_brackets", anchor)
            bracket = ValueBracket(
                money(row[0], "value_brackets", anchor), money(row[1], "value_brackets", anchor)
            )
            if brackets and bracket.up_to <= brackets[-1].up_to:
                at.fail("value brackets must increase", "value_brackets", anchor)
            brackets.append(bracket)
        if "value_brackets" in item and not brackets:
            at.fail("value_brackets is empty", "value_brackets", anchor)
        requires = item.get("requires", [])
        services = item.get("services", [c for c in service_codes if isinstance(c, str)])
        for key, value in (("requires", requires), ("services", services)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                at.fail(f"{key} must be a list of codes", key, anchor)
        for service in services:
            if service not in service_codes:
                at.fail(f"extra {code!r} names unknown service {service!r}", "services", anchor)
        parsed.append(
            (
                ExtraService(
                    code, _str(at, item, "name", anchor), price, tuple(brackets), tuple(requires)
                ),
                services,
            )
        )
    known = {extra.code for extra, _ in parsed}
    if len(known) != len(parsed):
        at.fail("an extra code appears twice", "extras")
    for extra, services in parsed:
        for needed in extra.requires:
            if needed not in known:
                at.fail(
                    f"extra {extra.code!r} requires unknown extra {needed!r}",
                    "requires",
                    f'"{extra.code}"',
                )
        for service in services:
            result.setdefault(service, []).append(extra)
    return result


# -- zone charts -------------------------------------------------------------------------------


def parse_zone_chart(text: str, name: str = "<zones>") -> dict[tuple[str, str], str]:
    """A CSV zone chart: header ``origin,destination,zone`` then one ZIP3 pair per line.

    Every line is checked before anything is returned; an error names its line.
    """

    def fail(line: int, message: str) -> NoReturn:
        raise MalformedRateFile(f"{name}, line {line}: {message}", line=line, file=name)

    reader = csv.reader(io.StringIO(text))
    chart: dict[tuple[str, str], str] = {}
    header_seen = False
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not cells or all(not c for c in cells) or cells[0].startswith("#"):
            continue
        if not header_seen:
            if [c.lower() for c in cells] != ["origin", "destination", "zone"]:
                fail(line, "the header must be: origin,destination,zone")
            header_seen = True
            continue
        if len(cells) != 3:
            fail(line, "expected 3 columns: origin,destination,zone")
        origin, destination, zone = cells
        for label, value in (("origin", origin), ("destination", destination)):
            if not _ZIP3_RE.fullmatch(value):
                fail(line, f"{label} must be the first 3 digits of a ZIP code, got {value!r}")
        if not _ZONE_RE.fullmatch(zone):
            fail(line, f"invalid zone {zone!r}")
        if chart.get((origin, destination), zone) != zone:
            fail(line, f"{origin} -> {destination} is given two different zones")
        chart[(origin, destination)] = zone
    if not header_seen:
        fail(1, "empty zone chart")
    if not chart:
        fail(reader.line_num or 1, "the zone chart has no rows")
    return chart
