"""Exact weights and dimensions.

Quantities are kept as ``fractions.Fraction`` of grams / millimetres, so converting between
units never rounds: 1 oz is exactly 28.349523125 g and 1 lb exactly 453.59237 g (the
international avoirdupois definitions), 1 in exactly 25.4 mm. Floats are refused.
"""

from __future__ import annotations

import enum
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, TypeAlias

import attrs

from postroom.core.errors import ValidationError

Number: TypeAlias = Decimal | int | str | Fraction


class WeightUnit(enum.Enum):
    OZ = "oz"
    LB = "lb"
    G = "g"
    KG = "kg"


class LengthUnit(enum.Enum):
    IN = "in"
    CM = "cm"
    MM = "mm"


GRAMS_PER: Final[dict[WeightUnit, Fraction]] = {
    WeightUnit.OZ: Fraction("28.349523125"),
    WeightUnit.LB: Fraction("453.59237"),
    WeightUnit.G: Fraction(1),
    WeightUnit.KG: Fraction(1000),
}

MM_PER: Final[dict[LengthUnit, Fraction]] = {
    LengthUnit.IN: Fraction("25.4"),
    LengthUnit.CM: Fraction(10),
    LengthUnit.MM: Fraction(1),
}

_WEIGHT_ALIASES: Final[dict[str, WeightUnit]] = {
    **dict.fromkeys(["oz", "ozs", "ounce", "ounces"], WeightUnit.OZ),
    **dict.fromkeys(["lb", "lbs", "pound", "pounds"], WeightUnit.LB),
    **dict.fromkeys(["g", "gram", "grams", "gramme", "grammes"], WeightUnit.G),
    **dict.fromkeys(
        ["kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes"],
        WeightUnit.KG,
    ),
}

_LENGTH_ALIASES: Final[dict[str, LengthUnit]] = {
    **dict.fromkeys(["in", "inch", "inches", '"'], LengthUnit.IN),
    **dict.fromkeys(
        ["cm", "centimetre", "centimetres", "centimeter", "centimeters"], LengthUnit.CM
    ),
    **dict.fromkeys(
        ["mm", "millimetre", "millimetres", "millimeter", "millimeters"], LengthUnit.MM
    ),
}

#: Digits a quantity may have: far beyond any parcel, far below Python's int/str limit.
MAX_DIGITS: Final = 30
_MAX_TERM: Final = 10 ** (2 * MAX_DIGITS)
#: Longer weight or dimension texts are refused before any parsing.
MAX_TEXT_LENGTH: Final = 100

# The common case, read without the general parser: "1.2oz", "35 g", "2 LB" (one number,
# one unit). Anything else (compound weights, errors, bare numbers) takes the general path.
_SIMPLE_WEIGHT_RE: Final = re.compile(r"\s*([0-9]{1,12})(?:\.([0-9]{1,12}))?\s*([a-zA-Z]+)\s*")
_DECIMAL_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
# One "<number> <unit>" piece of a weight; the number part is loose so errors can be precise.
_WEIGHT_PART_RE: Final = re.compile(r"\s*(?P<number>[^\sa-z]+)\s*(?P<unit>[a-z]+)?\s*")
_EXPONENT_RE: Final = re.compile(r"[0-9.]\s*e\s*[-+]?[0-9]")
_BY = r"\s*[x\u00d7*]\s*"  # x or the multiplication sign or *
_DIMENSIONS_RE: Final = re.compile(
    rf"\s*(?P<l>\S+?){_BY}(?P<w>\S+?){_BY}(?P<h>[^\sa-z\"]+)\s*(?P<unit>[a-z]+|\")?\s*"
)


# -- helpers ------------------------------------------------------------------------------------


def _weight_unit(unit: WeightUnit | str) -> WeightUnit:
    if isinstance(unit, WeightUnit):
        return unit
    if isinstance(unit, str) and unit.strip().lower() in _WEIGHT_ALIASES:
        return _WEIGHT_ALIASES[unit.strip().lower()]
    raise ValidationError(f"unknown weight unit {unit!r}", code="unknown_unit", unit=repr(unit))


def _length_unit(unit: LengthUnit | str) -> LengthUnit:
    if isinstance(unit, LengthUnit):
        return unit
    if isinstance(unit, str) and unit.strip().lower() in _LENGTH_ALIASES:
        return _LENGTH_ALIASES[unit.strip().lower()]
    raise ValidationError(f"unknown length unit {unit!r}", code="unknown_unit", unit=repr(unit))


