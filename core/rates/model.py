"""Rates: postal price tables and the rules that price one piece. Pure: no I/O.

A ``RateTable`` is one service of one carrier (``usps`` / ``first-class-letter``) as
published from one date on: its currency, the document the prices come from, the weight
pricing (a first step plus each additional step, or a price per weight bracket, possibly
per zone), the limits a piece must respect, surcharges and the extra services that can be
added. A published table never changes: a new price list is a new table with a later
``effective_from``. Every table has a digest (sha256 of its canonical JSON) by which meters
receive and check rate updates.

``quote`` prices one piece on one table and returns an itemized ``Quote`` whose lines each
name the rule that produced them. The hot path (batch rating of a mail run) works on the
``CompiledTable`` of a table: plain integers (nanograms and mills), no Fraction, no Money.
"""

from __future__ import annotations

import functools
import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import attrs

from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.units import Dimensions, LengthUnit, Weight, WeightUnit, fraction_to_decimal

#: The shapes a table can price (USPS DMM 101: letters, flats, parcels; postcards apart).
SHAPES: Final = ("letter", "postcard", "flat", "parcel")
#: The kinds of quote line.
LINE_KINDS: Final = ("base", "surcharge", "extra")
#: Weights are compared in integer nanograms on the hot path: 1 oz = 28 349 523 125 ng exactly.
NG_PER_GRAM: Final = 10**9


# -- errors (stable codes) ---------------------------------------------------------------------


class UnknownCarrier(NotFound):
    code = "unknown_carrier"


class UnknownService(NotFound):
    code = "unknown_service"


class NoRateTable(NotFound):
    """No table of this carrier and service is in force on the date asked."""

    code = "no_rate_table"


class OverLimit(ValidationError):
    """The piece exceeds a limit of the service (weight, size, declared value)."""

    code = "over_limit"


class UnknownExtra(ValidationError):
    code = "unknown_extra"


class ExtraNotAllowed(ValidationError):
    """An extra service needs another one (Return Receipt needs Certified Mail...)."""

    code = "extra_requires"


class ZoneRequired(ValidationError):
    code = "zone_required"


class UnknownZone(ValidationError):
    code = "unknown_zone"


class ZoneNotFound(NotFound):
    """The zone chart has no zone for this origin and destination."""

    code = "zone_not_found"


class MalformedRateFile(ValidationError):
    code = "malformed_rate_file"


class RateTableConflict(Conflict):
    """Another table is already published for this carrier, service and date."""

    code = "rate_table_conflict"


# -- value types -------------------------------------------------------------------------------