def _too_many_digits(value: object, code: str) -> ValidationError:
    shown = str(value) if isinstance(value, str | Decimal) else type(value).__name__
    if len(shown) > MAX_TEXT_LENGTH:
        shown = shown[:MAX_TEXT_LENGTH] + "..."
    return ValidationError(
        f"a quantity has more than {MAX_DIGITS} digits: {shown}", code=code, text=shown
    )


def _exact(value: object, code: str) -> Fraction:
    """An exact, finite, non-negative Fraction from Decimal, int, Fraction or plain decimal text,
    of at most MAX_DIGITS digits (thousands would hit Python's int/str conversion limit)."""
    if isinstance(value, float):
        raise ValidationError("quantities are never floats", code="float_not_allowed")
    if isinstance(value, bool):
        raise ValidationError(f"not a number: {value!r}", code=code)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DIGITS + 1:  # the digits and one '.'
            raise _too_many_digits(value, code)
        if text.startswith("-"):
            raise ValidationError(f"negative quantity {value!r}", code=code, text=value)
        if not _DECIMAL_RE.fullmatch(text):
            raise ValidationError(f"not a number: {value!r}", code=code, text=value)
        result = Fraction(text)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"not a finite number: {value}", code=code)
        digits, exponent = value.as_tuple()[1:]
        if len(digits) > MAX_DIGITS or not -MAX_DIGITS <= int(exponent) <= MAX_DIGITS:
            raise _too_many_digits(value, code)
        result = Fraction(value)
    elif isinstance(value, (int, Fraction)):
        result = Fraction(value)
        if max(abs(result.numerator), result.denominator) >= _MAX_TERM:
            raise _too_many_digits(value, code)
    else:
        raise ValidationError(f"not a number: {value!r}", code=code)
    if result < 0:
        raise ValidationError(f"negative quantity {value}", code=code)
    return result