def weight_ng(weight: Weight) -> int:
    """The weight in whole nanograms, rounded up (exact for g, kg, oz and lb inputs).

    Rounding up never changes a result: limits and steps are whole nanograms, and
    ceil(ceil(x) / n) == ceil(x / n) for a whole n.
    """
    grams = weight.grams  # integers only: no intermediate Fraction to normalise
    return -((-grams.numerator * NG_PER_GRAM) // grams.denominator)


@functools.lru_cache(maxsize=4096)
def _weight_text(grams: Fraction, unit: WeightUnit) -> str:
    return str(Weight(grams, unit))


def weight_text(weight: Weight) -> str:
    """``str(weight)`` ("1.2 oz"), remembered for the weights a mailroom weighs again and
    again: formatting an exact weight as decimal text is the slowest part of a quote line."""
    return _weight_text(weight.grams, weight.unit)


def _fraction_text(value: Fraction) -> str:
    return str(value)


@attrs.frozen
class Source:
    """Where the prices of a table come from."""

    document: str
    url: str
    note: str = ""


@attrs.frozen
class Limits:
    """What a piece must respect; ``None`` means no such limit.

    Dimensions are length x height x thickness (longest side first), in millimetres.
    """

    max_weight: Weight
    max_dimensions: Dimensions | None = None
    min_dimensions: Dimensions | None = None


@attrs.frozen
class StepPricing:
    """A first weight step at ``first``, then ``additional`` for each further step."""

    step: Weight
    first: Money
    additional: Money

    def describe(self) -> str:
        return (
            f"{self.first} for the first {self.step}, {self.additional} each additional {self.step}"
        )


@attrs.frozen
class Bracket:
    """Up to ``up_to`` (inclusive) the piece costs ``prices[i]`` in zone ``zones[i]``."""

    up_to: Weight
    prices: tuple[Money, ...]


@attrs.frozen
class BracketPricing:
    """A price per weight bracket; with ``zones``, one price per zone in each bracket."""

    brackets: tuple[Bracket, ...]
    zones: tuple[str, ...] = ()

    def describe(self) -> str:
        zoned = f" by zone ({', '.join(self.zones)})" if self.zones else ""
        return f"price per weight bracket{zoned}"


Pricing = StepPricing | BracketPricing


@attrs.frozen
class Surcharge:
    """An amount added when ``applies_to`` holds for the piece (``nonmachinable``)."""

    code: str
    name: str
    amount: Money
    applies_to: str = "nonmachinable"


@attrs.frozen
class ValueBracket:
    """Insurance-style price: up to ``up_to`` declared value costs ``price``."""

    up_to: Money
    price: Money


@attrs.frozen
class ExtraService:
    """An extra service: a fixed ``price``, or a price by declared value bracket.

    ``requires``: the piece must also carry one of these extras (empty: no condition).
    """

    code: str
    name: str
    price: Money | None = None
    value_brackets: tuple[ValueBracket, ...] = ()
    requires: tuple[str, ...] = ()


@attrs.frozen
class Piece:
    """A mail piece as the scale and the operator describe it."""

    weight: Weight
    dimensions: Dimensions | None = None
    machinable: bool = True
    declared_value: Money | None = None


@attrs.frozen
class RateTable:
    carrier: str
    service: str
    name: str
    currency: str
    effective_from: date
    source: Source
    shape: str
    limits: Limits
    pricing: Pricing
    surcharges: tuple[Surcharge, ...] = ()
    extras: tuple[ExtraService, ...] = ()
    effective_until: date | None = None
    delivery: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.carrier, self.service)

    @property
    def label(self) -> str:
        return f"{self.carrier}/{self.service}@{self.effective_from.isoformat()}"

    def canonical(self) -> dict[str, Any]:
        """The content as plain JSON values with exact numbers: what the digest covers."""
        return _canonical(self)

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON, hex: equal content gives an equal digest."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> RateTable:
        return _from_canonical(data)

    def find_extra(self, code: str) -> ExtraService:
        for extra in self.extras:
            if extra.code == code:
                return extra
        known = ", ".join(e.code for e in self.extras) or "none"
        raise UnknownExtra(
            f"{self.carrier} {self.service} offers no extra service {code!r} (offered: {known})",
            extra=code,
        )


# -- names in other languages -------------------------------------------------------------------


@attrs.frozen
class NameCatalogue:
    """Names of services, extra services and surcharges in other languages, by carrier.

    Kept apart from the tables on purpose: a translation is not a price, so it is not in
    any table's canonical form or digest, and correcting one publishes nothing.
    """

    entries: Mapping[tuple[str, str, str, str], str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, entries: Mapping[tuple[str, str, str, str], str]) -> NameCatalogue:
        return cls(dict(entries))

    def __add__(self, other: NameCatalogue) -> NameCatalogue:
        return NameCatalogue({**self.entries, **other.entries})

    def name(self, lang: str, carrier: str, kind: str, code: str, default: str) -> str:
        """The name of ``code`` (kind ``services``, ``extras`` or ``surcharges``) in
        ``lang``; ``default`` (the table's own name) when there is none."""
        return self.entries.get((lang, carrier, kind, code), default)

    def languages(self) -> list[str]:
        return sorted({lang for lang, *_ in self.entries})


# -- quotes ------------------------------------------------------------------------------------