def _terminating_digits(value: Fraction) -> int | None:
    """How many decimal places write ``value`` exactly, or None if it never terminates."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    return max(twos, fives) if denominator == 1 else None


def _scaled(integer: int, places: int) -> Decimal:
    """``integer * 10**-places`` as an exact Decimal (no context rounding)."""
    digits = tuple(int(d) for d in str(abs(integer)))
    return Decimal((1 if integer < 0 else 0, digits, -places))


def fraction_to_decimal(value: Fraction, places: int | None = None) -> Decimal:
    """Exact Decimal of ``value`` when ``places`` is None (ValueError if it does not terminate,
    such as 1/3); otherwise rounded half-up (away from zero) to ``places`` decimals."""
    if places is None:
        digits = _terminating_digits(value)
        if digits is None:
            raise ValueError(f"{value} has no exact decimal form; pass places=")
        return _scaled(value.numerator * 10**digits // value.denominator, digits)
    if places < 0:
        raise ValueError("places must be >= 0")
    scaled = abs(value) * 10**places
    rounded = math.floor(scaled + Fraction(1, 2))
    return _scaled(-rounded if value < 0 else rounded, places)


# -- weight -------------------------------------------------------------------------------------


def _validate_grams(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, Fraction):
        raise ValidationError("a weight is a Fraction of grams", code="invalid_weight")
    if value < 0:
        raise ValidationError("a weight cannot be negative", code="invalid_weight")


@attrs.frozen(order=True)
class Weight:
    """A non-negative weight: exact ``grams`` plus the ``unit`` it was entered in (display only).

    Equality, ordering and hashing use ``grams`` alone, so ``Weight.parse("1 oz") ==
    Weight.of("28.349523125", "g")``.
    """

    grams: Fraction = attrs.field(validator=_validate_grams)
    unit: WeightUnit = attrs.field(
        default=WeightUnit.G,
        eq=False,
        order=False,
        validator=attrs.validators.instance_of(WeightUnit),
    )

    @classmethod
    def of(cls, value: Number, unit: WeightUnit | str) -> Weight:
        """``Weight.of(Decimal("1.2"), "oz")``, ``Weight.of(35, WeightUnit.G)``,
        ``Weight.of(Fraction(1, 3), "lb")``; str must be a plain decimal ("1.2")."""
        resolved = _weight_unit(unit)
        return cls(_exact(value, "invalid_weight") * GRAMS_PER[resolved], resolved)

    @classmethod
    def zero(cls, unit: WeightUnit | str = WeightUnit.G) -> Weight:
        return cls(Fraction(0), _weight_unit(unit))

    @classmethod
    def parse(cls, text: str, default_unit: WeightUnit | str | None = None) -> Weight:
        """Read ``"1.2oz"``, ``"1.2 oz"``, ``"35 g"``, ``"0.5kg"``, ``"2 lb"``, ``"1 lb 4 oz"``
        (case-insensitive; also "ounces", "grams", "pounds", "kilograms"...). A bare number
        uses ``default_unit``. Only '.' is a decimal separator ("1,5 kg" is refused: "1,500 g"
        would be ambiguous). The display unit of a compound is its last unit.

        Errors (ValidationError): ``invalid_weight`` (empty, not a number, negative, exponent,
        missing unit, repeated unit), ``unknown_unit``, ``float_not_allowed``. Zero is allowed;
        see ``require_positive``.
        """
        if isinstance(text, str):
            simple = _SIMPLE_WEIGHT_RE.fullmatch(text)
            if simple is not None:
                simple_unit = _WEIGHT_ALIASES.get(simple[3].lower())
                if simple_unit is not None:
                    # exact integer arithmetic: digits / 10**places x grams per unit
                    whole, decimals = simple[1], simple[2] or ""
                    per = GRAMS_PER[simple_unit]
                    grams = Fraction(
                        int(whole + decimals) * per.numerator,
                        10 ** len(decimals) * per.denominator,
                    )
                    return cls(grams, simple_unit)
        if isinstance(text, float):
            raise ValidationError("weights are never floats", code="float_not_allowed")
        if not isinstance(text, str):
            raise ValidationError(f"not a weight: {text!r}", code="invalid_weight")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValidationError(
                f"weight longer than {MAX_TEXT_LENGTH} characters",
                code="invalid_weight",
                text=text[:MAX_TEXT_LENGTH] + "...",
            )
        lowered = text.strip().lower()
        if not lowered:
            raise ValidationError("empty weight", code="invalid_weight", text=text)
        if _EXPONENT_RE.search(lowered):
            raise ValidationError(f"not a weight: {text!r}", code="invalid_weight", text=text)

        parts: list[tuple[str, str | None]] = []
        position = 0
        while position < len(lowered):
            match = _WEIGHT_PART_RE.match(lowered, position)
            if match is None:
                raise ValidationError(f"not a weight: {text!r}", code="invalid_weight", text=text)
            parts.append((match["number"], match["unit"]))
            position = match.end()

        if len(parts) == 1 and parts[0][1] is None and default_unit is not None:
            parts = [(parts[0][0], _weight_unit(default_unit).value)]
        grams, seen = Fraction(0), set[WeightUnit]()
        for number, unit_text in parts:
            value = _exact(number, "invalid_weight")
            if unit_text is None:
                raise ValidationError(
                    f"weight {text!r} has no unit", code="invalid_weight", text=text
                )
            unit = _weight_unit(unit_text)
            if unit in seen:
                raise ValidationError(
                    f"unit repeated in {text!r}", code="invalid_weight", text=text
                )
            seen.add(unit)
            grams += value * GRAMS_PER[unit]
        return cls(grams, unit)

    @classmethod
    def from_json(cls, data: Any) -> Weight:
        """Inverse of ``json()``."""
        if not isinstance(data, dict) or not {"value", "unit"} <= data.keys():
            raise ValidationError('expected {"value": ..., "unit": ...}', code="invalid_weight")
        return cls.of(data["value"], data["unit"])

    def to(self, unit: WeightUnit | str) -> Fraction:
        """The exact quantity in ``unit``."""
        return self.grams / GRAMS_PER[_weight_unit(unit)]

    def to_decimal(
        self, unit: WeightUnit | str | None = None, places: int | None = None
    ) -> Decimal:
        """In ``unit`` (default: the entry unit). Exact when ``places`` is None (ValueError if the
        value has no finite decimal form); otherwise rounded half-up to ``places`` decimals."""
        return fraction_to_decimal(self.to(self.unit if unit is None else unit), places)

    def ceil(self, step: Weight) -> int:
        """How many ``step``s cover this weight, rounding up exactly: 1.2 oz in 1 oz steps is 2,
        28.349523125 g in 1 oz steps is 1, zero is 0."""
        if not isinstance(step, Weight):
            raise TypeError("step must be a Weight")
        if step.grams <= 0:
            raise ValidationError("step must be a positive weight", code="invalid_weight")
        return math.ceil(self.grams / step.grams)

    def require_positive(self) -> Weight:
        if self.grams <= 0:
            raise ValidationError("weight must be more than zero", code="invalid_weight")
        return self

    def json(self) -> dict[str, str]:
        """``{"value": "1.2", "unit": "oz"}`` in the entry unit; falls back to grams when the
        value has no exact decimal form in that unit (rounded to the nanogram if even grams
        do not terminate, which only a Fraction passed to ``of`` can cause)."""
        for unit in (self.unit, WeightUnit.G):
            if _terminating_digits(self.to(unit)) is not None:
                return {"value": str(self.to_decimal(unit)), "unit": unit.value}
        return {"value": str(self.to_decimal(WeightUnit.G, 9)), "unit": WeightUnit.G.value}

    def __str__(self) -> str:
        data = self.json()
        return f"{data['value']} {data['unit']}"

    def __add__(self, other: Weight) -> Weight:
        if not isinstance(other, Weight):
            return NotImplemented
        return Weight(self.grams + other.grams, self.unit)

    def __sub__(self, other: Weight) -> Weight:
        """Refuses (``invalid_weight``) a result below zero."""
        if not isinstance(other, Weight):
            return NotImplemented
        return Weight(self.grams - other.grams, self.unit)

    def __mul__(self, factor: int) -> Weight:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Weight(self.grams * factor, self.unit)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return self.grams != 0


# -- dimensions ---------------------------------------------------------------------------------


def _validate_length(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, Fraction) or value <= 0:
        raise ValidationError(
            f"{attribute.name} must be a positive length", code="invalid_dimensions"
        )


@attrs.frozen
class Dimensions:
    """A parcel's length, width and height as exact Fractions of millimetres, plus the unit
    they were entered in (display only; not part of equality)."""

    length: Fraction = attrs.field(validator=_validate_length)
    width: Fraction = attrs.field(validator=_validate_length)
    height: Fraction = attrs.field(validator=_validate_length)
    unit: LengthUnit = attrs.field(
        default=LengthUnit.MM, eq=False, validator=attrs.validators.instance_of(LengthUnit)
    )

    @classmethod
    def of(
        cls, length: Number, width: Number, height: Number, unit: LengthUnit | str
    ) -> Dimensions:
        resolved = _length_unit(unit)
        factor = MM_PER[resolved]
        length_mm, width_mm, height_mm = (
            _exact(value, "invalid_dimensions") * factor for value in (length, width, height)
        )
        return cls(length_mm, width_mm, height_mm, resolved)

    @classmethod
    def parse(cls, text: str, default_unit: LengthUnit | str | None = None) -> Dimensions:
        """Read ``"11.5x6.125x0.25 in"``, ``"290 x 150 x 5 mm"``, ``"30*20*10cm"`` (x, X, * or
        the multiplication sign between values; units in, inch(es), ", cm, mm,
        case-insensitive). Errors:
        ``invalid_dimensions`` (bad form, not a number, zero or negative, missing unit),
        ``unknown_unit``, ``float_not_allowed``."""
        if isinstance(text, float):
            raise ValidationError("lengths are never floats", code="float_not_allowed")
        if not isinstance(text, str):
            raise ValidationError(f"not dimensions: {text!r}", code="invalid_dimensions")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValidationError(
                f"dimensions longer than {MAX_TEXT_LENGTH} characters",
                code="invalid_dimensions",
                text=text[:MAX_TEXT_LENGTH] + "...",
            )
        match = _DIMENSIONS_RE.fullmatch(text.lower())
        if match is None:
            raise ValidationError(
                f"expected L x W x H and a unit, got {text!r}", code="invalid_dimensions", text=text
            )
        unit = match["unit"] or default_unit
        if unit is None:
            raise ValidationError(
                f"dimensions {text!r} have no unit", code="invalid_dimensions", text=text
            )
        return cls.of(match["l"], match["w"], match["h"], unit)

    def to(self, unit: LengthUnit | str) -> tuple[Fraction, Fraction, Fraction]:
        """(length, width, height) exactly in ``unit``."""
        factor = MM_PER[_length_unit(unit)]
        return (self.length / factor, self.width / factor, self.height / factor)

    @property
    def inches(self) -> tuple[Fraction, Fraction, Fraction]:
        return self.to(LengthUnit.IN)

    @property
    def millimetres(self) -> tuple[Fraction, Fraction, Fraction]:
        return (self.length, self.width, self.height)

    def sorted(self) -> Dimensions:
        """The same box with the longest side as length and the shortest as height."""
        longest, middle, shortest = sorted(self.millimetres, reverse=True)
        return Dimensions(longest, middle, shortest, self.unit)