@attrs.frozen
class QuoteLine:
    """One priced item; ``rule`` names the rule of the table that produced it."""

    kind: str
    code: str
    description: str
    rule: str
    amount: Money


@attrs.frozen
class TableRef:
    carrier: str
    service: str
    name: str
    effective_from: date
    digest: str
    source: Source
    delivery: str = ""

    @classmethod
    def of(cls, table: RateTable, digest: str | None = None) -> TableRef:
        return cls(
            table.carrier,
            table.service,
            table.name,
            table.effective_from,
            digest or table.digest,
            table.source,
            table.delivery,
        )


@attrs.frozen
class Quote:
    total: Money
    lines: tuple[QuoteLine, ...]
    table: TableRef
    charged_weight: Weight
    zone: str | None = None


# -- the compiled hot path ---------------------------------------------------------------------


class CompiledTable:
    """A table as plain integers for fast rating: nanograms, mills, list indexes."""

    __slots__ = (
        "_digest",
        "additional",
        "bracket_prices",
        "bracket_up_to",
        "charged",
        "currency",
        "first",
        "max_ng",
        "rule",
        "step_ng",
        "step_text",
        "table",
        "zone_index",
    )

    def __init__(self, table: RateTable, digest: str | None = None) -> None:
        self.table = table
        self._digest = digest
        self.currency = table.currency
        self.max_ng = weight_ng(table.limits.max_weight)
        pricing = table.pricing
        self.step_ng = 0
        self.first = self.additional = 0
        self.bracket_up_to: list[int] = []
        self.bracket_prices: list[list[int]] = []
        self.zone_index: dict[str, int] = {}
        # texts for quote lines, made once: formatting exact weights is not free
        self.rule = pricing.describe()
        self.step_text: tuple[Decimal, str] = (Decimal(0), "")
        #: steps -> (charged weight, the price detail text), filled as pieces are rated
        self.charged: dict[int, tuple[Weight, str]] = {}
        if isinstance(pricing, StepPricing):
            self.step_ng = weight_ng(pricing.step)
            self.first = pricing.first.mills
            self.additional = pricing.additional.mills
            shown = pricing.step.json()
            self.step_text = (Decimal(shown["value"]), shown["unit"])
        else:
            self.bracket_up_to = [weight_ng(b.up_to) for b in pricing.brackets]
            # one list per zone (or a single list), so a batch in one zone indexes one list
            columns = max(1, len(pricing.zones))
            self.bracket_prices = [
                [b.prices[column].mills for b in pricing.brackets] for column in range(columns)
            ]
            self.zone_index = {zone: i for i, zone in enumerate(pricing.zones)}

    @property
    def digest(self) -> str:
        """The table's digest, computed once (hashing the canonical JSON is not free)."""
        if self._digest is None:
            self._digest = self.table.digest
        return self._digest

    @property
    def zoned(self) -> bool:
        return bool(self.zone_index)

    def column(self, zone: str | None) -> int:
        if not self.zone_index:
            return 0
        if zone is None:
            raise ZoneRequired(
                f"{self.table.carrier} {self.table.service} is priced by zone: give the zone or "
                "the origin and destination ZIP codes",
                zones=list(self.zone_index),
            )
        try:
            return self.zone_index[zone]
        except KeyError:
            raise UnknownZone(
                f"{self.table.carrier} {self.table.service} has no zone {zone!r} "
                f"(zones: {', '.join(self.zone_index)})",
                zone=zone,
            ) from None

    def over_weight(self, grams_ng: int) -> OverLimit:
        limit = self.table.limits.max_weight
        return OverLimit(
            f"{self.table.carrier} {self.table.service} accepts at most {limit}",
            limit=str(limit),
        )

    def price_ng(self, grams_ng: int, column: int = 0) -> int:
        """The base price in mills of a piece of ``grams_ng`` nanograms (> 0)."""
        if grams_ng > self.max_ng:
            raise self.over_weight(grams_ng)
        if self.step_ng:
            return self.first + self.additional * ((grams_ng - 1) // self.step_ng)
        index = bisect_left(self.bracket_up_to, grams_ng)
        if index == len(self.bracket_up_to):
            raise self.over_weight(grams_ng)
        return self.bracket_prices[column][index]

    def rate_many(self, weights_ng: Iterable[int], column: int = 0) -> list[int]:
        """Base prices in mills of many pieces (the mail-run hot path); refuses any piece
        that is zero or over the limit, naming its position, before returning anything."""
        max_ng = self.max_ng
        out: list[int] = []
        append = out.append
        if self.step_ng:
            first, additional, step = self.first, self.additional, self.step_ng
            for position, grams in enumerate(weights_ng):
                if not 0 < grams <= max_ng:
                    raise _batch_error(self, position, grams)
                append(first + additional * ((grams - 1) // step))
            return out
        up_to, prices = self.bracket_up_to, self.bracket_prices[column]
        last = len(up_to)
        for position, grams in enumerate(weights_ng):
            if not 0 < grams <= max_ng:
                raise _batch_error(self, position, grams)
            index = bisect_left(up_to, grams)
            if index == last:
                raise _batch_error(self, position, grams)
            append(prices[index])
        return out


def _batch_error(compiled: CompiledTable, position: int, grams_ng: int) -> ValidationError:
    if grams_ng <= 0:
        return ValidationError(
            f"piece {position + 1}: weight must be more than zero",
            code="invalid_weight",
            piece=position + 1,
        )
    error = compiled.over_weight(grams_ng)
    return OverLimit(f"piece {position + 1}: {error.message}", piece=position + 1, **error.details)


# -- the rules ---------------------------------------------------------------------------------


def _check_dimensions(table: RateTable, dimensions: Dimensions) -> None:
    given = sorted(dimensions.millimetres, reverse=True)
    names = ("length", "height", "thickness")
    limits = table.limits
    if limits.max_dimensions is not None:
        maximum = limits.max_dimensions.millimetres
        for name, value, limit in zip(names, given, maximum, strict=True):
            if value > limit:
                shown = _length_text(limit, limits.max_dimensions.unit)
                raise OverLimit(
                    f"{table.carrier} {table.service}: {name} over the maximum of {shown}",
                    limit=shown,
                    dimension=name,
                    bound="max",
                )
    if limits.min_dimensions is not None:
        minimum = limits.min_dimensions.millimetres
        for name, value, limit in zip(names, given, minimum, strict=True):
            if value < limit:
                shown = _length_text(limit, limits.min_dimensions.unit)
                raise OverLimit(
                    f"{table.carrier} {table.service}: {name} under the minimum of {shown}",
                    limit=shown,
                    dimension=name,
                    bound="min",
                )


def _length_text(mm: Fraction, unit: LengthUnit) -> str:
    value = fraction_to_decimal(mm / Dimensions.of(1, 1, 1, unit).length, 4).normalize()
    return f"{value:f} {unit.value}"


def _steps_text(count: int, step: Weight) -> Weight:
    return Weight(step.grams * count, step.unit)


def quote(
    table: RateTable,
    piece: Piece,
    extras: Sequence[str] = (),
    zone: str | None = None,
    *,
    compiled: CompiledTable | None = None,
    digest: str | None = None,
) -> Quote:
    """Price ``piece`` on ``table`` with ``extras``; refuse it if it breaks a limit."""
    compiled = compiled or CompiledTable(table)
    piece.weight.require_positive()
    grams = weight_ng(piece.weight)
    if piece.dimensions is not None:
        _check_dimensions(table, piece.dimensions)
    elif table.shape == "postcard":
        # a card must be measured to be a postcard (else it is a letter)
        raise ValidationError(
            "a postcard price needs the card's dimensions", code="dimensions_required"
        )
    if not piece.machinable and not any(s.applies_to == "nonmachinable" for s in table.surcharges):
        # said, not ignored: the option would change nothing on this table
        raise ValidationError(
            f"the {table.carrier} {table.service} table has no nonmachinable surcharge: "
            "price the piece without that option",
            code="nonmachinable_not_priced",
        )
    column = compiled.column(zone)
    base = compiled.price_ng(grams, column)
    currency = table.currency
    pricing = table.pricing
    if isinstance(pricing, StepPricing):
        steps = (grams + compiled.step_ng - 1) // compiled.step_ng
        known = compiled.charged.get(steps)
        if known is None:
            value, unit = compiled.step_text
            known = compiled.charged[steps] = (
                _steps_text(steps, pricing.step),
                f" charged as {steps * value} {unit}: {pricing.first}"
                + (f" + {steps - 1} x {pricing.additional}" if steps > 1 else ""),
            )
        charged, charged_text = known
        detail = weight_text(piece.weight) + charged_text
        rule = f"base.steps ({compiled.rule})"
    else:
        index = bisect_left(compiled.bracket_up_to, grams)
        bracket = pricing.brackets[index]
        charged = bracket.up_to
        where = f", zone {zone}" if compiled.zoned else ""
        detail = f"{weight_text(piece.weight)} in the bracket up to {bracket.up_to}{where}"
        rule = f"base.bracket (up to {bracket.up_to}{where})"
    lines = [
        QuoteLine("base", table.service, f"{table.name}: {detail}", rule, Money(base, currency))
    ]
    for surcharge in table.surcharges:
        if surcharge.applies_to == "nonmachinable" and not piece.machinable:
            lines.append(
                QuoteLine(
                    "surcharge",
                    surcharge.code,
                    surcharge.name,
                    f"surcharge.{surcharge.code} (nonmachinable piece)",
                    surcharge.amount,
                )
            )
    lines.extend(_extra_lines(table, piece, extras))
    total = sum((line.amount.mills for line in lines), 0)
    return Quote(
        Money(total, currency),
        tuple(lines),
        TableRef.of(table, digest or compiled.digest),
        charged,
        zone if compiled.zoned else None,
    )


def _extra_lines(table: RateTable, piece: Piece, extras: Sequence[str]) -> list[QuoteLine]:
    chosen: list[str] = []
    for code in extras:
        if code not in chosen:
            chosen.append(code)
    offered = [table.find_extra(code) for code in chosen]
    lines: list[QuoteLine] = []
    for extra in offered:
        if extra.requires and not any(code in chosen for code in extra.requires):
            raise ExtraNotAllowed(
                f"{extra.name} needs one of: {', '.join(extra.requires)}",
                extra=extra.code,
                requires=list(extra.requires),
            )
        if extra.price is not None:
            lines.append(
                QuoteLine("extra", extra.code, extra.name, f"extra.{extra.code}", extra.price)
            )
            continue
        value = piece.declared_value
        if value is None:
            raise ValidationError(
                f"{extra.name} is priced by declared value: give the declared value",
                code="declared_value_required",
                extra=extra.code,
            )
        if value.currency != table.currency:
            raise ValidationError(
                f"declared value must be in {table.currency}", code="currency_mismatch"
            )
        if value.mills <= 0:
            raise ValidationError(
                "declared value must be more than zero", code="invalid_declared_value"
            )
        for bracket in extra.value_brackets:
            if value.mills <= bracket.up_to.mills:
                lines.append(
                    QuoteLine(
                        "extra",
                        extra.code,
                        f"{extra.name} (declared value {value})",
                        f"extra.{extra.code} (value up to {bracket.up_to})",
                        bracket.price,
                    )
                )
                break
        else:
            limit = extra.value_brackets[-1].up_to
            raise OverLimit(
                f"{extra.name} covers a declared value of at most {limit}", limit=str(limit)
            )
    return lines


@attrs.frozen
class BatchQuote:
    """A mail run priced on one table: each piece's price in mills, and the total."""

    table: TableRef
    mills: list[int]
    total: Money
    extras_per_piece: Money
    zone: str | None = None

    @property
    def count(self) -> int:
        return len(self.mills)

    def prices(self) -> list[Money]:
        return [Money(m, self.total.currency) for m in self.mills]


def quote_batch(
    table: RateTable,
    weights: Iterable[Weight],
    extras: Sequence[str] = (),
    zone: str | None = None,
    *,
    compiled: CompiledTable | None = None,
    digest: str | None = None,
) -> BatchQuote:
    """Price a mail run: every piece on ``table`` with the same fixed-price ``extras``.

    The whole run is refused (naming the piece) if one piece is zero or over a limit.
    """
    compiled = compiled or CompiledTable(table)
    column = compiled.column(zone)
    probe = Piece(table.limits.max_weight)
    extra_mills = sum(line.amount.mills for line in _extra_lines(table, probe, extras))
    base = compiled.rate_many((weight_ng(w) for w in weights), column)
    if extra_mills:
        base = [m + extra_mills for m in base]
    return BatchQuote(
        TableRef.of(table, digest or compiled.digest),
        base,
        Money(sum(base), table.currency),
        Money(extra_mills, table.currency),
        zone if compiled.zoned else None,
    )


# -- versions ----------------------------------------------------------------------------------


@attrs.frozen
class RateBook:
    """Tables by carrier and service, each list sorted by ``effective_from``."""

    tables: Mapping[tuple[str, str], tuple[RateTable, ...]]

    @classmethod
    def of(cls, tables: Iterable[RateTable]) -> RateBook:
        grouped: dict[tuple[str, str], list[RateTable]] = {}
        for table in tables:
            versions = grouped.setdefault(table.key, [])
            for other in versions:
                if other.effective_from == table.effective_from and other != table:
                    raise RateTableConflict(
                        f"two different tables for {table.label}", label=table.label
                    )
            if table not in versions:
                versions.append(table)
        return cls(
            {key: tuple(sorted(v, key=lambda t: t.effective_from)) for key, v in grouped.items()}
        )

    def carriers(self) -> list[str]:
        return sorted({carrier for carrier, _ in self.tables})

    def in_force(self, carrier: str, service: str, day: date) -> RateTable:
        versions = self.tables.get((carrier, service))
        if not versions:
            raise unknown(carrier, service, self.carriers(), self.services(carrier))
        return table_in_force(versions, day)

    def services(self, carrier: str) -> list[str]:
        return sorted(service for c, service in self.tables if c == carrier)


def unknown(
    carrier: str, service: str, carriers: Sequence[str], services: Sequence[str]
) -> NotFound:
    if carrier not in carriers:
        return UnknownCarrier(
            f"unknown carrier {carrier!r} (known: {', '.join(carriers) or 'none'})",
            carrier=carrier,
        )
    return UnknownService(
        f"{carrier} has no service {service!r} (services: {', '.join(services) or 'none'})",
        carrier=carrier,
        service=service,
    )


def table_in_force(versions: Sequence[RateTable], day: date) -> RateTable:
    """The version in force on ``day`` (versions sorted by ``effective_from``)."""
    chosen: RateTable | None = None
    for table in versions:
        if table.effective_from <= day:
            chosen = table
    first = versions[0]
    if chosen is None or (chosen.effective_until is not None and day >= chosen.effective_until):
        raise NoRateTable(
            f"no {first.carrier} {first.service} rate table in force on {day.isoformat()} "
            f"(tables from {first.effective_from.isoformat()})",
            carrier=first.carrier,
            service=first.service,
            date=day.isoformat(),
        )
    return chosen


# -- canonical form ----------------------------------------------------------------------------


def _weight_c(weight: Weight) -> dict[str, str]:
    return {"grams": _fraction_text(weight.grams), "unit": weight.unit.value}


def _dims_c(dims: Dimensions | None) -> dict[str, Any] | None:
    if dims is None:
        return None
    return {"mm": [_fraction_text(v) for v in dims.millimetres], "unit": dims.unit.value}


def _money_c(money: Money) -> str:
    return str(money.amount)


def _canonical(table: RateTable) -> dict[str, Any]:
    pricing: dict[str, Any]
    if isinstance(table.pricing, StepPricing):
        pricing = {
            "kind": "steps",
            "step": _weight_c(table.pricing.step),
            "first": _money_c(table.pricing.first),
            "additional": _money_c(table.pricing.additional),
        }
    else:
        pricing = {
            "kind": "brackets",
            "zones": list(table.pricing.zones),
            "brackets": [
                {"up_to": _weight_c(b.up_to), "prices": [_money_c(p) for p in b.prices]}
                for b in table.pricing.brackets
            ],
        }
    return {
        "format": 1,
        "carrier": table.carrier,
        "service": table.service,
        "name": table.name,
        "currency": table.currency,
        "effective_from": table.effective_from.isoformat(),
        "effective_until": table.effective_until.isoformat() if table.effective_until else None,
        "source": {
            "document": table.source.document,
            "url": table.source.url,
            "note": table.source.note,
        },
        "shape": table.shape,
        "delivery": table.delivery,
        "limits": {
            "max_weight": _weight_c(table.limits.max_weight),
            "max_dimensions": _dims_c(table.limits.max_dimensions),
            "min_dimensions": _dims_c(table.limits.min_dimensions),
        },
        "pricing": pricing,
        "surcharges": [
            {
                "code": s.code,
                "name": s.name,
                "amount": _money_c(s.amount),
                "applies_to": s.applies_to,
            }
            for s in table.surcharges
        ],
        "extras": [
            {
                "code": e.code,
                "name": e.name,
                "price": None if e.price is None else _money_c(e.price),
                "value_brackets": [
                    {"up_to": _money_c(b.up_to), "price": _money_c(b.price)}
                    for b in e.value_brackets
                ],
                "requires": list(e.requires),
            }
            for e in table.extras
        ],
    }


def _weight_from(data: Mapping[str, str]) -> Weight:
    return Weight(Fraction(data["grams"]), WeightUnit(data["unit"]))


def _dims_from(data: Mapping[str, Any] | None) -> Dimensions | None:
    if data is None:
        return None
    length, height, thickness = (Fraction(v) for v in data["mm"])
    return Dimensions(length, height, thickness, LengthUnit(data["unit"]))


def _from_canonical(data: Mapping[str, Any]) -> RateTable:
    currency = data["currency"]

    def money(text: str) -> Money:
        return Money.of(text, currency)

    raw = data["pricing"]
    pricing: Pricing
    if raw["kind"] == "steps":
        pricing = StepPricing(
            _weight_from(raw["step"]), money(raw["first"]), money(raw["additional"])
        )
    else:
        pricing = BracketPricing(
            tuple(
                Bracket(_weight_from(b["up_to"]), tuple(money(p) for p in b["prices"]))
                for b in raw["brackets"]
            ),
            tuple(raw["zones"]),
        )
    limits = data["limits"]
    until = data["effective_until"]
    return RateTable(
        carrier=data["carrier"],
        service=data["service"],
        name=data["name"],
        currency=currency,
        effective_from=date.fromisoformat(data["effective_from"]),
        effective_until=date.fromisoformat(until) if until else None,
        source=Source(**data["source"]),
        shape=data["shape"],
        delivery=data["delivery"],
        limits=Limits(
            _weight_from(limits["max_weight"]),
            _dims_from(limits["max_dimensions"]),
            _dims_from(limits["min_dimensions"]),
        ),
        pricing=pricing,
        surcharges=tuple(
            Surcharge(s["code"], s["name"], money(s["amount"]), s["applies_to"])
            for s in data["surcharges"]
        ),
        extras=tuple(
            ExtraService(
                e["code"],
                e["name"],
                None if e["price"] is None else money(e["price"]),
                tuple(
                    ValueBracket(money(b["up_to"]), money(b["price"])) for b in e["value_brackets"]
                ),
                tuple(e["requires"]),
            )
            for e in data["extras"]
        ),
    )
